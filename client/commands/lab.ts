// `meshmove lab up`: a real Kubernetes control plane and the field report's two real istiod
// revisions on loopback, until interrupted. For rehearsing against real components where no cluster
// is at hand; the first run builds them from the Go module proxy (scripts/lab-tools.sh).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type * as LabModule from '../../lab/index.js';
import { CliError, ExitCode, emit, untilInterrupted } from '../cli-kit.js';

interface UpOptions {
  dir?: string;
  rbac?: string;
  namespaces: boolean;
  json?: boolean;
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('real control planes on this machine: kube-apiserver, etcd, controllers, kwok and two real istiod revisions');
  lab
    .command('up')
    .description("start the lab with the field report's layout and keep it running until Ctrl-C")
    .option('--dir <dir>', 'keep logs, certificates and etcd here (default: a temporary directory, removed on exit)')
    .option('--rbac <file>', 'also write a kubeconfig for the worker ServiceAccount bound by this RBAC file (e.g. deploy/rbac.yaml)')
    .option('--no-namespaces', "do not create the field report's application namespaces")
    .option('--json', 'print where everything is as JSON')
    .action(async (opts: UpOptions) => {
      const rbacYaml = opts.rbac
        ? await readFile(opts.rbac, 'utf8').catch((err: Error) => {
            throw new CliError(`--rbac ${opts.rbac}: ${err.message}`, ExitCode.badInput);
          })
        : undefined;
      // The lab is a simulator: loaded when this command runs, never by `meshmove worker`.
      const { applyNamespaces, FIELD_REPORT_NAMESPACES, KUBERNETES_VERSION, startLab, writeWorkerKubeconfig }: typeof LabModule =
        await import('../../lab/index.js');
      const l = await startLab({
        ...(opts.dir ? { dir: path.resolve(opts.dir) } : {}),
        progress: (line) => process.stderr.write(`${line}\n`),
      });
      try {
        if (opts.namespaces) await applyNamespaces(l.kube, FIELD_REPORT_NAMESPACES);
        const worker = rbacYaml ? path.join(l.dir, 'worker.kubeconfig') : undefined;
        const workerUser = worker && rbacYaml ? (await writeWorkerKubeconfig(l, rbacYaml, worker)).user : undefined;
        const summary = {
          kubernetes: KUBERNETES_VERSION,
          server: l.kube.server,
          kubeconfig: l.kube.adminKubeconfig,
          context: 'lab',
          ...(worker ? { worker: { kubeconfig: worker, user: workerUser } } : {}),
          istiod: l.istio.map((r) => ({
            revision: r.revision,
            namespace: r.namespace,
            pid: r.process.pid,
            http: `http://127.0.0.1:${r.ports.http}`,
          })),
          logs: l.dir,
        };
        emit(opts, summary, () =>
          [
            `lab is running (Ctrl-C to stop): Kubernetes ${KUBERNETES_VERSION} at ${l.kube.server}`,
            `  kubeconfig:  ${l.kube.adminKubeconfig}  (context lab, admin)`,
            ...(worker ? [`  worker:      ${worker}  (${workerUser}, RBAC of ${opts.rbac})`] : []),
            ...l.istio.map((r) => `  istiod:      ${r.revision} in ${r.namespace} (pid ${r.process.pid})`),
            `  logs:        ${l.dir}`,
            `               kubectl --kubeconfig ${l.kube.adminKubeconfig} get ns,pods -A`,
          ].join('\n'),
        );
      } catch (err) {
        await l.stop();
        throw err;
      }
      await untilInterrupted(() => l.stop());
    });
}
