// What the benchmarks share: a fresh twin of a bench shape with a kubeconfig for its user, the
// workflows bundled beforehand (as `npm run build` bundles them for `meshmove worker`), the worker
// in its own process (so its RSS is its own), and readings of status, histories and memory.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import proto from '@temporalio/proto';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { startTwin, writeKubeconfigAs, type Twin } from '../twin/index.js';
import { workflowsPath } from '../worker/bundle.js';
import { TERMINAL_PHASES, statusQuery, type RunStatus } from '../workflows/messages.js';
import { benchScenario, repoFile, SCRIPT_RBAC, SCRIPT_USER, type BenchShape } from './scenario.js';
import { eventMs } from '../test/support/histories.js';

const { temporal } = proto;
export type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

export { eventMs };

export type BenchTwin = Twin & { kubeconfigPath: string; caFile: string };

export const round = (x: number): number => Math.round(x * 100) / 100;
export const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** A twin of `shape`, with a kubeconfig for the worker (deploy/rbac.yaml) or the script's user. */
export async function freshTwin(shape: BenchShape, user: 'worker' | 'script', dir: string): Promise<BenchTwin> {
  const twin = await startTwin(await benchScenario(shape), { randomPorts: true, tls: true, readyTimeoutMs: 600_000 });
  const kubeconfigPath = join(dir, `${user}.kubeconfig`);
  if (user === 'worker') await writeKubeconfigAs(twin, await readFile(repoFile('deploy/rbac.yaml'), 'utf8'), kubeconfigPath);
  else await writeKubeconfigAs(twin, SCRIPT_RBAC, kubeconfigPath, { user: SCRIPT_USER });
  // The DNS webhook is on the twin's HTTPS port too: the worker trusts the twin's CA for it.
  const kc = parse(await readFile(kubeconfigPath, 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
  const caFile = join(dir, `${user}-ca.pem`);
  await writeFile(caFile, Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'] ?? '', 'base64'));
  twin.control.resetCounters();
  return { ...twin, kubeconfigPath, caFile };
}

/** VmHWM: the peak resident set; VmRSS: now. */
export function rssMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }));
    return m ? round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** The workflows bundled once, as `npm run build` does for `meshmove worker` (dist/workflows.bundle.js). */
