// The latencies a person feels, on the twin, with the real activities and a worker in its own process:
//   approvals: a gate before every namespace (gates.namespace), one namespace at a time; each gate is
//              approved the moment it opens, as `meshmove approve` sends it, and timed from sending to
//              (a) the approval acknowledged, (b) the next activity scheduled and (c) started, read
//              from that namespace's workflow history (the server's clock; same machine).
//   worker SIGKILL: while a namespace's rollout restart runs (pods take --pod-start-ms to be ready),
//              the worker is killed and a new one started at once; timed from the kill to the
//              restart activity running again (its next attempt started) and to the namespace migrated.
//              The first is bounded by the activity's heartbeat timeout (30 s): until then the server
//              cannot tell a dead worker from a slow one.
// Prints JSON (stdout, or --out FILE) and a short table (stderr).
//   npm run bench:latency -- [--approvals 20] [--kills 3] [--pod-start-ms 4000] [--out FILE]
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { sendGateVerdict } from '../client/runs.js';
import { planDigest } from '../plan/load.js';
import type { Plan } from '../plan/schema.js';
import { startDevServer } from '../test/support/temporal.js';
import { migrationWorkflow } from '../workflows/migration.js';
import { TASK_QUEUE, statusQuery } from '../workflows/messages.js';
import { benchPlan, type BenchShape } from './scenario.js';
import {
  bundleWorkflows,
  eventMs,
  freshTwin,
  log,
  round,
  spawnWorker,
  stopWorker,
  summary,
  waitFor,
  type BenchTwin,
  type HistoryEvent,
} from './stack.js';

const { temporal } = proto;

const { values: args } = parseArgs({
  options: {
    approvals: { type: 'string', default: '20' },
    kills: { type: 'string', default: '3' },
    'pod-start-ms': { type: 'string', default: '4000' },
    out: { type: 'string' },
  },
});

/** The bench plan with every namespace in one wave, one namespace at a time. */
function oneAtATime(base: Plan): Plan {
  return { ...base, waves: [{ ...base.waves[0]!, namespaces: base.waves.flatMap((w) => w.namespaces), concurrency: 1 }] };
}

/** The migration started on a fresh worker; the caller approves `start` when it wants to. */
async function startRun(client: Client, plan: Plan, label: string): Promise<string> {
  const id = `bench-latency-${label}-${Date.now()}`;
  await client.workflow.start(migrationWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: id,
    args: [{ plan, planDigest: planDigest(plan), startedBy: 'alice' }],
  });
  await waitFor(client, id, (s) => s.pendingGate?.id === 'start', 600_000);
  await sendGateVerdict(client, id, 'start', { verdict: 'approve', by: 'bob' });
  return id;
}

/** The first activity a workflow scheduled after the update that decided its gate, and when it started. */
function firstActivityAfterUpdate(events: HistoryEvent[]): { scheduledAt: number; startedAt?: number; type: string } | undefined {
  const decided = events.findIndex((e) => e.workflowExecutionUpdateCompletedEventAttributes || e.workflowExecutionSignaledEventAttributes);
  if (decided < 0) return undefined;
  const scheduled = events.slice(decided).find((e) => e.activityTaskScheduledEventAttributes);
  if (!scheduled) return undefined;
  const started = events.find(
    (e) =>
      e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled.eventId),
  );
  return {
    scheduledAt: eventMs(scheduled.eventTime),
    ...(started ? { startedAt: eventMs(started.eventTime) } : {}),
    type: scheduled.activityTaskScheduledEventAttributes!.activityType?.name ?? '?',
  };
}

async function measureApprovals(dir: string, n: number) {
  const shape: BenchShape = { namespaces: n, deployments: 2, concurrency: 1 };
  const env = await startDevServer();
  const twin = await freshTwin(shape, 'worker', dir);
  let worker: ChildProcess | undefined;
  try {
    const base = await benchPlan(twin, shape, dir);
    const plan: Plan = { ...oneAtATime(base), gates: { ...base.gates, namespace: true } };
    worker = await spawnWorker(env.connection.options.address ?? '', twin, await bundleWorkflows(dir));
    const id = await startRun(env.client, plan, 'approvals');
    const samples: { namespace: string; ackMs: number; scheduledMs: number; startedMs?: number; activity: string }[] = [];
    for (const namespace of plan.waves[0]!.namespaces) {
      const gate = `namespace:${namespace}`;
      // A namespace's gate is held by its own workflow (queried until it exists); its status says when it opens.
      const open = await waitFor(env.client, `${id}/ns/${namespace}`, (s) => s.pendingGate?.id === gate, 300_000, 20);
      if (open.pendingGate?.id !== gate) throw new Error(`${namespace}: the run ended (${open.phase}) before its gate opened`);
      const t0 = Date.now();
      const { workflowId } = await sendGateVerdict(env.client, id, gate, { verdict: 'approve', by: 'bob' });
      const ackMs = Date.now() - t0;
      let first: ReturnType<typeof firstActivityAfterUpdate>;
      const deadline = Date.now() + 120_000;
      while (!first?.startedAt && Date.now() < deadline) {
        const h = await env.client.workflow.getHandle(workflowId).fetchHistory();
        first = firstActivityAfterUpdate((h.events ?? []) as HistoryEvent[]);
        if (!first?.startedAt) await new Promise((r) => setTimeout(r, 100));
      }
      if (!first) throw new Error(`no activity after the approval of ${gate} within 120 s`);
      samples.push({
        namespace,
        ackMs,
        scheduledMs: first.scheduledAt - t0,
        ...(first.startedAt ? { startedMs: first.startedAt - t0 } : {}),
        activity: first.type,
      });
    }
    const end = await waitFor(env.client, id, () => false, 600_000).catch(() => undefined);
    return { phase: end?.phase, samples };
  } finally {
    await stopWorker(worker);
    await twin.close();
    await env.teardown();
  }
}

