// meshmove against the hand-written kubectl script, side by side, one after the other in one run,
// each on a fresh twin of the same scenario (N namespaces x D single-replica Deployments, the twin's
// default delays, the field report's control planes with one shared root):
//   meshmove: a real Temporal dev server, a worker with the real activities in its own process, the
//             plan's canary wave then the rest at --concurrency, timed from the start gate's approval
//             until every namespace is migrated (and until the run completed);
//   script:   bench/kubectl-script.ts with the real kubectl binary at the same concurrency.
// Prints one JSON document (stdout, or --out FILE) and a short table (stderr).
//   npm run bench:compare -- --namespaces 200 [--deployments 5] [--concurrency 20] [--only meshmove|script] [--qps 50/100] [--out FILE]
//     [--pod-start-ms MS]   realistic rollouts: each new pod takes MS to become ready (default: the
//                           twin's 20 ms); the table then shows the physical limit, the sum of the
//                           namespaces' rollout times divided by the concurrency, and each run against it
//     [--pod-start-spread-ms MS] each Deployment's pods start up to MS sooner or later than --pod-start-ms,
//                           the same in both runs (the twin's podStartSpreadMs): rollouts that do not all
//                           end at once, as real ones do not; the physical limit counts each one's time,
//                           and the ideal schedule is what an orchestrator costing nothing would take
//     [--worker-heap-mb MB] the worker's V8 old-space cap (--max-old-space-size), as a memory limit would set it
//     [--prepare-ahead N]   meshmove's rest wave prepares N namespaces ahead of its restart slots
//                           (wave.prepareAhead; the script has no such thing and ignores it)
//     [--eager-activities]  the dev server with the settings `meshmove dev` gives it (eager activity
//                           dispatch, client/local-temporal.ts); default: the server's own defaults
//     [--worker built|source] built (default): `meshmove worker` from dist/, the worker users run
//                           (`npm run bench:compare` builds first); source: bench/worker.ts through tsx,
//                           which takes --qps and BENCH_TUNING
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { planDigest } from '../plan/load.js';
import { WORKER_USER } from '../twin/index.js';
import { migrationWorkflow } from '../workflows/migration.js';
import { TASK_QUEUE, TERMINAL_PHASES, statusQuery } from '../workflows/messages.js';
import { sendGateVerdict } from '../client/runs.js';
import { startDevServer } from '../test/support/temporal.js';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../client/local-temporal.js';
import { benchPlan, deploymentNames, namespaceNames, repoFile, SCRIPT_USER, type BenchShape } from './scenario.js';
import { podStartDelay } from '../twin/apiserver/controllers/context.js';
import { scenarioSchema } from '../twin/scenario.js';
import { runKubectlScript, type ScriptResult } from './kubectl-script.js';
import {
  bundleWorkflows,
  childPidsMatching,
  countStates,
  cpuSeconds,
  freshTwin,
  historyFigures,
  historyOf,
  log,
  round,
  rssMiB,
  runHistories,
  spawnBuiltWorker,
  spawnWorker,
  stepTimeline,
  stopWorker,
  waitFor,
} from './stack.js';

const { values: args } = parseArgs({
  options: {
    namespaces: { type: 'string', default: '200' },
    deployments: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '20' },
    only: { type: 'string' },
    out: { type: 'string' },
    kubectl: { type: 'string' },
    label: { type: 'string', default: '' },
    qps: { type: 'string' },
    'pod-start-ms': { type: 'string' },
    'pod-start-spread-ms': { type: 'string' },
    'worker-heap-mb': { type: 'string' },
    worker: { type: 'string', default: 'built' },
    'eager-activities': { type: 'boolean', default: false },
    'prepare-ahead': { type: 'string' },
  },
});
if (args.worker !== 'built' && args.worker !== 'source') throw new Error(`--worker: built or source, not "${args.worker}"`);
if (args.worker === 'built' && args.qps) throw new Error("--qps sets the source worker's rate limit: add --worker source");
/** The dev server's dynamic config: the settings `meshmove dev` starts it with, or none (the server's defaults). */
const serverConfig = args['eager-activities'] ? DEV_SERVER_DYNAMIC_CONFIG : undefined;
const podStartMs = args['pod-start-ms'] === undefined ? undefined : Number(args['pod-start-ms']);
const podStartSpreadMs = args['pod-start-spread-ms'] === undefined ? 0 : Number(args['pod-start-spread-ms']);
if (podStartSpreadMs > 0 && podStartMs === undefined) throw new Error('--pod-start-spread-ms varies --pod-start-ms: give both');
const shape: BenchShape = {
  namespaces: Number(args.namespaces),
  deployments: Number(args.deployments),
  concurrency: Number(args.concurrency),
  ...(args['prepare-ahead'] ? { prepareAhead: Number(args['prepare-ahead']) } : {}),
  ...(podStartMs === undefined ? {} : { timings: { podStartDelayMs: podStartMs, podStartSpreadMs } }),
};
/**
 * Each namespace's restart, in plan order, at its fastest: a namespace's single-replica Deployments
 * roll out side by side, each new pod ready after its start delay (the twin's podStartDelay) plus the
 * twin's step between rollout pods, so a namespace takes its slowest Deployment's rollout.
 */
