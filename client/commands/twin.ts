// `meshmove twin serve` runs the simulated cluster (the twin) until interrupted;
// `meshmove twin generate` writes a large scenario for scale tests; `meshmove twin snapshot` exports
// a cluster's shape as a scenario (client/snapshot).
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Twin, TwinOverrides } from '../../twin/index.js';
import { CliError, ExitCode, emit, untilInterrupted } from '../cli-kit.js';
import { runSnapshot, type SnapshotCliOptions } from '../snapshot/command.js';
import { addKubeOptions } from './kube-options.js';
import { WORKER_USER } from '../../worker/service-account.js';

// The twin is the simulator: its modules load when a twin or demo command runs, so `meshmove worker`
// (what a cluster runs) never loads them (test/unit/import-graph.test.ts).
const twinModule = () => import('../../twin/index.js');
const scenarioModule = () => import('../../twin/scenario.js');

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port number (0-65535; 0 picks a free one)');
  return n;
}

function countArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

/** What `twin serve` prints: where everything listens. */
export function twinSummary(t: Twin): Record<string, unknown> {
  return {
    scenario: t.scenario.metadata.name,
    apiUrl: t.apiUrl,
    kubeconfig: t.kubeconfigPath,
    context: t.context,
    dns: `${t.dns.host}:${t.dns.port}`,
    gateways: t.gateways,
    state: t.statePath ? { path: t.statePath, restored: t.restored } : null,
    control: t.controlUrls,
    dnsWebhook: {
      url: `${t.apiUrl}/_twin/dns`,
      secretEnv: t.scenario.dns.webhookSecretEnv,
      usingDemoSecret: process.env[t.scenario.dns.webhookSecretEnv] ? false : true,
    },
  };
}

function human(t: Twin): string {
  const lines = [
    `twin "${t.scenario.metadata.name}" is running (Ctrl-C to stop)`,
    `  API server:  ${t.apiUrl}`,
    `  kubeconfig:  ${t.kubeconfigPath}  (context ${t.context})`,
    ...(t.statePath
      ? [`  state:       ${t.statePath}  (${t.restored ? 'restored from it' : 'new'}; saved while running and on exit)`]
      : []),
    `               kubectl --kubeconfig ${t.kubeconfigPath} get ns,pods -A`,
    `  DNS:         ${t.dns.host}:${t.dns.port} (UDP and TCP)`,
    ...Object.entries(t.gateways).map(([k, g]) => `  gateway:     ${k} → ${g.url}`),
    `  control:     ${t.controlUrls.istio}  ${t.controlUrls.proxies}  ${t.controlUrls.istioFaults}`,
    `               ${t.controlUrls.requests}  ${t.controlUrls.faults}  ${t.controlUrls.dns}`,
    `  DNS webhook: POST ${t.apiUrl}/_twin/dns signed with $${t.scenario.dns.webhookSecretEnv}${process.env[t.scenario.dns.webhookSecretEnv] ? '' : ' (unset: using the demo secret "meshmove-demo-dns-secret")'}`,
  ];
  return lines.join('\n');
}

interface ServeOptions {
  scenario: string;
  port?: number;
  dnsPort?: number;
  randomPorts?: boolean;
  kubeconfigOut?: string;
  state?: string;
  tls?: boolean;
  rbac?: string;
  as: string;
  rbacKubeconfigOut?: string;
  json?: boolean;
}

async function readRbacFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`--rbac ${path}: ${(err as Error).message}`, ExitCode.badInput);
  }
}

/** startTwin, with a state file that cannot be restored reported as bad input (exit 2). */
export async function startTwinOrExplain(scenario: string, overrides: TwinOverrides): Promise<Twin> {
  const { startTwin, TwinStateError } = await twinModule();
  try {
    return await startTwin(scenario, overrides);
  } catch (err) {
    if (err instanceof TwinStateError) throw new CliError(err.message, ExitCode.badInput);
    throw err;
  }
}

