// Scale benchmark of the migration workflow: N namespaces (default 2,000) in waves, activities mocked
// at the boundary (the workflow's own cost: histories, children, continue-as-new). Prints the figures
// that matter against Temporal's limits: events and bytes per history, payload sizes, wall time.
//   npx tsx scripts/bench-workflow-scale.ts [--namespaces 2000] [--concurrency 50]
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { gateDecisionUpdate, statusQuery, TASK_QUEUE } from '../workflows/messages.js';
import { migrationWorkflow } from '../workflows/migration.js';
import { FakeCluster, testPlan } from '../test/support/fake-activities.js';
import { startDevServer, workflowBundle } from '../test/support/temporal.js';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunStatus } from '../workflows/messages.js';

/** The status once the start gate is pending. A script, not a test: vi.waitFor needs vitest's runner. */
async function startGateStatus(handle: WorkflowHandle, timeoutMs: number): Promise<RunStatus> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const s = await handle.query(statusQuery).catch(() => undefined); // not started yet
    if (s?.pendingGate?.id === 'start') return s;
  }
  throw new Error(`the start gate was not pending within ${timeoutMs} ms`);
}

const { values } = parseArgs({
  options: { namespaces: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '50' } },
});
const n = Number(values.namespaces);
const concurrency = Number(values.concurrency);
const namespaces = Array.from({ length: n }, (_, i) => `app-${String(i).padStart(4, '0')}`);
const plan = testPlan({
  waves: [
    { name: 'canary', concurrency: 1, namespaces: namespaces.slice(0, 1) },
    { name: 'bulk', concurrency, namespaces: namespaces.slice(1) },
  ],
  gates: { start: true, dnsCutover: false, decommission: false },
  verification: { crossNamespace: [], gateway: [] },
});

const env = await startDevServer();
const cluster = new FakeCluster(plan);
const worker = await Worker.create({
  connection: env.nativeConnection,
  taskQueue: TASK_QUEUE,
  workflowBundle: await workflowBundle(),
  activities: cluster.activities(),
  maxConcurrentWorkflowTaskExecutions: 40,
  maxConcurrentActivityTaskExecutions: 200,
});
const running = worker.run();
try {
  const t0 = Date.now();
  const handle = await env.client.workflow.start(migrationWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: `bench-${n}-${Date.now()}`,
    args: [{ plan, planDigest: 'bench', startedBy: 'alice' }],
  });
  const s = await startGateStatus(handle, 120_000);
  await handle.executeUpdate(gateDecisionUpdate, {
    args: [{ gate: 'start', verdict: 'approve', by: 'bob', digest: s.pendingGate!.digest }],
  });
  const result = await handle.result();
  const wall = Date.now() - t0;
  const status = await handle.query(statusQuery);

  // Every run of the parent (continue-as-new chain) and a sample of children.
  const runs: { events: number; bytes: number }[] = [];
  for await (const w of env.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) {
    const h = env.client.workflow.getHandle(handle.workflowId, w.runId);
    const history = await h.fetchHistory();
    runs.push({ events: history.events?.length ?? 0, bytes: JSON.stringify(history).length });
  }
  const child = await env.client.workflow.getHandle(`${handle.workflowId}/ns/${namespaces[1]}`).fetchHistory();
  const statusBytes = JSON.stringify(status).length;
  console.log(
    JSON.stringify(
      {
        namespaces: n,
        concurrency,
        phase: result.phase,
        wallSeconds: +(wall / 1000).toFixed(1),
        namespacesPerSecond: +(n / (wall / 1000)).toFixed(1),
        parentRuns: runs.length,
        continueAsNew: status.generation,
        parentEventsPerRun: runs.map((r) => r.events),
        parentHistoryKiBPerRun: runs.map((r) => Math.round(r.bytes / 1024)),
        childEvents: child.events?.length ?? 0,
        childHistoryKiB: Math.round(JSON.stringify(child).length / 1024),
        statusQueryKiB: Math.round(statusBytes / 1024),
        limits: {
          eventsWarn: 10_240,
          eventsError: 51_200,
          bytesWarnMiB: 10,
          bytesErrorMiB: 50,
          payloadWarnKiB: 512,
          payloadErrorKiB: 2048,
        },
      },
      null,
      2,
    ),
  );
} finally {
  worker.shutdown();
  await running;
  await env.teardown();
}
