// `meshmove twin serve` as a process: prints where it listens (--json), kubectl works against the
// kubeconfig it wrote, the --rbac kubeconfig gets deploy/rbac.yaml's permissions and the 403s of
// the rest, and SIGTERM closes it cleanly (exit 0).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = `
import { Command } from 'commander';
import { registerTwinCommands } from './client/commands/twin.ts';
const p = new Command('meshmove');
registerTwinCommands(p);
await p.parseAsync(process.argv.slice(0, 1).concat(['meshmove', ...process.argv.slice(1)]));
`;

it('twin serve prints its addresses, serves kubectl (as admin and as the worker under --rbac), and stops on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twin-serve-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      entry,
      'twin',
      'serve',
      '--scenario',
      'examples/twin/field-report.yaml',
      '--random-ports',
      '--json',
      '--kubeconfig-out',
      kubeconfig,
      '--rbac',
      'deploy/rbac.yaml',
    ],
    {
      cwd: root,
      env: { ...process.env, MESHMOVE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    let out = '';
    const summary = await new Promise<{
      apiUrl: string;
      kubeconfig: string;
      gateways: Record<string, { url: string }>;
      rbac: { kubeconfig: string; user: string };
    }>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        try {
          resolve(JSON.parse(out));
        } catch {
          /* not complete yet */
        }
      });
      child.once('exit', (code) => reject(new Error(`twin serve exited early with ${code}`)));
    });
    expect(summary.kubeconfig).toBe(kubeconfig);
    expect(Object.keys(summary.gateways).sort()).toEqual(['istio-1-16-5/istio-ingressgateway', 'istio-system/istio-ingressgateway']);
    const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, 'get', 'ns,pods', '-A']);
    expect(stdout).toMatch(/namespace\/istio-1-16-5/);
    expect(stdout).toMatch(/orders\s+pod\/orders-\S+\s+2\/2\s+Running/);

    // The worker's identity: reads everywhere, but no deleting a namespace or an app's Deployment.
    expect(summary.rbac).toEqual({ kubeconfig: `${kubeconfig}.rbac`, user: 'system:serviceaccount:meshmove:meshmove-worker' });
    const asWorker = (...args: string[]) => promisify(execFile)('kubectl', ['--kubeconfig', summary.rbac.kubeconfig, ...args]);
    expect((await asWorker('get', 'pods', '-n', 'orders')).stdout).toMatch(/orders-\S+\s+2\/2\s+Running/);
    // A request for a namespace object is in that namespace, as kube-apiserver says (test/lab/apiserver-vs-twin.test.ts).
    await expect(asWorker('delete', 'namespace', 'orders')).rejects.toThrow(
      /Forbidden.*User "system:serviceaccount:meshmove:meshmove-worker" cannot delete resource "namespaces" in API group "" in the namespace "orders"/,
    );
    await expect(asWorker('delete', 'deployment', 'orders', '-n', 'orders')).rejects.toThrow(
      /Forbidden.*cannot delete resource "deployments" in API group "apps" in the namespace "orders"/,
    );
    // …and the admin kubeconfig still may.
    expect(
      (await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, 'get', 'deployment', 'orders', '-n', 'orders'])).stdout,
    ).toMatch(/orders/);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
