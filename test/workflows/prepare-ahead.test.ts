// wave.prepareAhead on a real Temporal dev server (activities faked at the boundary): namespaces
// launched ahead are relabelled and CA-checked while others restart, and restart only when a slot
// frees, so at most `concurrency` restart at once; a spent failure budget, an abort and a rollback
// each leave those waiting namespaces as their meaning says.
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { migrationWorkflow } from '../../workflows/migration.js';
import { TASK_QUEUE, operatorDecisionUpdate, statusQuery, type RunStatus } from '../../workflows/messages.js';
import { FakeCluster, dispatchingActivities, testPlan } from '../support/fake-activities.js';
import { useDevServerWorker, waitForStatus } from '../support/temporal.js';
import { recordHistory, signalledBeforeStarted } from '../support/histories.js';
import type { Plan, PlanInput } from '../../plan/schema.js';

const current: { cluster?: FakeCluster } = {};

const temporal = useDevServerWorker(() => dispatchingActivities(() => current.cluster!));

const TARGET = 'istio-1-16-5';
const NAMESPACES = ['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4', 'ns-5'];

function plan(wave: Partial<PlanInput['waves'][number]>, more: Partial<PlanInput> = {}): Plan {
  return testPlan({
    waves: [{ name: 'all', concurrency: 2, prepareAhead: 2, namespaces: NAMESPACES, ...wave }],
    gates: { start: false, dnsCutover: false, decommission: false },
    verification: { crossNamespace: [], gateway: [] },
    ...more,
  });
}

async function start(
  p: Plan,
  maxHistoryEvents?: number,
): Promise<{ handle: WorkflowHandle<typeof migrationWorkflow>; cluster: FakeCluster }> {
  const cluster = new FakeCluster(p);
  current.cluster = cluster;
  const handle = await temporal.env.client.workflow.start(migrationWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: `test-${randomUUID()}`,
    args: [
      {
        plan: p,
        planDigest: 'test',
        startedBy: 'alice',
        options: { heartbeatTimeoutMs: 5_000, ...(maxHistoryEvents ? { maxHistoryEvents } : {}) },
      },
    ],
  });
  return { handle, cluster };
}

/** Namespaces relabelled but whose restart has not ended, at most at once. */
function mostMovingAtOnce(cluster: FakeCluster): number {
  const moving = new Set<string>();
  let most = 0;
  for (const e of cluster.spans) {
    const [activity, ns] = e.slice(1).split(' ');
    if (e.startsWith('+') && activity === 'relabelNamespace') moving.add(ns!);
    if (e.startsWith('-') && activity === 'restartWorkloads') moving.delete(ns!);
    most = Math.max(most, moving.size);
  }
  return most;
}

/**
 * One at a time, one ahead: ns-0's restart fails and waits for a decision while ns-1, relabelled and
 * CA-checked, waits for the slot ns-0 holds; then the operator decides `decision` at ns-0.
 */