export async function bundleWorkflows(dir: string): Promise<string> {
  const codePath = join(dir, 'workflows.bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
  await writeFile(codePath, code);
  return codePath;
}

/**
 * bench/worker.ts in its own process; resolves once it polls. `env` adds BENCH_QPS, BENCH_TUNING;
 * `heapMiB` caps V8's old space (--max-old-space-size), as a container's memory limit would.
 */
export function spawnWorker(
  address: string,
  twin: BenchTwin,
  bundle: string,
  env: NodeJS.ProcessEnv = {},
  heapMiB?: number,
): Promise<ChildProcess> {
  return spawnUntilReady(
    [...heapFlag(heapMiB), '--import', 'tsx', repoFile('bench/worker.ts')],
    twin,
    {
      BENCH_ADDRESS: address,
      BENCH_KUBECONFIG: twin.kubeconfigPath,
      BENCH_DNS_SECRET: twin.dnsWebhookSecret,
      BENCH_WORKFLOW_BUNDLE: bundle,
      ...env,
    },
    { stream: 'stdout', marker: 'worker ready' },
  );
}

/**
 * The worker users run, `meshmove worker` from the build (dist/, with the build's workflow bundle),
 * in its own process; resolves once it polls. Its activities take the defaults a user gets (no
 * BENCH_QPS or BENCH_TUNING); `heapMiB` caps V8's old space as for spawnWorker.
 */
export function spawnBuiltWorker(address: string, twin: BenchTwin, heapMiB?: number): Promise<ChildProcess> {
  if (!existsSync(repoFile('dist/workflows.bundle.js'))) {
    return Promise.reject(new Error('no build: run `npm run build` first (the built worker runs from dist/)'));
  }
  // BENCH_WORKER_NODE_ARGS: more node flags for the worker, e.g. "--cpu-prof --cpu-prof-dir=DIR".
  const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawnUntilReady(
    [...heapFlag(heapMiB), ...extra, repoFile('bin/meshmove.js'), 'worker', '--address', address, '--kubeconfig', twin.kubeconfigPath],
    twin,
    // The plan's DNS webhook secret, read by the worker from its environment as in production.
    { MESHMOVE_DNS_SECRET: twin.dnsWebhookSecret },
    { stream: 'stderr', marker: 'polling task queue' },
  );
}

function heapFlag(heapMiB: number | undefined): string[] {
  return heapMiB ? [`--max-old-space-size=${heapMiB}`] : [];
}

/** node with `args`, trusting the twin's CA; resolves once `ready.marker` appears on `ready.stream` (the other stream is inherited). */
function spawnUntilReady(
  args: string[],
  twin: BenchTwin,
  env: NodeJS.ProcessEnv,
  ready: { stream: 'stdout' | 'stderr'; marker: string },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: twin.caFile, MESHMOVE_LOG_LEVEL: process.env.MESHMOVE_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', ready.stream === 'stdout' ? 'pipe' : 'inherit', ready.stream === 'stderr' ? 'pipe' : 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child[ready.stream]!.on('data', (d: Buffer) => {
      // What the worker logs to stderr still reaches the person running the benchmark.
      if (ready.stream === 'stderr') process.stderr.write(d);
      if (d.toString().includes(ready.marker)) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before it was ready`)));
  });
}

/** The fields of /proc/PID/stat after the command's closing parenthesis (state, ppid, ...). */
function procStat(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    // utime and stime, in ticks.
    const fields = procStat(pid);
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** This process's children whose command line contains `needle` (the Temporal dev server). */
export function childPidsMatching(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(procStat(d)[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** SIGTERM and wait (the worker drains); nothing if it has exited. */
export async function stopWorker(worker: ChildProcess | undefined): Promise<void> {
  if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
  const exited = new Promise((r) => worker.once('exit', r));
  worker.kill('SIGTERM');
  await exited;
}

export interface HistoryFigures {
  runs: number;
  events: number;
  bytes: number;
  perRun: { events: number; bytes: number }[];
}

export type History = proto.temporal.api.history.v1.IHistory;

/** The history of every run of a workflow id (continue-as-new makes several). */
export async function runHistories(client: Client, workflowId: string): Promise<History[]> {
  const runs: History[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push(await client.workflow.getHandle(workflowId, w.runId).fetchHistory());
  }
  return runs;
}

/** Events and encoded bytes of a workflow's runs. */
export function historyFigures(runs: readonly History[]): HistoryFigures {
  const perRun = runs.map((h) => ({ events: h.events?.length ?? 0, bytes: temporal.api.history.v1.History.encode(h).finish().byteLength }));
  return { runs: perRun.length, events: perRun.reduce((s, r) => s + r.events, 0), bytes: perRun.reduce((s, r) => s + r.bytes, 0), perRun };
}

/** Events and encoded bytes of every run of a workflow id. */
export async function historyOf(client: Client, workflowId: string): Promise<HistoryFigures> {
  return historyFigures(await runHistories(client, workflowId));
}

/**
 * Namespaces by state: the status query's counts of every namespace when it has them (above
 * STATUS_NAMESPACE_LIMIT it lists only those that need looking at), else counted from its list.
 */
export function countStates(s: RunStatus | undefined): Record<string, number> {
  if (s?.namespaceCounts) return { ...s.namespaceCounts } as Record<string, number>;
  const c: Record<string, number> = {};
  for (const n of s?.namespaces ?? []) c[n.state] = (c[n.state] ?? 0) + 1;
  return c;
}

/** Polls the status query until `pred` holds or the run ended. */
export async function waitFor(
  client: Client,
  id: string,
  pred: (s: RunStatus) => boolean,
  timeoutMs: number,
  intervalMs = 250,
): Promise<RunStatus> {
  const h = client.workflow.getHandle(id);
  const deadline = Date.now() + timeoutMs;
  let last: RunStatus | undefined;
  while (Date.now() < deadline) {
    last = await h.query(statusQuery).catch(() => last);
    if (last && (pred(last) || TERMINAL_PHASES.includes(last.phase))) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out; last status phase ${last?.phase}, namespaces ${JSON.stringify(countStates(last))}`);
}

/** The p-th quantile (0..1) of a sample, nearest rank. */
export function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  max: number;
}

/** How many, p50, p95 and the largest of a sample. */
export function summary(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95), max: s[s.length - 1] ?? Number.NaN };
}

