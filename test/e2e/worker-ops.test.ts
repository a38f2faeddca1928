// The worker's operations endpoint and graceful shutdown, on the real stack (a Temporal dev server,
// the twin, workers in their own processes), checked by scraping it as Prometheus and the kubelet do:
//   - `meshmove worker --http-address` (the command itself): /healthz 200; /readyz 503 with the
//     reason while the API server of its kubeconfig is unreachable; /metrics has the SDK's metrics,
//     and a real Prometheus scrapes it; SIGTERM: exit 0.
//   - a migration on a worker served the same way (worker/serve.ts, e2e timings): /readyz 200; while
//     the start gate is open, meshmove_gates_open and a growing meshmove_gate_open_seconds; after the
//     approval, meshmove_decisions_total; Kubernetes requests by verb; an activity failure after an
//     injected API fault; SIGTERM while a rollout restart runs: /readyz 503 at once, the worker drains
//     and exits 0, and the run completes on another worker.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { waitUntilNamed } from '../support/wait-until.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import { parseExposition, type Sample } from '../../worker/metrics.js';
import { freeLoopbackPort } from '../../worker/ops-server.js';
import { startDevServer } from '../support/temporal.js';
import { startTestPrometheus } from '../support/prometheus.js';
import {
  Cli,
  NAMESPACES,
  STARTER,
  approveAllAndFinish,
  describeSeen,
  elapsed,
  killProcess,
  putApiFaults,
  startE2eTwin,
  tempDir,
  twinCounters,
  waitForRun,
  writePlan,
} from './support/stack.js';

const MAIN = fileURLToPath(new URL('../../client/main.ts', import.meta.url));
const OPS_WORKER = fileURLToPath(new URL('./support/ops-worker-process.ts', import.meta.url));

let env: TestWorkflowEnvironment;
let twin: Twin;
const children: ChildProcess[] = [];
const fileStart = Date.now();

beforeAll(async () => {
  env = await startDevServer();
  // Rollouts of 1 s per pod, so that a SIGTERM lands while a restart is in flight.
  twin = await startE2eTwin({ overrides: { timings: { podStartDelayMs: 10, rolloutPodDelayMs: 1_000, caRewriteDelayMs: 200 } } });
}, 120_000);

afterAll(async () => {
  for (const c of children) await killProcess(c).catch(() => undefined);
  await twin?.close();
  await env?.teardown();
  console.log(`[e2e] worker-ops.test.ts took ${elapsed(fileStart)}`);
});

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** When it exited (epoch ms). */
  exitedAt?: number;
}

function spawnProc(args: string[], extraEnv: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...process.env, MESHMOVE_LOG_LEVEL: process.env.MESHMOVE_E2E_WORKER_LOG_LEVEL ?? 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const proc: Proc = { child, output: () => out, exited: undefined as unknown as Promise<number | null> };
  proc.exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      proc.exitedAt = Date.now();
      r(code);
    }),
  );
  return proc;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

async function scrape(port: number): Promise<Sample[]> {
  const r = await get(port, '/metrics');
  expect(r.status).toBe(200);
  return parseExposition(r.body);
}

/** The sum of the samples named `name` whose labels include `labels`. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
const has = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

/** An ops worker (test/e2e/support/ops-worker-process.ts) ready on its HTTP port. */
async function startOpsWorker(grace: string): Promise<Proc & { port: number }> {
  const p = spawnProc([OPS_WORKER], {
    MESHMOVE_E2E_ADDRESS: env.address,
    MESHMOVE_E2E_KUBECONFIG: twin.kubeconfigPath,
    MESHMOVE_DNS_SECRET: twin.dnsWebhookSecret,
    MESHMOVE_HTTP_ADDRESS: '127.0.0.1:0',
    MESHMOVE_SHUTDOWN_GRACE: grace,
  });
  // A process that exited fails the wait at once.
  const port = await waitUntilNamed(
    'the ops worker ready',
    () => {
      const m = /worker ready (\d+)/.exec(p.output());
      if (!m && p.child.exitCode !== null) throw new Error(`the ops worker exited ${p.child.exitCode}: ${p.output()}`);
      return m ? Number(m[1]) : undefined;
    },
    { timeout: 120_000, interval: 100 },
  );
  return Object.assign(p, { port });
}