export function registerTwinCommands(program: Command): void {
  const twin = program.command('twin').description('the simulated cluster: two Istio control planes served over the real Kubernetes API');

  twin
    .command('serve')
    .description('run the twin described by a scenario file until interrupted')
    .requiredOption('--scenario <file>', 'scenario YAML (e.g. examples/twin/field-report.yaml)')
    .option('--port <n>', 'API server port (overrides the scenario; 0 = any free port)', portArg)
    .option('--dns-port <n>', 'DNS port (overrides the scenario; 0 = any free port)', portArg)
    .option('--random-ports', 'every port (API, DNS, gateways) picked free: several twins side by side')
    .option('--kubeconfig-out <path>', 'write the kubeconfig here (default: a temp file removed on exit)')
    .option('--state <file>', 'keep the cluster in this file: restored from it when it exists, saved while running and on exit')
    .option('--tls', 'serve the API over HTTPS with a generated CA (written into the kubeconfig)')
    .option(
      '--rbac <file>',
      "also write a kubeconfig that acts as --as, authorized by this RBAC file (e.g. deploy/rbac.yaml): rehearse with the worker's real permissions (implies --tls)",
    )
    .option('--as <user>', 'the user --rbac authorizes (system:serviceaccount:NS:NAME for a service account)', WORKER_USER)
    .option('--rbac-kubeconfig-out <path>', 'where to write that kubeconfig (default: next to the admin one, with .rbac appended)')
    .option('--json', 'print where it listens as JSON')
    .action(async (opts: ServeOptions) => {
      const { loadScenario, ScenarioError } = await scenarioModule();
      try {
        await loadScenario(opts.scenario);
      } catch (err) {
        if (err instanceof ScenarioError) throw new CliError(err.message, ExitCode.badInput, err.problems);
        throw new CliError(`cannot read scenario ${opts.scenario}: ${(err as Error).message}`, ExitCode.badInput);
      }
      const rbacYaml = opts.rbac ? await readRbacFile(opts.rbac) : undefined;
      const t = await startTwinOrExplain(opts.scenario, {
        ...(opts.state ? { statePath: resolve(opts.state) } : {}),
        ...(opts.randomPorts ? { randomPorts: true } : {}),
        ...(opts.port !== undefined ? { apiPort: opts.port } : {}),
        ...(opts.dnsPort !== undefined ? { dnsPort: opts.dnsPort } : {}),
        ...(opts.kubeconfigOut ? { kubeconfigPath: resolve(opts.kubeconfigOut) } : {}),
        // kubectl sends a kubeconfig's bearer token only over HTTPS: without it RBAC could not tell who asks.
        ...(opts.tls || rbacYaml !== undefined ? { tls: true } : {}),
      });
      let restricted: { kubeconfig: string; user: string } | undefined;
      if (rbacYaml !== undefined) {
        const path = resolve(opts.rbacKubeconfigOut ?? `${t.kubeconfigPath}.rbac`);
        try {
          await (await twinModule()).writeKubeconfigAs(t, rbacYaml, path, { user: opts.as });
        } catch (err) {
          await t.close();
          throw new CliError(`--rbac ${opts.rbac}: ${(err as Error).message} (check --as, or the file's bindings)`, ExitCode.badInput);
        }
        restricted = { kubeconfig: path, user: opts.as };
      }
      emit(
        opts,
        { ...twinSummary(t), ...(restricted ? { rbac: restricted } : {}) },
        () => human(t) + (restricted ? `\n  as ${restricted.user} (RBAC of ${opts.rbac}): kubeconfig ${restricted.kubeconfig}` : ''),
      );
      await untilInterrupted(() => t.close());
    });

  twin
    .command('generate')
    .description("write a large scenario (the field report's control planes and N namespaces x M deployments)")
    .requiredOption('--namespaces <n>', 'application namespaces', countArg)
    .requiredOption('--deployments <m>', 'Deployments per namespace', countArg)
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (opts: { namespaces: number; deployments: number; output?: string }) => {
      const { generateScenarioYaml } = await import('../../scripts/gen-twin-scenario.js');
      const text = generateScenarioYaml({ namespaces: opts.namespaces, deployments: opts.deployments });
      if (opts.output) await writeFile(opts.output, text);
      else process.stdout.write(text);
    });

  addKubeOptions(
    twin
      .command('snapshot')
      .description(
        "export a cluster's shape (control planes, gateways, namespaces, workloads, Istio config) as a twin scenario; read-only, never Secrets or ConfigMap data",
      )
      .option('-o, --output <file>', 'write the scenario here (default: stdout)')
      .option(
        '--plan <file>',
        'a plan: its DNS records (resolved through its resolvers) and the twin ports its DNS webhook and resolver expect',
      )
      .option(
        '--anonymize',
        "replace namespace, workload, gateway, config and host names by pseudonyms (consistently); Istio's own names stay",
      )
      .option('--json', 'print a summary (counts) as JSON; needs -o'),
    'plan-option',
  ).action((_o: unknown, cmd: Command) => runSnapshot(cmd.optsWithGlobals<SnapshotCliOptions>()));
}
