// The end-to-end stack, as a user meets it: the simulated cluster (twin) over HTTP, a plan file that
// matches it, a worker with the REAL activities (in this process, or in its own process for crash
// tests), a real Temporal dev server, and the meshmove CLI as a separate process.
// Everything listens on random ports: e2e files may run in parallel.
import { spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { request } from 'node:http';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { vi } from 'vitest';
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../../activities/index.js';
import { createKubeAccess } from '../../../activities/kube/index.js';
import type { Tuning } from '../../../activities/shared/deps.js';
import { runStatus, whatWaits, type Attention } from '../../../client/runs.js';
import { loadScenario, type Scenario } from '../../../twin/scenario.js';
import { startTwin, writeKubeconfigAs, type Twin, type TwinOverrides } from '../../../twin/index.js';
import { TASK_QUEUE, type PendingDecision, type PendingGate, type RunStatus } from '../../../workflows/messages.js';
import { DEMO_DNS_SECRET } from '../../../twin/dns/webhook.js';
import { meshmove, type CliResult } from '../../support/cli.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer, workflowBundle } from '../../support/temporal.js';
import { makeKey, type TestKey } from '../../support/ssh-keys.js';

const repo = (rel: string) => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
export const FIELD_REPORT_SCENARIO = repo('examples/twin/field-report.yaml');
export const RBAC_FILE = repo('deploy/rbac.yaml');
export const FIELD_REPORT_PLAN = repo('examples/plans/field-report.yaml');

export const SOURCE_REV = 'default';
export const TARGET_REV = 'istio-1-16-5';
export const NAMESPACES = ['inventory', 'payments', 'orders', 'frontend'] as const;
export const HOSTS = ['shop.y7test.com', 'api.y7test.com'] as const;
/** Plan approvers: alice starts, bob approves (four-eyes). */
export const STARTER = 'alice';
export const APPROVER = 'bob';

/** Each person's SSH key, made by ssh-keygen for this test process: alice ed25519, bob ECDSA P-256. */
const KEYS = new Map<string, TestKey>();
export function keyOf(who: string): TestKey {
  if (!KEYS.has(who)) KEYS.set(who, makeKey(who, who === APPROVER ? 'ecdsa' : 'ed25519'));
  return KEYS.get(who)!;
}

/**
 * Worker timings that are not in the plan (poll pace, how long the CA must stay stable...), short
 * for the twin. The activities themselves are the real ones.
 */
export const E2E_TUNING: Partial<Tuning> = {
  pollMs: 200,
  caReadyTimeoutMs: 30_000,
  caStableMs: 500,
  probeTimeoutMs: 30_000,
  httpTimeoutMs: 5_000,
  gatewayAddressTimeoutMs: 30_000,
  proxySettleMs: 10_000,
  dnsVerifyTimeoutMs: 30_000,
};

// ---------------------------------------------------------------------------------------------
// The twin

export interface E2eTwinOptions {
  scenario?: string;
  /** Edit the loaded scenario before it starts. */
  edit?: (s: Scenario) => void;
  overrides?: TwinOverrides;
  /**
   * The kubeconfig context name of this twin (default meshmove-twin). Give each twin of a file its
   * own, and one worker serves them all: the activities pick the cluster by the plan's context.
   */
  context?: string;
  /** deploy/rbac.yaml adjusted to another plan (the names of the source's objects decommission deletes). */
  rbac?: (yaml: string) => string;
}

/** The field-report cluster on random ports, short timings, DNS records with a 1 s TTL. */
export async function startE2eTwin(opts: E2eTwinOptions = {}): Promise<Twin> {
  const scenario = await loadScenario(opts.scenario ?? FIELD_REPORT_SCENARIO);
  for (const r of scenario.dns.records) r.ttl = 1;
  opts.edit?.(scenario);
  const twin = await startTwin(scenario, {
    randomPorts: true,
    timings: { podStartDelayMs: 10, rolloutPodDelayMs: 20, caRewriteDelayMs: 200 },
    ...opts.overrides,
  });
  // Everything meshmove does in these tests (worker, preflight, inspect) runs as the worker's
  // service account with exactly deploy/rbac.yaml's permissions: a missing one is a 403 here too.
  const context = opts.context ?? twin.context;
  const kubeconfigPath = join(await tempDir('kubeconfig'), 'kubeconfig');
  const rbac = await readFile(RBAC_FILE, 'utf8');
  await writeKubeconfigAs(twin, opts.rbac ? opts.rbac(rbac) : rbac, kubeconfigPath, { context });
  return { ...twin, context, kubeconfigPath, kubeconfigYaml: await readFile(kubeconfigPath, 'utf8') };
}

/** Which twin a plan's cluster.context names: lets one worker serve every twin of a test file. */
export class Twins {
  private readonly byContext = new Map<string, Twin>();
  add(twin: Twin): Twin {
    this.byContext.set(twin.context, twin);
    return twin;
  }
  kubeconfigFor(context: string | undefined): string {
    const t = this.byContext.get(context ?? '');
    if (!t) throw new Error(`no twin with context "${context}" (known: ${[...this.byContext.keys()].join(', ')})`);
    return t.kubeconfigPath;
  }
  async closeAll(): Promise<void> {
    for (const t of this.byContext.values()) await t.close().catch(() => undefined);
    this.byContext.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// The plan

export type PlanDoc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * examples/plans/field-report.yaml adjusted to this twin or lab (DNS webhook and resolver on their random
 * ports, backups in a temp dir) with short waits; `edit` changes the raw document further.
 * Returns the path of the plan file written.
 */
/** Where a plan's cluster and DNS provider are: a twin's, or the lab's (test/lab/support/stack.ts). */
export interface PlanTarget {
  context: string;
  dnsWebhookUrl: string;
  /** host:port */
  dnsResolver: string;
}

export async function writePlan(
  target: Twin | PlanTarget,
  dir: string,
  edit?: (p: PlanDoc) => void,
  fileName = 'plan.yaml',
): Promise<string> {
  const t: PlanTarget =
    'apiUrl' in target
      ? { context: target.context, dnsWebhookUrl: `${target.apiUrl}/_twin/dns`, dnsResolver: `${target.dns.host}:${target.dns.port}` }
      : target;
  const doc = parse(await readFile(FIELD_REPORT_PLAN, 'utf8')) as PlanDoc;
  doc.cluster = { context: t.context };
  doc.dns.provider.url = t.dnsWebhookUrl;
  doc.dns.resolvers = [t.dnsResolver];
  doc.dns.ttl = '1s';
  doc.dns.stabilityWindow = '1s';
  doc.verification.metricsWindow = '1s';
  doc.restart.timeout = '2m';
  doc.gates.expiresAfter = '24h';
  doc.backup = { location: join(dir, 'backups') };
  // The example's allowed_signers holds example keys: these people sign with their own.
  doc.approvers = [STARTER, APPROVER].map((name) => ({ name, keys: [keyOf(name).publicKey] }));
  edit?.(doc);
  const file = join(dir, fileName);
  await writeFile(file, stringify(doc));
  return file;
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `meshmove-e2e-${prefix}-`));
}

// ---------------------------------------------------------------------------------------------
// Workers with the real activities

/**
 * The real activities, as `meshmove worker` builds them: the cluster through the kubeconfig (here a
 * twin's), the DNS webhook secret from the worker's environment (here the twin's).
 */
export function realActivities(
  kubeconfigFor: (context: string | undefined) => string,
  dnsSecret: string,
  tuning: Partial<Tuning> = E2E_TUNING,
) {
  return createActivities({
    kube: (context) => createKubeAccess({ kubeconfig: kubeconfigFor(context), ...(context ? { context } : {}) }),
    env: { MESHMOVE_DNS_SECRET: dnsSecret },
    tuning,
  });
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** A worker in this process: the bundled workflows and the real activities against the twin(s). */
export async function startInProcessWorker(connection: NativeConnection, twins: Twin | Twins): Promise<RunningWorker> {
  const kubeconfigFor = twins instanceof Twins ? (c: string | undefined) => twins.kubeconfigFor(c) : () => twins.kubeconfigPath;
  const worker = await Worker.create({
    connection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    // Every twin of the suite has the same DNS secret (the scenario's variable, else the demo secret).
    activities: realActivities(kubeconfigFor, dnsSecret()),
  });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
    },
  };
}