function rolloutsMs(): number[] | undefined {
  if (podStartMs === undefined) return undefined;
  const timings = { podStartDelayMs: podStartMs, podStartSpreadMs };
  const step = shape.timings?.rolloutPodDelayMs ?? scenarioSchema.shape.timings.parse(undefined).rolloutPodDelayMs;
  return namespaceNames(shape.namespaces).map(
    (ns) => step + Math.max(...deploymentNames(shape.deployments).map((d) => podStartDelay(timings, ns, d))),
  );
}

/** The physical limit of the restarts alone (the issue's measure): the canary alone, then the sum of the rest's divided by `concurrency`. */
function physicalLimitMs(rollouts: readonly number[]): number {
  const [canary, ...rest] = rollouts;
  return canary! + rest.reduce((sum, ms) => sum + ms, 0) / shape.concurrency;
}

/**
 * What an orchestrator that costs nothing would take: the canary, then the rest in plan order, each
 * starting the moment one of `concurrency` slots frees. Unequal rollouts end unevenly, so this is
 * above the physical limit; with equal ones the two nearly agree.
 */
function idealScheduleMs(rollouts: readonly number[]): number {
  const [canary, ...rest] = rollouts;
  const slots: number[] = Array.from({ length: shape.concurrency }, () => canary!);
  for (const ms of rest) {
    const soonest = slots.indexOf(Math.min(...slots));
    slots[soonest]! += ms;
  }
  return Math.max(...slots);
}

function findKubectl(): string {
  if (args.kubectl) return args.kubectl;
  try {
    return execFileSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  } catch {
    // scripts/lab-tools.sh builds and caches one for the lab.
    return execFileSync('bash', [repoFile('scripts/lab-tools.sh'), 'kubectl'], { encoding: 'utf8' }).trim();
  }
}

type Counts = Record<string, number>;
function perNamespace(byVerb: Counts | undefined, n: number): { total: number; byVerb: Record<string, number> } {
  const entries = Object.entries(byVerb ?? {}).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((s, [, v]) => s + v, 0);
  return { total: round(total / n), byVerb: Object.fromEntries(entries.map(([k, v]) => [k, round(v / n)])) };
}

// ---------------------------------------------------------------------------------------------

async function runScript(dir: string): Promise<ScriptResult & { requestsPerNamespace: ReturnType<typeof perNamespace> }> {
  const twin = await freshTwin(shape, 'script', dir);
  try {
    const plan = await benchPlan(twin, shape, dir);
    const r = await runKubectlScript(findKubectl(), twin.kubeconfigPath, plan);
    return { ...r, requestsPerNamespace: perNamespace(twin.control.counters().byUser[SCRIPT_USER], shape.namespaces) };
  } finally {
    await twin.close();
  }
}