async function restartFailedWithOneWaiting(decision: 'abort' | 'rollback', reason: string) {
  const started = await start(plan({ concurrency: 1, prepareAhead: 1, namespaces: NAMESPACES.slice(0, 3) }));
  const { handle, cluster } = started;
  cluster.failNext('restartWorkloads', 'ns-0', 1);
  const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/ns-0`);
  await waitForStatus(child, (x) => x.pendingDecision?.step === 'restart');
  await waitForStatus(handle, () => cluster.spans.includes('-waitCaReady ns-1'));
  await child.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'restart', decision, by: 'bob', reason }] });
  return started;
}

describe('wave.prepareAhead', () => {
  it('relabels and checks the next namespaces while others restart; at most `concurrency` restart at once', async () => {
    const { handle, cluster } = await start(plan({}));
    cluster.delays.set('restartWorkloads', 800);
    // While two restart, the status says which two wait for a slot.
    const waitingForSlot = (s: Pick<RunStatus, 'namespaces'>) => s.namespaces.filter((n) => n.waitingForRestartSlot).map((n) => n.name);
    const during = await waitForStatus(handle, (s) => waitingForSlot(s).length === 2);
    expect(during.namespaces.filter((n) => n.waitingForRestartSlot).every((n) => n.state === 'migrating')).toBe(true);
    const result = await handle.result();
    expect(waitingForSlot(result)).toEqual([]);
    expect(result.phase).toBe('completed');
    expect(result.namespaces.map((n) => n.state)).toEqual(NAMESPACES.map(() => 'migrated'));
    expect(cluster.mostAtOnce('restartWorkloads', TARGET)).toBe(2);
    // ns-2 and ns-3 were relabelled and their CA checked before the first restart ended ...
    const firstRestartEnded = cluster.spans.findIndex((e) => e.startsWith('-restartWorkloads'));
    for (const ns of ['ns-2', 'ns-3']) {
      expect(cluster.spans.indexOf(`+relabelNamespace ${ns}`), ns).toBeLessThan(firstRestartEnded);
      expect(cluster.spans.indexOf(`-waitCaReady ${ns}`), ns).toBeLessThan(firstRestartEnded);
      // ... and restarted only after one had ended.
      expect(cluster.spans.indexOf(`+restartWorkloads ${ns} ${TARGET}`), ns).toBeGreaterThan(firstRestartEnded);
    }
    expect(mostMovingAtOnce(cluster)).toBe(4);
    // A slot goes only to a namespace whose workflow the server has started.
    expect(signalledBeforeStarted(await handle.fetchHistory(), 'restartSlot')).toEqual([]);
    await recordHistory(temporal.env.client, handle.workflowId, 'prepare-ahead');
    await recordHistory(temporal.env.client, `${handle.workflowId}/ns/ns-2`, 'prepare-ahead-namespace');
  });

  it('without it, a wave moves `concurrency` namespaces at a time, relabel to verified', async () => {
    const { handle, cluster } = await start(plan({ prepareAhead: undefined }));
    cluster.delays.set('restartWorkloads', 400);
    expect((await handle.result()).phase).toBe('completed');
    expect(cluster.mostAtOnce('restartWorkloads', TARGET)).toBe(2);
    expect(mostMovingAtOnce(cluster)).toBe(2);
  });

  it('continue-as-new mid-wave: the wave drains (slots passed on), then the next run moves the rest', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `ns-${i}`);
    const { handle, cluster } = await start(plan({ namespaces: names }), 60);
    cluster.delays.set('restartWorkloads', 200);
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect((await handle.query(statusQuery)).generation).toBeGreaterThan(0);
    expect(result.namespaces.map((n) => n.state)).toEqual(names.map(() => 'migrated'));
    expect(cluster.callsOf('relabelNamespace')).toHaveLength(12);
    expect(cluster.mostAtOnce('restartWorkloads', TARGET)).toBeLessThanOrEqual(2);
    expect(signalledBeforeStarted(await handle.fetchHistory(), 'restartSlot')).toEqual([]);
  });

  it("signals that are not the run's answers are ignored: the run goes on, one restart at a time", async () => {
    const { handle, cluster } = await start(plan({ concurrency: 1, prepareAhead: 1, namespaces: NAMESPACES.slice(0, 3) }));
    cluster.delays.set('restartWorkloads', 600);
    await waitForStatus(handle, () => cluster.spans.includes('+restartWorkloads ns-0 ' + TARGET));
    // To the run: not a name, and the name of a namespace that waits (it holds no slot to free).
    for (const bad of [null, 42, { namespace: 7 }, { namespace: 'ns-1' }]) await handle.signal('restartSlotFreed', bad);
    // To the namespace that waits: neither a go nor a stop.
    const waiting = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/ns-1`);
    for (const bad of [null, 'go', { restart: 'yes' }]) await waiting.signal('restartSlot', bad);
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(result.namespaces.map((n) => n.state)).toEqual(['migrated', 'migrated', 'migrated']);
    expect(cluster.mostAtOnce('restartWorkloads', TARGET)).toBe(1);
  });

  it('a spent failure budget: the namespaces launched ahead still get their slots before the run asks', async () => {
    const { handle, cluster } = await start(
      plan(
        { concurrency: 1, prepareAhead: 1, namespaces: NAMESPACES.slice(0, 3) },
        { failurePolicy: { onNamespaceFailure: 'rollback-namespace', failureBudget: 1 } },
      ),
    );
    cluster.delays.set('restartWorkloads', 300);
    cluster.failNext('verifyProxies', 'ns-0', 1);
    const s = await waitForStatus(handle, (x) => x.pendingDecision?.step === 'failure-budget');
    // Nothing in flight when the run asks; ns-1, launched ahead, got its slot and finished (ns-2
    // too, when ns-1 finished before ns-0's undo did).
    expect(s.namespaces[0]).toMatchObject({ name: 'ns-0', state: 'failed' });
    expect(s.namespaces[1]).toMatchObject({ name: 'ns-1', state: 'migrated' });
    expect(s.namespaces.filter((n) => n.state === 'migrating')).toEqual([]);
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'failure-budget', decision: 'retry', by: 'bob' }] });
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(result.namespaces.every((n) => n.state === 'migrated')).toBe(true);
    // Restarts onto the target, one at a time; ns-0's undo (back onto the source) is not one of them.
    expect(cluster.mostAtOnce('restartWorkloads', TARGET)).toBe(1);
  });

  it('abort: a namespace waiting for a slot ends where it is, relabelled and not restarted; nothing is undone', async () => {
    const { handle, cluster } = await restartFailedWithOneWaiting('abort', 'look by hand');
    const result = await handle.result();
    expect(result.phase).toBe('aborted');
    expect(result.namespaces.map((n) => n.name)).toEqual(['ns-0', 'ns-1', 'ns-2']);
    expect(cluster.callsOf('restartWorkloads')).toEqual(['restartWorkloads ns-0']);
    expect(cluster.callsOf('relabelNamespace').sort()).toEqual(['relabelNamespace ns-0', 'relabelNamespace ns-1']);
    expect(cluster.callsOf('restoreNamespaceLabels')).toEqual([]);
    expect(cluster.labels.get('ns-1')?.['istio.io/rev']).toBe('istio-1-16-5');
    await recordHistory(temporal.env.client, `${handle.workflowId}/ns/ns-1`, 'prepare-ahead-abort-waiting-namespace');
  });

  it('rollback: a namespace waiting for a slot is cancelled and undoes its relabel', async () => {
    const { handle, cluster } = await restartFailedWithOneWaiting('rollback', 'the new sidecar crashes');
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    // ns-1 never restarted forward: its one restart is the undo's, back onto the source sidecar.
    expect(cluster.callsOf('restartWorkloads').filter((c) => c.endsWith('ns-1'))).toEqual(['restartWorkloads ns-1']);
    expect(cluster.callsOf('restoreNamespaceLabels').sort()).toEqual(['restoreNamespaceLabels ns-0', 'restoreNamespaceLabels ns-1']);
    for (const ns of ['ns-0', 'ns-1', 'ns-2']) expect(cluster.labels.get(ns)?.['istio.io/rev'], ns).toBeUndefined();
  });
});