/** The DNS webhook secret every twin started here checks (field-report scenario: MESHMOVE_DNS_SECRET, else the demo secret). */
export function dnsSecret(): string {
  return process.env.MESHMOVE_DNS_SECRET || DEMO_DNS_SECRET;
}

/** A worker in its own process (test/e2e/support/worker-process.ts), ready when it says so. */
export function spawnWorkerProcess(address: string, twin: Twin): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./worker-process.ts', import.meta.url))], {
    env: {
      ...process.env,
      MESHMOVE_E2E_ADDRESS: address,
      MESHMOVE_E2E_KUBECONFIG: twin.kubeconfigPath,
      MESHMOVE_DNS_SECRET: twin.dnsWebhookSecret,
      MESHMOVE_E2E_TUNING: JSON.stringify(E2E_TUNING),
      MESHMOVE_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('worker ready')) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`worker process exited (${code ?? signal}) before it was ready`)));
  });
}

export async function killProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

// ---------------------------------------------------------------------------------------------
// The CLI

/** What `meshmove status ID --json` prints (client/commands/run.ts statusJson). */
export interface StatusJson extends Omit<RunStatus, 'pendingGate' | 'pendingDecision'> {
  pendingGate: (PendingGate & { workflowId: string }) | null;
  pendingDecision: (PendingDecision & { namespace?: string }) | null;
  pendingGates: PendingGate[];
  pendingDecisions: (PendingDecision & { namespace?: string })[];
}