async function runMeshmove(dir: string) {
  const env = await startDevServer(serverConfig ? { dynamicConfig: serverConfig } : {});
  const twin = await freshTwin(shape, 'worker', dir);
  let worker: ChildProcess | undefined;
  try {
    const plan = await benchPlan(twin, shape, dir);
    const address = env.connection.options.address ?? '';
    const heapMiB = args['worker-heap-mb'] ? Number(args['worker-heap-mb']) : undefined;
    worker =
      args.worker === 'built'
        ? await spawnBuiltWorker(address, twin, heapMiB)
        : await spawnWorker(address, twin, await bundleWorkflows(dir), args.qps ? { BENCH_QPS: args.qps } : {}, heapMiB);
    const client = env.client;
    const id = `bench-${shape.namespaces}-${Date.now()}`;
    const t0 = Date.now();
    await client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ plan, planDigest: planDigest(plan), startedBy: 'alice' }],
    });
    await waitFor(client, id, (s) => s.pendingGate?.id === 'start', 600_000);
    const toGateMs = Date.now() - t0;
    // Requests from here until every namespace is migrated: the namespaces' own work.
    twin.control.resetCounters();
    const server = childPidsMatching('start-dev')[0];
    const cpuAt = () => {
      // The twin runs in this process (its API server, controllers and istiods).
      const own = process.cpuUsage();
      return {
        worker: cpuSeconds(worker!.pid!) ?? 0,
        temporal: server === undefined ? 0 : (cpuSeconds(server) ?? 0),
        twin: (own.user + own.system) / 1e6,
      };
    };
    const cpu0 = cpuAt();
    const tApprove = Date.now();
    await sendGateVerdict(client, id, 'start', { verdict: 'approve', by: 'bob' });
    // Counted, not read off the list: above 200 namespaces the status lists only those that need
    // looking at, an empty list whenever none does.
    const allMigrated = await waitFor(client, id, (s) => countStates(s).migrated === shape.namespaces, 3 * 3600_000);
    const migratedMs = Date.now() - tApprove;
    const requestsPerNamespace = perNamespace(twin.control.counters().byUser[WORKER_USER], shape.namespaces);
    const cpu1 = cpuAt();
    // CPU seconds from the approval until every namespace was migrated, per process.
    const cpuSecondsToMigrated = {
      worker: round(cpu1.worker - cpu0.worker),
      temporal: round(cpu1.temporal - cpu0.temporal),
      twin: round(cpu1.twin - cpu0.twin),
    };
    const rssAtMigrated = rssMiB(worker.pid!, 'VmRSS');
    const end = await waitFor(client, id, (s) => TERMINAL_PHASES.includes(s.phase), 3600_000);
    const completedMs = Date.now() - tApprove;
    const rss = rssMiB(worker.pid!, 'VmHWM');
    const status = await client.workflow.getHandle(id).query(statusQuery);
    // Fetched once: their sizes and the timeline are both read from them.
    const parentRuns = await runHistories(client, id);
    // A big run's status lists only the namespaces still moving: the child is named by its id.
    const names = plan.waves.flatMap((w) => w.namespaces);
    const childId = `${id}/ns/${names[Math.min(1, names.length - 1)]!}`;
    const figures = {
      phase: end.phase,
      namespaceStates: countStates(allMigrated),
      startToGateMs: toGateMs,
      wallMs: migratedMs,
      approvalToCompletedMs: completedMs,
      worker: args.worker,
      workerPeakRssMiB: rss,
      parentHistory: historyFigures(parentRuns),
      childHistory: { workflowId: childId, ...(await historyOf(client, childId)) },
      statusQueryBytes: Buffer.byteLength(JSON.stringify(status)),
      continueAsNew: status.generation,
      workerRssAtMigratedMiB: rssAtMigrated,
      requestsPerNamespace,
      cpuSecondsToMigrated,
      timeline: await stepTimeline(client, parentRuns),
    };
    return figures;
  } finally {
    await stopWorker(worker);
    await twin.close();
    await env.teardown();
  }
}

// ---------------------------------------------------------------------------------------------