export interface StepTimeline {
  /** Children read. */
  children: number;
  /** A child's start to its end. */
  childWallMs: Summary;
  /** Per activity type: scheduled -> started (waiting for a worker slot) and started -> completed. */
  activities: Record<string, { queuedMs: Summary; runMs: Summary }>;
  /** A child's wall time not spent inside an activity: workflow tasks, scheduling, timers. */
  outsideActivitiesMs: Summary;
  /** A child's workflow tasks: how many, scheduled -> started (waiting for a poller) and started -> completed (the worker's turn). */
  workflowTasks: { perChild: Summary; queuedMs: Summary; ranMs: Summary };
  /** Parent: the child's start asked -> the child started. */
  childStartMs: Summary;
  /** Parent: a child ended -> the next child's start asked (a freed slot refilled). */
  slotRefillMs: Summary;
}

/**
 * Where a namespace's time goes, read from the histories: the parent's child starts and slot
 * refills (from `parentRuns`, the parent's run histories), and for up to `sample` children (spread
 * over the run) each activity's queueing and run time, and what is left outside activities.
 */
export async function stepTimeline(client: Client, parentRuns: readonly History[], sample = 100): Promise<StepTimeline> {
  const parentEvents = parentRuns.flatMap((h) => (h.events ?? []) as HistoryEvent[]);
  parentEvents.sort((a, b) => eventMs(a.eventTime) - eventMs(b.eventTime));
  const initiated = new Map<string, number>();
  const childStart: number[] = [];
  const refill: number[] = [];
  let lastEnded: number | undefined;
  const childIds: string[] = [];
  for (const e of parentEvents) {
    const t = eventMs(e.eventTime);
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init?.workflowId?.includes('/ns/') && !init.workflowId.endsWith('/rollback')) {
      initiated.set(init.workflowId, t);
      childIds.push(init.workflowId);
      if (lastEnded !== undefined) refill.push(t - lastEnded);
      lastEnded = undefined;
    }
    const started = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    if (started && initiated.has(started)) childStart.push(t - initiated.get(started)!);
    if (e.childWorkflowExecutionCompletedEventAttributes) lastEnded ??= t;
  }
  const step = Math.max(1, Math.floor(childIds.length / sample));
  const picked = childIds.filter((_, i) => i % step === 0).slice(0, sample);
  const wall: number[] = [];
  const outside: number[] = [];
  const queued = new Map<string, number[]>();
  const ran = new Map<string, number[]>();
  const wftCount: number[] = [];
  const wftQueued: number[] = [];
  const wftRan: number[] = [];
  for (const id of picked) {
    const events = ((await client.workflow.getHandle(id).fetchHistory()).events ?? []) as HistoryEvent[];
    if (events.length < 2) continue;
    const childWall = eventMs(events.at(-1)!.eventTime) - eventMs(events[0]!.eventTime);
    const scheduled = new Map<number, { type: string; at: number; startedAt?: number }>();
    let inside = 0;
    let wfts = 0;
    let wftScheduledAt: number | undefined;
    let wftStartedAt: number | undefined;
    for (const e of events) {
      const t = eventMs(e.eventTime);
      if (e.workflowTaskScheduledEventAttributes) wftScheduledAt = t;
      if (e.workflowTaskStartedEventAttributes && wftScheduledAt !== undefined) {
        wftQueued.push(t - wftScheduledAt);
        wftStartedAt = t;
      }
      if (e.workflowTaskCompletedEventAttributes && wftStartedAt !== undefined) {
        wftRan.push(t - wftStartedAt);
        wfts++;
      }
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(Number(e.eventId), { type: s.activityType?.name ?? '?', at: t });
      const st = e.activityTaskStartedEventAttributes;
      if (st) {
        const a = scheduled.get(Number(st.scheduledEventId));
        if (a) a.startedAt = t;
      }
      const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      if (done) {
        const a = scheduled.get(Number(done.scheduledEventId));
        if (a) {
          const startedAt = a.startedAt ?? a.at;
          (queued.get(a.type) ?? queued.set(a.type, []).get(a.type)!).push(startedAt - a.at);
          (ran.get(a.type) ?? ran.set(a.type, []).get(a.type)!).push(t - startedAt);
          inside += t - startedAt;
        }
      }
    }
    wall.push(childWall);
    outside.push(childWall - inside);
    wftCount.push(wfts);
  }
  return {
    children: wall.length,
    childWallMs: summary(wall),
    activities: Object.fromEntries([...ran].map(([type, runs]) => [type, { queuedMs: summary(queued.get(type)!), runMs: summary(runs) }])),
    outsideActivitiesMs: summary(outside),
    workflowTasks: { perChild: summary(wftCount), queuedMs: summary(wftQueued), ranMs: summary(wftRan) },
    childStartMs: summary(childStart),
    slotRefillMs: summary(refill),
  };
}