describe('meshmove worker --http-address', () => {
  it("the command: /healthz 200, /readyz 503 naming the unreachable API server, the SDK's metrics on /metrics, SIGTERM exits 0", async () => {
    const dir = await tempDir('ops-cli');
    const closed = await freeLoopbackPort(); // nothing listens there
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: gone, cluster: {server: "https://127.0.0.1:' + closed + '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: gone, context: {cluster: gone, user: u}}]',
        'current-context: gone',
        '',
      ].join('\n'),
    );
    // The address from the environment (as the Deployment sets it), a port of its choosing.
    const p = spawnProc([MAIN, 'worker', '--address', env.address, '--kubeconfig', kubeconfig, '--shutdown-grace', '5s'], {
      MESHMOVE_HTTP_ADDRESS: '127.0.0.1:0',
    });
    // A process that exited fails the wait at once.
    const port = await waitUntilNamed(
      'the worker command serving',
      () => {
        const m = /\/healthz \/readyz \/metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(p.output());
        if (!m && p.child.exitCode !== null) throw new Error(`meshmove worker exited ${p.child.exitCode}: ${p.output()}`);
        return m ? Number(m[1]) : undefined;
      },
      { timeout: 120_000, interval: 100 },
    );

    expect(await get(port, '/healthz')).toMatchObject({ status: 200 });
    const ready = await vi.waitFor(
      async () => {
        const r = await get(port, '/readyz');
        const found = /Kubernetes API server/.test(r.body) ? r : undefined; // (before run() it says the worker is initialized);
        expect(found, 'readiness answered').toBeDefined();
        return found!;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(new RegExp(`Kubernetes API server https://127.0.0.1:${closed} cannot be reached`));
    expect(ready.body).not.toMatch(/Temporal/); // Temporal is fine

    // The SDK's own telemetry (polls of the meshmove task queue) and meshmove's, in one scrape.
    const samples = await vi.waitFor(
      async () => {
        const s = await scrape(port);
        const found = has(s, 'temporal_num_pollers', { task_queue: 'meshmove' }) ? s : undefined;
        expect(found, "the SDK's poll metrics").toBeDefined();
        return found!;
      },
      { timeout: 30_000, interval: 500 },
    );
    expect(value(samples, 'meshmove_sdk_metrics_up')).toBe(1);
    expect(has(samples, 'temporal_worker_task_slots_available')).toBe(true);
    expect(has(samples, 'meshmove_status_refresh_errors_total')).toBe(true);
    expect((await get(port, '/nope')).status).toBe(404);

    // A real Prometheus scrapes it: the target is up, and both halves of the exposition are stored.
    const prom = await startTestPrometheus({
      staticTargets: [{ target: `127.0.0.1:${port}`, metricsPath: '/metrics', labels: { app: 'meshmove-worker' } }],
    });
    try {
      const query = async (q: string) => {
        const r = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await r.json()) as { data: { result: { value: [number, string] }[] } };
        return body.data.result.map((x) => Number(x.value[1]));
      };
      await expect
        .poll(async () => (await query('up{app="meshmove-worker"}'))[0] === 1, {
          timeout: 30_000,
          interval: 500,
          message: 'Prometheus scraped the worker',
        })
        .toBe(true);
      expect((await query('count({app="meshmove-worker",__name__=~"temporal_.*"})'))[0]).toBeGreaterThan(0);
      expect((await query('meshmove_sdk_metrics_up{app="meshmove-worker"}'))[0]).toBe(1);
      expect(await query('meshmove_status_refresh_errors_total{app="meshmove-worker"}')).toEqual([0]);
    } finally {
      await prom.close();
    }

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 240_000);

  it('a migration scraped: gates open and their age, decisions, API requests by verb, an activity failure; SIGTERM drains and the run finishes on another worker', async () => {
    const t0 = Date.now();
    const dir = await tempDir('ops-run');
    const plan = await writePlan(twin, dir);
    const cli = new Cli(() => env.address);
    const id = 'e2e-worker-ops';
    // A grace shorter than the rollout restart it interrupts: the restart is cancelled when the
    // grace ends (heartbeats out) and resumed by the other worker.
    const a = await startOpsWorker('300ms');

    expect(await get(a.port, '/healthz')).toMatchObject({ status: 200 });
    const ready = await vi.waitFor(
      async () => {
        const r = await get(a.port, '/readyz');
        expect(r.status, 'ready').toBe(200);
        return r;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(ready.body).toMatch(/Temporal answers; Kubernetes API server .* answers/);

    // The first relabel of inventory answers 500 four times: the kube client's in-process retries
    // give up, the activity attempt fails (KubeServerError) and Temporal's retry succeeds.
    await putApiFaults(twin, {
      rules: [{ verb: 'patch', resource: 'namespaces', name: 'inventory', kind: 'status', status: 500, count: 4 }],
      stuckRollouts: [],
    });
    twin.control.resetCounters();

    await cli.start(plan, id, STARTER);
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'start'), 'gate start');
    const atGate = await vi.waitFor(
      async () => {
        const s = await scrape(a.port);
        const found = value(s, 'meshmove_gates_open', { run: id, gate: 'start' }) === 1 ? s : undefined;
        expect(found, 'the open start gate in /metrics').toBeDefined();
        return found!;
      },
      { timeout: 30_000, interval: 500 },
    );
    const age1 = value(atGate, 'meshmove_gate_open_seconds', { run: id, gate: 'start' });
    expect(value(atGate, 'meshmove_runs', { phase: 'awaiting-start' })).toBe(1);
    expect(NAMESPACES.length).toBe(4);
    const nsTotal = value(atGate, 'meshmove_namespaces', { run: id });
    expect(nsTotal, JSON.stringify(atGate.filter((s) => s.name === 'meshmove_namespaces'))).toBe(NAMESPACES.length);
    // Preflight and backup read the cluster: gets and lists, all answered.
    expect(value(atGate, 'meshmove_kube_requests_total', { verb: 'get', code: '2xx' })).toBeGreaterThan(0);
    expect(value(atGate, 'meshmove_kube_requests_total', { verb: 'list', code: '2xx' })).toBeGreaterThan(0);
    // The SDK's activity metrics are in the same scrape.
    expect(has(atGate, 'temporal_activity_execution_latency_count')).toBe(true);
    // The gate's age grows while it stays open (computed at each scrape).
    await new Promise((r) => setTimeout(r, 1_500));
    const age2 = value(await scrape(a.port), 'meshmove_gate_open_seconds', { run: id, gate: 'start' });
    expect(age2).toBeGreaterThanOrEqual(age1 + 1.4);

    await cli.approve(id, 'start');
    const afterApprove = await vi.waitFor(
      async () => {
        const s = await scrape(a.port);
        const found =
          value(s, 'meshmove_decisions_total', { message: 'gate', decision: 'approve', via: 'update', outcome: 'accepted' }) === 1 &&
          !has(s, 'meshmove_gates_open', { run: id, gate: 'start' })
            ? s
            : undefined;
        expect(found, 'the approval counted and the gate closed').toBeDefined();
        return found!;
      },
      { timeout: 30_000, interval: 500 },
    );
    expect(value(afterApprove, 'meshmove_decisions_total', { decision: 'reject' })).toBe(0);

    const failed = await vi.waitFor(
      async () => {
        const s = await scrape(a.port);
        const found =
          value(s, 'meshmove_activity_failures_total', { activity: 'relabelNamespace', type: 'KubeServerError' }) >= 1 &&
          value(s, 'meshmove_kube_requests_total', { verb: 'patch', code: '2xx' }) > 0
            ? s
            : undefined;
        expect(found, "the injected API fault counted, then the retry's patch").toBeDefined();
        return found!;
      },
      { timeout: 60_000, interval: 500 },
    );
    expect(value(failed, 'meshmove_kube_requests_total', { verb: 'patch', code: '5xx' })).toBeGreaterThanOrEqual(4);
    expect(value(failed, 'meshmove_kube_request_errors_total', { verb: 'patch', type: 'KubeServerError' })).toBeGreaterThanOrEqual(4);

    // SIGTERM while the orders namespace's rollout restart runs (1 s per pod).
    await expect
      .poll(async () => ((await twinCounters(twin)).byObject['patch apps/deployments/orders/orders'] ?? 0) >= 1, {
        timeout: 180_000,
        interval: 50,
        message: 'the orders restart under way',
      })
      .toBe(true);
    const status = (await env.client.workflow.getHandle(`${id}/ns/orders`).describe()).status.name;
    expect(status).toBe('RUNNING');
    a.child.kill('SIGTERM');
    const termAt = Date.now();
    const notReady = await vi.waitFor(
      async () => {
        const r = await get(a.port, '/readyz');
        expect(r.status, 'not ready once shutdown begins').toBe(503);
        return r;
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(notReady.body).toMatch(/shutting down/);
    expect((await get(a.port, '/healthz')).status).toBe(200); // draining is alive
    const b = await startOpsWorker('30s');
    expect(await a.exited).toBe(0);
    console.log(`[e2e] the SIGTERMed worker drained and exited 0 ${((a.exitedAt! - termAt) / 1000).toFixed(1)} s after the signal`);
    if (process.env.MESHMOVE_E2E_WORKER_LOG_LEVEL)
      await writeFile(join(dir, 'worker-a.log'), a.output()).then(() => console.log(`[e2e] worker a's log: ${join(dir, 'worker-a.log')}`));

    const end = await approveAllAndFinish(cli, env.client, id, ['dns-cutover', 'decommission']);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    // The restart that was in flight: what became of it (finished on the draining worker within its
    // grace, or cancelled at the end of it and resumed by the other worker), and each workload was
    // restarted once either way.
    const history = await env.client.workflow.getHandle(`${id}/ns/orders`).fetchHistory();
    const restartIds = new Set(
      (history.events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'restartWorkloads')
        .map((e) => String(e.eventId)),
    );
    const attempts = (history.events ?? []).flatMap((e) => {
      const st = e.activityTaskStartedEventAttributes;
      if (st && restartIds.has(String(st.scheduledEventId))) return [`attempt ${st.attempt} on ${st.identity}`];
      const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
      if (done && restartIds.has(String(done.scheduledEventId)))
        return [`${e.activityTaskCompletedEventAttributes ? 'completed' : 'failed'} by ${(done as { identity?: string }).identity ?? '?'}`];
      return [];
    });
    console.log(`[e2e] the restart in flight at SIGTERM: ${attempts.join('; ')} (workers: a pid ${a.child.pid}, b pid ${b.child.pid})`);
    // History keeps the last attempt: the one the other worker ran after the first was cancelled at
    // the end of the grace (or the first, when the signal landed as the rollout was ending).
    expect(attempts.join('; ')).toMatch(
      new RegExp(
        `^attempt ([2-9]|\\d\\d+) on ${b.child.pid}@\\S+; completed by ${b.child.pid}@|^attempt 1 on ${a.child.pid}@\\S+; completed by ${a.child.pid}@`,
      ),
    );
    const counters = await twinCounters(twin);
    for (const [res, name] of [
      ['deployments', 'orders'],
      ['statefulsets', 'orders-ledger'],
    ]) {
      const key = `apps/${res}/orders/${name}`;
      expect((counters.byObject[`patch ${key}`] ?? 0) + (counters.byObject[`update ${key}`] ?? 0), key).toBe(1);
    }
    // The second worker did the rest of the run and counted its own approvals.
    const last = await scrape(b.port);
    expect(value(last, 'meshmove_decisions_total', { message: 'gate', decision: 'approve', outcome: 'accepted' })).toBe(2);
    expect(value(last, 'meshmove_kube_requests_total', { verb: 'delete' })).toBeGreaterThan(0);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    console.log(`[e2e] worker ops run: ${elapsed(t0)}`);
  }, 600_000);
});