const dir = await mkdtemp(join(tmpdir(), 'meshmove-bench-'));
const result: Record<string, unknown> = {
  label: args.label,
  shape,
  at: new Date().toISOString(),
  host: { cpus: (await import('node:os')).cpus().length },
  server: serverConfig ? { dynamicConfig: serverConfig } : 'defaults',
};
log(
  `bench: ${shape.namespaces} namespaces x ${shape.deployments} Deployments, concurrency ${shape.concurrency}` +
    `${shape.prepareAhead ? `, ${shape.prepareAhead} prepared ahead` : ''}` +
    `; Temporal dev server ${serverConfig ? 'with eager activity dispatch' : 'with its defaults'}`,
);
let mesh: Awaited<ReturnType<typeof runMeshmove>> | undefined;
let script: Awaited<ReturnType<typeof runScript>> | undefined;
if (args.only !== 'script') {
  log('running meshmove ...');
  mesh = await runMeshmove(join(await mkdtemp(join(dir, 'meshmove-')), ''));
  result.meshmove = mesh;
}
if (args.only !== 'meshmove') {
  log('running the kubectl script ...');
  script = await runScript(await mkdtemp(join(dir, 'script-')));
  result.script = script;
}
if (mesh && script) result.ratio = round(mesh.wallMs / script.wallMs);
const rollouts = rolloutsMs();
const limit = rollouts && physicalLimitMs(rollouts);
const ideal = rollouts && idealScheduleMs(rollouts);
if (limit !== undefined && ideal !== undefined) {
  result.physicalLimitMs = Math.round(limit);
  result.overPhysicalLimit = {
    ...(mesh ? { meshmove: round(mesh.wallMs / limit) } : {}),
    ...(script ? { script: round(script.wallMs / limit) } : {}),
  };
  result.idealScheduleMs = Math.round(ideal);
  result.overIdealSchedule = {
    ...(mesh ? { meshmove: round(mesh.wallMs / ideal) } : {}),
    ...(script ? { script: round(script.wallMs / ideal) } : {}),
  };
}
const json = JSON.stringify(result, null, 2);
if (args.out) await writeFile(args.out, `${json}\n`);
process.stdout.write(`${json}\n`);

const s = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
log('');
log(`                               meshmove        kubectl script`);
log(`wall (approval→all migrated)  ${s(mesh?.wallMs).padEnd(15)} ${s(script?.wallMs)}`);
if (mesh && script) log(`ratio meshmove/script         ${result.ratio as number}`);
if (limit !== undefined && ideal !== undefined) {
  const over = (ms: number | undefined, of: number) => (ms === undefined ? '-' : `${round(ms / of)}x`);
  log(`${`physical limit (${podStartMs}${podStartSpreadMs ? ` ± ${podStartSpreadMs}` : ''} ms pods)`.padEnd(29)} ${s(limit)}`);
  log(`wall / physical limit         ${over(mesh?.wallMs, limit).padEnd(15)} ${over(script?.wallMs, limit)}`);
  log(`ideal schedule (no overhead)  ${s(ideal)}`);
  log(`wall / ideal schedule         ${over(mesh?.wallMs, ideal).padEnd(15)} ${over(script?.wallMs, ideal)}`);
}
log(
  `API requests per namespace    ${String(mesh?.requestsPerNamespace.total ?? '-').padEnd(15)} ${script?.requestsPerNamespace.total ?? '-'}`,
);
if (mesh) {
  log(
    `  meshmove by verb: ${Object.entries(mesh.requestsPerNamespace.byVerb)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  log(
    `parent history                ${mesh.parentHistory.events} events, ${mesh.parentHistory.bytes} B in ${mesh.parentHistory.runs} run(s)`,
  );
  log(`child history                 ${mesh.childHistory.events} events, ${mesh.childHistory.bytes} B`);
  log(`status query                  ${mesh.statusQueryBytes} B`);
  const c = mesh.cpuSecondsToMigrated;
  log(
    `CPU s, approval→migrated      worker ${c.worker}, Temporal ${c.temporal}, twin ${c.twin} (${round((c.worker + c.temporal + c.twin) / (mesh.wallMs / 1000))} cores busy on average)`,
  );
  const t = mesh.timeline;
  const ms = (x: { p50: number; p95: number }) => `${Math.round(x.p50)}/${Math.round(x.p95)} ms`;
  log(`where a namespace's time goes (p50/p95 over ${t.children} children):`);
  log(`  child wall ${ms(t.childWallMs)}; outside activities ${ms(t.outsideActivitiesMs)}`);
  const w = t.workflowTasks;
  log(`  workflow tasks: ${w.perChild.p50} per child, each queued ${ms(w.queuedMs)}, ran ${ms(w.ranMs)}`);
  log(`  parent: child start ${ms(t.childStartMs)}, a freed slot refilled ${ms(t.slotRefillMs)}`);
  for (const [type, a] of Object.entries(t.activities)) log(`  ${type.padEnd(24)} queued ${ms(a.queuedMs).padEnd(16)} ran ${ms(a.runMs)}`);
  log(`worker peak RSS (${mesh.worker})      ${mesh.workerPeakRssMiB} MiB (${mesh.workerRssAtMigratedMiB} MiB when all were migrated)`);
}
if (script)
  log(
    `  script by verb: ${Object.entries(script.requestsPerNamespace.byVerb)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; ${script.commands} kubectl commands (${script.kubectlVersion})`,
  );