export class Cli {
  constructor(private readonly address: () => string) {}

  run(args: string[], who: string = APPROVER, timeoutMs = 90_000): Promise<CliResult> {
    return meshmove(args, { TEMPORAL_ADDRESS: this.address(), MESHMOVE_USER: who, MESHMOVE_SIGNING_KEY: keyOf(who).file }, timeoutMs);
  }

  /** `meshmove <args>` that must succeed (exit 0); fails the test with its output otherwise. */
  async ok(args: string[], who: string = APPROVER): Promise<CliResult> {
    const r = await this.run(args, who);
    if (r.code !== 0) throw new Error(`meshmove ${args.join(' ')} (as ${who}) exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }

  async start(plan: string, id: string, who: string = STARTER): Promise<void> {
    const r = await this.ok(['start', plan, '--id', id, '--json'], who);
    const out = JSON.parse(r.stdout) as { workflowId: string };
    if (out.workflowId !== id) throw new Error(`start printed ${r.stdout}`);
  }

  async status(id: string): Promise<StatusJson> {
    const r = await this.ok(['status', id, '--json']);
    return JSON.parse(r.stdout) as StatusJson;
  }

  approve(id: string, gate: string, who: string = APPROVER): Promise<CliResult> {
    return this.ok(['approve', id, gate, '--comment', `e2e approval of ${gate}`], who);
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting on a run (through the Temporal client: cheaper than a CLI process per poll)

export interface Seen {
  status: RunStatus;
  attention: Attention;
}

/**
 * The run once `predicate` holds, asked every 300 ms (vi.waitFor: a query that fails, before the
 * run starts or while a worker restarts, is asked again); a timeout names `what` and the last seen.
 */
export function waitForRun(client: Client, id: string, predicate: (s: Seen) => boolean, what: string, timeoutMs = 240_000): Promise<Seen> {
  return vi.waitFor(
    async () => {
      let seen: Seen;
      try {
        const status = await runStatus(client, id);
        seen = { status, attention: await whatWaits(client, status) };
      } catch (err) {
        throw new Error(`timed out waiting for ${what} in ${id}; last: ${String(err)}`, { cause: err });
      }
      if (!predicate(seen)) throw new Error(`timed out waiting for ${what} in ${id}; last: ${describeSeen(seen)}`);
      return seen;
    },
    { timeout: timeoutMs, interval: 300 },
  );
}

export function describeSeen(s: Seen | undefined): string | undefined {
  if (!s) return undefined;
  return JSON.stringify({
    phase: s.status.phase,
    outcome: s.status.outcome,
    currentStep: s.status.currentStep,
    namespaces: s.status.namespaces,
    gates: s.attention.gates.map((g) => g.id),
    decisions: s.attention.decisions,
    steps: s.status.steps
      .filter((x) => x.state === 'failed' || x.lastError)
      .map((x) => ({ id: x.id, state: x.state, lastError: x.lastError })),
    children: [...s.attention.children].map(([ns, c]) => ({
      ns,
      phase: c.phase,
      currentStep: c.currentStep,
      failed: c.steps.filter((x) => x.lastError).map((x) => `${x.id}: ${x.lastError}`),
    })),
  }).slice(0, 4000);
}

export const TERMINAL = ['completed', 'rolled-back', 'aborted'];

/** Wait for a gate (of the run or one of its namespaces) to open, then approve it through the CLI. */
export async function approveWhenOpen(cli: Cli, client: Client, id: string, gate: string, who: string = APPROVER): Promise<void> {
  await waitForRun(client, id, (s) => s.attention.gates.some((g) => g.id === gate) || TERMINAL.includes(s.status.phase), `gate ${gate}`);
  await cli.approve(id, gate, who);
}

/** Approve start, dns-cutover and decommission as they open, and wait for the end. */
export async function approveAllAndFinish(
  cli: Cli,
  client: Client,
  id: string,
  gates = ['start', 'dns-cutover', 'decommission'],
): Promise<Seen> {
  for (const gate of gates) {
    const seen = await waitForRun(
      client,
      id,
      (s) => s.attention.gates.some((g) => g.id === gate) || s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      `gate ${gate}`,
    );
    if (!seen.attention.gates.some((g) => g.id === gate)) throw new Error(`expected gate ${gate}; saw ${describeSeen(seen)}`);
    await cli.approve(id, gate);
  }
  return waitForEnd(client, id, 'the end of the run');
}

/** The run once it ended, or paused for a decision. */
/** The run ended, or a step waits for a decision (a failure the test then reports). */
export function waitForEnd(client: Client, id: string, what: string, timeoutMs?: number): Promise<Seen> {
  return waitForRun(client, id, (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0, what, timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// Looking at the twin from outside, the way an operator would (HTTP, DNS, the gateways)

interface KubeList<T> {
  items: T[];
}
export interface Obj {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
}

export async function kubeGet<T = Obj>(twin: Twin, path: string): Promise<T | undefined> {
  const res = await fetch(`${twin.apiUrl}${path}`, { headers: { Authorization: 'Bearer meshmove-twin', Accept: 'application/json' } });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function kubeList(twin: Twin, path: string): Promise<Obj[]> {
  return (await kubeGet<KubeList<Obj>>(twin, path))?.items ?? [];
}

export async function namespaceLabels(twin: Twin, ns: string): Promise<Record<string, string>> {
  const o = await kubeGet(twin, `/api/v1/namespaces/${ns}`);
  if (!o) throw new Error(`namespace ${ns} is gone`);
  return o.metadata.labels ?? {};
}

/** The sidecar revision of each pod of a namespace (from `sidecar.istio.io/status`), by pod name; null = no sidecar. */
export async function podRevisions(twin: Twin, ns: string): Promise<Record<string, string | null>> {
  const pods = await kubeList(twin, `/api/v1/namespaces/${ns}/pods`);
  return Object.fromEntries(
    pods.map((p) => {
      const raw = p.metadata.annotations?.['sidecar.istio.io/status'];
      return [p.metadata.name, raw ? ((JSON.parse(raw) as { revision?: string }).revision ?? null) : null];
    }),
  );
}

export interface TwinProxy {
  pod: string;
  revision: string;
  connected: boolean;
  reason?: string;
  stale: boolean;
}

export async function twinProxies(twin: Twin): Promise<TwinProxy[]> {
  const res = await fetch(twin.controlUrls.proxies!);
  return (await res.json()) as TwinProxy[];
}

export interface TwinCounters {
  byVerbResource: Record<string, number>;
  byObject: Record<string, number>;
  applied: Record<string, number>;
  faulted: Record<string, number>;
  faultedTotal: number;
  total: number;
}

export async function twinCounters(twin: Twin): Promise<TwinCounters> {
  const res = await fetch(twin.controlUrls.requests!);
  return (await res.json()) as TwinCounters;
}

/** A request to a gateway with a Host header (Node's fetch cannot set Host): status and body. */
export function gatewayRequest(gw: { address: string; port: number }, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: gw.address, port: gw.port, path, method: 'GET', headers: { Host: host }, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${gw.address}:${gw.port} for ${host}${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolve a name through the twin's DNS server (UDP), as the plan's resolvers do. */
export async function resolveA(twin: Twin, name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 2_000, tries: 2 });
  r.setServers([`${twin.dns.host}:${twin.dns.port}`]);
  return r.resolve4(name);
}

export function sourceGateway(twin: Twin) {
  return twin.gateways[`istio-system/istio-ingressgateway`]!;
}
export function targetGateway(twin: Twin) {
  return twin.gateways[`${TARGET_REV}/istio-ingressgateway`]!;
}

/** The labels the plan gives a migrated namespace (from the field-report scenario's istio-injection=enabled). */
export function migratedLabels(ns: string): Record<string, string> {
  return { 'kubernetes.io/metadata.name': ns, 'istio.io/rev': TARGET_REV, usergroup: TARGET_REV };
}

export function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

/** A namespace's labels as the run's backup recorded them (`<location>/objects/core.Namespace/_cluster/NS.json`). */
export async function backedUpLabels(location: string, ns: string): Promise<Record<string, string>> {
  const manifest = JSON.parse(await readFile(join(location, 'manifest.json'), 'utf8')) as {
    objects: { kind: string; name: string; file: string }[];
  };
  const entry = manifest.objects.find((o) => o.kind === 'Namespace' && o.name === ns);
  if (!entry) throw new Error(`namespace ${ns} is not in the backup at ${location}`);
  const obj = JSON.parse(await readFile(join(location, entry.file), 'utf8')) as Obj;
  return obj.metadata.labels ?? {};
}

/** Replace the twin's API faults over HTTP, as an operator would (`PUT /_twin/faults`). */
export async function putApiFaults(twin: Twin, faults: unknown): Promise<void> {
  const res = await fetch(twin.controlUrls.faults!, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!res.ok) throw new Error(`PUT /_twin/faults: ${res.status} ${await res.text()}`);
}

/** What most e2e files need: one Temporal dev server, one twin, one in-process worker, a matching plan. */
export interface SingleTwinStack {
  env: TestWorkflowEnvironment;
  twin: Twin;
  worker: RunningWorker;
  cli: Cli;
  dir: string;
  planFile: string;
}

export async function startSingleTwinStack(label: string): Promise<SingleTwinStack> {
  const env = await startDevServer();
  const twin = await startE2eTwin();
  const worker = await startInProcessWorker(env.nativeConnection, twin);
  const dir = await tempDir(label);
  return { env, twin, worker, cli: new Cli(() => env.address), dir, planFile: await writePlan(twin, dir) };
}

/**
 * For files whose every test starts a twin of its own (`twins.add(await startE2eTwin({ context }))`):
 * one Temporal dev server and one in-process worker that serves every twin added, by the plan's context.
 */
export interface MultiTwinStack {
  env: TestWorkflowEnvironment;
  twins: Twins;
  worker: RunningWorker;
  cli: Cli;
}

export async function startMultiTwinStack(): Promise<MultiTwinStack> {
  const env = await startDevServer();
  const twins = new Twins();
  // Nothing is returned if the worker fails to start: stop the dev server here, or no one will.
  const worker = await startInProcessWorker(env.nativeConnection, twins).catch(async (err: unknown) => {
    await env.teardown();
    throw err;
  });
  return { env, twins, worker, cli: new Cli(() => env.address) };
}

/** Stops what a stack started (the parts given: a beforeAll may have failed half way) and logs how long the file took. */
export async function stopStack(
  stack: Partial<Pick<SingleTwinStack, 'env' | 'twin' | 'worker'> & Pick<MultiTwinStack, 'twins'>>,
  file: string,
  since: number,
): Promise<void> {
  await stack.worker?.stop();
  await stack.twin?.close();
  await stack.twins?.closeAll();
  await stack.env?.teardown();
  console.log(`[e2e] ${file} took ${elapsed(since)}`);
}