interface PendingActivity {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  state?: number | null;
}
async function restartInFlight(client: Client, workflowId: string): Promise<PendingActivity | undefined> {
  const d = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => undefined);
  return (d?.raw.pendingActivities as PendingActivity[] | undefined)?.find(
    (a) =>
      a.activityType?.name === 'restartWorkloads' && a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
  );
}

async function measureKills(dir: string, kills: number, podStartMs: number) {
  const shape: BenchShape = { namespaces: kills, deployments: 2, concurrency: 1, timings: { podStartDelayMs: podStartMs } };
  const env = await startDevServer();
  const twin: BenchTwin = await freshTwin(shape, 'worker', dir);
  const bundle = await bundleWorkflows(dir);
  const address = env.connection.options.address ?? '';
  let worker: ChildProcess | undefined;
  try {
    const base = await benchPlan(twin, shape, dir);
    const plan = oneAtATime(base);
    worker = await spawnWorker(address, twin, bundle);
    const id = await startRun(env.client, plan, 'kills');
    const samples: { namespace: string; resumedMs: number; migratedMs: number; newWorkerReadyMs: number }[] = [];
    for (const namespace of plan.waves[0]!.namespaces) {
      const childId = `${id}/ns/${namespace}`;
      let running: PendingActivity | undefined;
      const deadline = Date.now() + 300_000;
      while (!(running = await restartInFlight(env.client, childId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!running) throw new Error(`${namespace}: the restart never ran`);
      const killedAt = Date.now();
      worker.kill('SIGKILL');
      await new Promise((r) => worker!.once('exit', r));
      worker = await spawnWorker(address, twin, bundle);
      const newWorkerReadyMs = Date.now() - killedAt;
      let resumedMs: number | undefined;
      while (Date.now() < killedAt + 600_000) {
        const st = await env.client.workflow.getHandle(id).query(statusQuery);
        if (st.namespaces.find((x) => x.name === namespace)?.state === 'migrated') break;
        const again = await restartInFlight(env.client, childId);
        if (resumedMs === undefined && again && (again.attempt ?? 1) > (running.attempt ?? 1)) resumedMs = Date.now() - killedAt;
        await new Promise((r) => setTimeout(r, 100));
      }
      const migratedMs = Date.now() - killedAt;
      // A restart that finished before its attempt was seen again resumed at the latest by then.
      samples.push({ namespace, resumedMs: resumedMs ?? migratedMs, migratedMs, newWorkerReadyMs });
    }
    const end = await waitFor(env.client, id, () => false, 600_000).catch(() => undefined);
    return { phase: end?.phase, podStartMs, samples };
  } finally {
    await stopWorker(worker);
    await twin.close();
    await env.teardown();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'meshmove-latency-'));
const result: Record<string, unknown> = { at: new Date().toISOString() };
log(
  `latency: ${args.approvals} namespace approvals, then ${args.kills} worker kills during a rollout (pods ready after ${args['pod-start-ms']} ms)`,
);
const approvals = await measureApprovals(await mkdtemp(join(dir, 'approvals-')), Number(args.approvals));
const kills = await measureKills(await mkdtemp(join(dir, 'kills-')), Number(args.kills), Number(args['pod-start-ms']));
const figures = {
  approvalAckMs: summary(approvals.samples.map((x) => x.ackMs)),
  approvalToActivityScheduledMs: summary(approvals.samples.map((x) => x.scheduledMs)),
  approvalToActivityStartedMs: summary(approvals.samples.flatMap((x) => (x.startedMs === undefined ? [] : [x.startedMs]))),
  killToResumedMs: summary(kills.samples.map((x) => x.resumedMs)),
  killToMigratedMs: summary(kills.samples.map((x) => x.migratedMs)),
  killToNewWorkerReadyMs: summary(kills.samples.map((x) => x.newWorkerReadyMs)),
};
Object.assign(result, { figures, approvals, kills });
const json = JSON.stringify(result, null, 2);
if (args.out) await writeFile(args.out, `${json}\n`);
process.stdout.write(`${json}\n`);
const row = (name: string, f: { n: number; p50: number; p95: number; max: number }) =>
  log(
    `${name.padEnd(40)} p50 ${String(round(f.p50)).padStart(7)} ms   p95 ${String(round(f.p95)).padStart(7)} ms   max ${String(round(f.max)).padStart(7)} ms   (n=${f.n})`,
  );
log('');
row('approval → acknowledged', figures.approvalAckMs);
row('approval → next activity scheduled', figures.approvalToActivityScheduledMs);
row('approval → next activity started', figures.approvalToActivityStartedMs);
row('worker SIGKILL → new worker polling', figures.killToNewWorkerReadyMs);
row('worker SIGKILL → restart running again', figures.killToResumedMs);
row('worker SIGKILL → namespace migrated', figures.killToMigratedMs);
log(
  `runs ended: approvals ${approvals.phase}, kills ${kills.phase}; first activity after a namespace approval: ${[...new Set(approvals.samples.map((x) => x.activity))].join(', ')}`,
);
