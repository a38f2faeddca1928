// The runbook engine on a real Temporal dev server, with activities mocked at the activity
// boundary: gates, operator decisions, compensation order, expiry, authorization, audit.
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { type WorkflowHandle } from '@temporalio/client';
import { migrationWorkflow } from '../../workflows/migration.js';
import {
  TASK_QUEUE,
  gateDecisionSignal,
  gateDecisionUpdate,
  operatorDecisionUpdate,
  rollbackUpdate,
  statusQuery,
  type RunStatus,
} from '../../workflows/messages.js';
import { FakeCluster, dispatchingActivities, testPlan } from '../support/fake-activities.js';
import { refusal, useDevServerWorker, waitForStatus } from '../support/temporal.js';
import { recordHistory } from '../support/histories.js';
import type { Plan } from '../../plan/schema.js';

let cluster: FakeCluster;
// One worker for the file; each test swaps in its own fake cluster.
const current: { cluster?: FakeCluster } = {};

const temporal = useDevServerWorker(() => dispatchingActivities(() => current.cluster!));

async function start(plan: Plan, startedBy = 'alice'): Promise<WorkflowHandle<typeof migrationWorkflow>> {
  cluster = new FakeCluster(plan);
  current.cluster = cluster;
  return temporal.env.client.workflow.start(migrationWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: `test-${randomUUID()}`,
    args: [{ plan, planDigest: 'test', startedBy, options: { heartbeatTimeoutMs: 5_000 } }],
  });
}

/** The namespaces whose migrate workflow completed, in the order the parent saw them complete. */
async function childrenCompleted(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  const prefix = `${handle.workflowId}/ns/`;
  return (history.events ?? [])
    .map((e) => e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId ?? '')
    .filter((id) => id.startsWith(prefix) && !id.endsWith('/rollback'))
    .map((id) => id.slice(prefix.length));
}

async function gateOpen(handle: WorkflowHandle, gate: string): Promise<RunStatus> {
  return waitForStatus(handle, (s) => s.pendingGate?.id === gate);
}

async function approve(handle: WorkflowHandle, gate: string, by = 'bob'): Promise<void> {
  const s = await gateOpen(handle, gate);
  await handle.executeUpdate(gateDecisionUpdate, { args: [{ gate, verdict: 'approve', by, digest: s.pendingGate!.digest }] });
}

async function reject(handle: WorkflowHandle, gate: string, by = 'bob'): Promise<void> {
  const s = await gateOpen(handle, gate);
  await handle.executeUpdate(gateDecisionUpdate, {
    args: [{ gate, verdict: 'reject', by, digest: s.pendingGate!.digest, reason: 'not today' }],
  });
}

/** Namespaces whose labels the fake cluster shows on the target revision. */
function onTarget(plan: Plan): string[] {
  return [...cluster.labels].filter(([, l]) => l['istio.io/rev'] === plan.target.revision).map(([n]) => n);
}

describe('migration workflow (engine)', () => {
  it('runs every phase and gate to completion', async () => {
    const plan = testPlan();
    const handle = await start(plan);
    await approve(handle, 'start');
    await approve(handle, 'dns-cutover');
    await approve(handle, 'decommission', 'carol');
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(result.namespaces.map((n) => n.state)).toEqual(['migrated', 'migrated', 'migrated', 'migrated']);
    expect(onTarget(plan).sort()).toEqual(['frontend', 'inventory', 'orders', 'payments']);
    expect(cluster.dns).toBe('new-gateway');
    // Phases in the checklist's order; the canary wave before the rest.
    const order = ['preflight', 'backup', 'relabelNamespace inventory', 'switchDns', 'verifyDns', 'verifyMesh', 'decommission'];
    const idx = order.map((c) => cluster.calls.indexOf(c));
    expect(idx.every((v, i) => v >= 0 && (i === 0 || v > idx[i - 1]!))).toBe(true);
    expect(cluster.calls.indexOf('verifyTraffic inventory')).toBeLessThan(cluster.calls.indexOf('relabelNamespace payments'));
    const status = await handle.query(statusQuery);
    expect(status.gates.map((g) => [g.id, g.state, g.decidedBy])).toEqual([
      ['start', 'approved', 'bob'],
      ['dns-cutover', 'approved', 'bob'],
      ['decommission', 'approved', 'carol'],
    ]);
    expect(status.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`)).toEqual([
      'bob approve start',
      'bob approve dns-cutover',
      'carol approve decommission',
    ]);
    expect(status.backup?.objects).toBe(12);
    await recordHistory(temporal.env.client, handle.workflowId, 'happy-path');
    await recordHistory(temporal.env.client, `${handle.workflowId}/ns/inventory`, 'happy-path-namespace');
  });

  it('rejecting the start gate undoes nothing and ends rolled-back', async () => {
    const handle = await start(testPlan());
    await reject(handle, 'start');
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    expect(cluster.callsOf('relabelNamespace')).toEqual([]);
  });

  it('rejecting dns-cutover moves every namespace back, newest first', async () => {
    const plan = testPlan();
    const handle = await start(plan);
    await approve(handle, 'start');
    await reject(handle, 'dns-cutover');
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    expect(result.namespaces.every((n) => n.state === 'rolled-back')).toBe(true);
    // The order of migration is the order the namespace workflows completed (when each registered
    // its undo); two in one wave may finish in either order.
    const migratedOrder = await childrenCompleted(handle);
    expect([...migratedOrder].sort()).toEqual(['frontend', 'inventory', 'orders', 'payments']);
    const restoredOrder = cluster.callsOf('restoreNamespaceLabels').map((c) => c.split(' ')[1]);
    expect(restoredOrder).toEqual([...migratedOrder].reverse());
    expect(onTarget(plan)).toEqual([]);
    expect(cluster.labels.get('inventory')).toEqual({ 'istio-injection': 'enabled', team: 'inventory' });
    expect(cluster.callsOf('switchDns')).toEqual([]);
    await recordHistory(temporal.env.client, handle.workflowId, 'reject-dns-cutover');
    await recordHistory(temporal.env.client, `${handle.workflowId}/ns/inventory/rollback`, 'reject-dns-cutover-namespace-rollback');
  });

  it('rejecting decommission points DNS back before moving namespaces back', async () => {
    const plan = testPlan();
    const handle = await start(plan);
    await approve(handle, 'start');
    await approve(handle, 'dns-cutover');
    await reject(handle, 'decommission');
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    expect(cluster.dns).toBe('old-gateway');
    const dnsBack = cluster.calls.lastIndexOf('switchDns');
    const firstRestore = cluster.calls.findIndex((c) => c.startsWith('restoreNamespaceLabels'));
    expect(dnsBack).toBeGreaterThan(0);
    expect(dnsBack).toBeLessThan(firstRestore);
    expect(cluster.callsOf('decommission')).toEqual([]);
    const status = await handle.query(statusQuery);
    expect(status.steps.find((s) => s.id === 'dns-switch')?.state).toBe('compensated');
  });

  it('an undo that fails pauses with its step shown as being undone; retry finishes the rollback', async () => {
    const plan = testPlan();
    const handle = await start(plan);
    await approve(handle, 'start');
    await approve(handle, 'dns-cutover');
    await waitForStatus(handle, (s) => s.pendingGate?.id === 'decommission');
    cluster.failNext('switchDns');
    await reject(handle, 'decommission');
    const paused = await waitForStatus(handle, (s) => s.pendingDecision !== null);
    expect(paused.pendingDecision).toMatchObject({ step: 'undo:dns-switch', allowed: ['retry', 'skip'], errorType: 'CheckFailed' });
    expect(paused.steps.find((x) => x.id === 'dns-switch')?.state).toBe('compensating');
    cluster.fix('switchDns');
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'undo:dns-switch', decision: 'retry', by: 'bob' }] });
    expect((await handle.result()).phase).toBe('rolled-back');
    expect(cluster.dns).toBe('old-gateway');
    expect((await handle.query(statusQuery)).steps.find((x) => x.id === 'dns-switch')?.state).toBe('compensated');
  });

  it('a failed step pauses; retry after the fix succeeds', async () => {
    const plan = testPlan({ gates: { start: false, dnsCutover: false, decommission: false } });
    const handle = await start(plan);
    cluster.failNext('restartWorkloads', 'inventory');
    const paused = await waitForStatus(
      handle,
      (s) => s.namespaces.some((n) => n.name === 'inventory' && n.state === 'migrating') && s.phase === 'namespaces',
    );
    expect(paused.pendingDecision).toBeNull(); // the decision is in the namespace's own workflow
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/inventory`);
    const s = await waitForStatus(child, (x) => x.pendingDecision !== null);
    expect(s.pendingDecision).toMatchObject({ step: 'restart', allowed: ['retry', 'skip', 'rollback', 'abort'] });
    expect(s.pendingDecision!.error).toContain('injected failure of restartWorkloads inventory');
    // The fix, then the decision.
    cluster.fix('restartWorkloads', 'inventory');
    await child.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'restart', decision: 'retry', by: 'bob' }] });
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(cluster.callsOf('restartWorkloads').filter((c) => c.endsWith('inventory'))).toHaveLength(2);
    const childStatus = await child.query(statusQuery);
    expect(childStatus.steps.find((x) => x.id === 'restart')).toMatchObject({ state: 'succeeded', attempts: 2 });
    await recordHistory(temporal.env.client, child.workflowId, 'retry-namespace');
  });

  it('skip passes over a failed step and records it', async () => {
    const plan = testPlan({ gates: { start: false, dnsCutover: false, decommission: false } });
    const handle = await start(plan);
    cluster.failNext('verifyTraffic', 'orders');
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/orders`);
    await waitForStatus(child, (x) => x.pendingDecision?.step === 'verify-traffic');
    const why = await refusal(
      child.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'verify-traffic', decision: 'skip', by: 'bob' }] }),
    );
    expect(why).toContain('needs a reason');
    await child.executeUpdate(operatorDecisionUpdate, {
      args: [{ step: 'verify-traffic', decision: 'skip', by: 'bob', reason: 'probe target under maintenance' }],
    });
    expect((await handle.result()).phase).toBe('completed');
    const st = await child.query(statusQuery);
    expect(st.steps.find((x) => x.id === 'verify-traffic')?.state).toBe('skipped');
    expect(st.audit.at(-1)).toMatchObject({
      by: 'bob',
      action: 'decide skip verify-traffic',
      accepted: true,
      reason: 'probe target under maintenance',
    });
    await recordHistory(temporal.env.client, child.workflowId, 'skip-namespace');
  });

  it('rollback decided at a failed step undoes the whole run', async () => {
    const plan = testPlan({ gates: { start: false, dnsCutover: false, decommission: false } });
    const handle = await start(plan);
    cluster.failNext('waitCaReady', 'payments');
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/payments`);
    await waitForStatus(child, (x) => x.pendingDecision?.step === 'ca-ready');
    await child.executeUpdate(operatorDecisionUpdate, {
      args: [{ step: 'ca-ready', decision: 'rollback', by: 'bob', reason: 'CA never arrives' }],
    });
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    expect(onTarget(plan)).toEqual([]);
    expect(cluster.callsOf('switchDns')).toEqual([]);
  });

  it('abort stops where it is and undoes nothing', async () => {
    const plan = testPlan({ gates: { start: false, dnsCutover: false, decommission: false } });
    const handle = await start(plan);
    cluster.failNext('verifyProxies', 'inventory');
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/inventory`);
    await waitForStatus(child, (x) => x.pendingDecision?.step === 'verify-proxies');
    await child.executeUpdate(operatorDecisionUpdate, {
      args: [{ step: 'verify-proxies', decision: 'abort', by: 'bob', reason: 'investigate by hand' }],
    });
    const result = await handle.result();
    expect(result.phase).toBe('aborted');
    expect(onTarget(plan)).toEqual(['inventory']);
    expect(cluster.callsOf('restoreNamespaceLabels')).toEqual([]);
  });

  it('a blocking preflight pauses before the start gate', async () => {
    const plan = testPlan();
    const handle = await start(plan);
    cluster.preflightBlocking = 1;
    // The fake reads preflightBlocking at call time; set before the activity runs.
    const s = await waitForStatus(handle, (x) => x.pendingDecision?.step === 'preflight' || x.pendingGate?.id === 'start');
    if (s.pendingGate) throw new Error('preflight ran before the fault was set; test is racy');
    expect(s.pendingDecision!.error).toContain('root-ca: different roots (fix: plug in a shared CA)');
    cluster.preflightBlocking = 0;
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'preflight', decision: 'retry', by: 'bob' }] });
    await gateOpen(handle, 'start');
    await handle.executeUpdate(rollbackUpdate, { args: [{ by: 'bob', reason: 'rehearsal only' }] });
    expect((await handle.result()).phase).toBe('rolled-back');
  });

  it('an expired gate counts as rejected', async () => {
    const plan = testPlan({ gates: { expiresAfter: '2s' } });
    const handle = await start(plan);
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    const st = await handle.query(statusQuery);
    expect(st.gates[0]).toMatchObject({ id: 'start', state: 'expired' });
    expect(cluster.callsOf('relabelNamespace')).toEqual([]);
  });

  it('refuses unknown gates, strangers, the starter, stale digests and reasonless rejections, and audits signals', async () => {
    const handle = await start(testPlan());
    const s = await gateOpen(handle, 'start');
    const digest = s.pendingGate!.digest;
    const ask = (req: { gate?: string; verdict?: 'approve' | 'reject'; by?: string; digest?: string; reason?: string }) =>
      refusal(handle.executeUpdate(gateDecisionUpdate, { args: [{ gate: 'start', verdict: 'approve', by: 'bob', digest, ...req }] }));
    expect(await ask({ gate: 'dns-cutover' })).toContain('unknown gate "dns-cutover"; open now: start');
    expect(await ask({ by: 'mallory' })).toContain('mallory is not an approver');
    expect(await ask({ by: 'alice' })).toContain('four-eyes: alice started this run');
    expect(await ask({ digest: '0000000000000000' })).toContain('stale approval');
    expect(await ask({ verdict: 'reject' })).toContain('needs a reason');
    // The same refused decision by signal is recorded and ignored.
    await handle.signal(gateDecisionSignal, { gate: 'start', verdict: 'approve', by: 'mallory', digest });
    const after = await waitForStatus(handle, (x) => x.audit.length > 0);
    expect(after.audit[0]).toMatchObject({ by: 'mallory', accepted: false, via: 'signal' });
    expect(after.pendingGate?.id).toBe('start');
    // A valid signal works like the update.
    await handle.signal(gateDecisionSignal, { gate: 'start', verdict: 'approve', by: 'carol', digest });
    await waitForStatus(handle, (x) => x.gates[0]?.state === 'approved');
    expect(await ask({})).toContain('gate "start" is not open: it was approved by carol');
    await handle.cancel();
    expect((await handle.result()).phase).toBe('rolled-back');
    await recordHistory(temporal.env.client, handle.workflowId, 'refusals-and-cancel');
  });

  it('with plan.analysis: a baseline before the first relabel, each namespace judged after its probes, the gateways after the TTL, drained before decommission', async () => {
    const plan = testPlan({ analysis: { prometheus: { url: 'http://127.0.0.1:9090' }, drain: { window: '2m' } } });
    const handle = await start(plan);
    await approve(handle, 'start');
    await approve(handle, 'dns-cutover');
    const gate = await gateOpen(handle, 'decommission');
    expect(gate.pendingGate!.summary.details).toContain('old gateway: the old gateway has carried no request for 120s');
    await approve(handle, 'decommission', 'carol');
    expect((await handle.result()).phase).toBe('completed');
    const order = [
      'backup',
      'trafficBaseline',
      'relabelNamespace inventory',
      'verifyTraffic inventory',
      'checkNamespaceTraffic inventory',
      'relabelNamespace payments',
      'verifyDns',
      'awaitGatewayShift',
      'verifyMesh',
      'awaitGatewayDrained',
      'decommission',
    ];
    const idx = order.map((c) => cluster.calls.indexOf(c));
    expect(
      idx.every((v, i) => v >= 0 && (i === 0 || v > idx[i - 1]!)),
      cluster.calls.join(', '),
    ).toBe(true);
    // Each namespace is compared with its own baseline.
    expect(cluster.trafficBaselines.get('orders')).toEqual({ requestRate: 1, errorRatio: 0 });
    const status = await handle.query(statusQuery);
    expect(status.steps.map((st) => st.id)).toEqual(expect.arrayContaining(['traffic-baseline', 'traffic-shift', 'gateway-drained']));
    expect(status.steps.find((st) => st.id === 'traffic-baseline')!.summary).toBe(
      '4 namespace(s) with traffic (4.00 req/s), 0 without; no errors; old gateway 2.00 req/s',
    );
    await recordHistory(temporal.env.client, handle.workflowId, 'analysis');
    await recordHistory(temporal.env.client, `${handle.workflowId}/ns/inventory`, 'analysis-namespace');
  });

  it('rollback-namespace: a failing namespace is moved back, the budget pauses the run, retry moves it again', async () => {
    const plan = testPlan({
      gates: { start: false, dnsCutover: false, decommission: false },
      failurePolicy: { onNamespaceFailure: 'rollback-namespace', failureBudget: 1 },
    });
    const handle = await start(plan);
    cluster.failNext('verifyTraffic', 'inventory', 1);
    const s = await waitForStatus(handle, (x) => x.pendingDecision?.step === 'failure-budget');
    expect(s.namespaces.find((n) => n.name === 'inventory')).toMatchObject({ state: 'failed' });
    expect(s.pendingDecision!.error).toContain('inventory');
    // It was moved back by its own workflow before the run paused.
    expect(cluster.labels.get('inventory')).toEqual({ 'istio-injection': 'enabled', team: 'inventory' });
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'failure-budget', decision: 'retry', by: 'bob' }] });
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(result.namespaces.every((n) => n.state === 'migrated')).toBe(true);
    expect(cluster.callsOf('relabelNamespace').filter((c) => c.endsWith('inventory'))).toHaveLength(2);
  });

  it('continues as new on big runs and keeps its gates, audit and compensations', async () => {
    const namespaces = Array.from({ length: 24 }, (_, i) => `ns-${i}`);
    const plan = testPlan({
      waves: [{ name: 'all', concurrency: 4, namespaces }],
      gates: { start: true, dnsCutover: true, decommission: false },
      verification: { crossNamespace: [], gateway: [] },
    });
    const handle = temporal.env.client.workflow.getHandle(
      await (async () => {
        cluster = new FakeCluster(plan);
        current.cluster = cluster;
        const h = await temporal.env.client.workflow.start(migrationWorkflow, {
          taskQueue: TASK_QUEUE,
          workflowId: `test-${randomUUID()}`,
          args: [{ plan, planDigest: 'test', startedBy: 'alice', options: { maxHistoryEvents: 50 } }],
        });
        return h.workflowId;
      })(),
    );
    await approve(handle, 'start');
    // What is carried across continue-as-new stays small: a migrated namespace keeps no child id,
    // its compensation no title (the rollback names it).
    const migrated = await waitForStatus(handle, (s) => s.pendingGate?.id === 'dns-cutover');
    expect(migrated.namespaces.filter((n) => n.state === 'migrated')).toHaveLength(24);
    expect(migrated.namespaces.filter((n) => n.workflowId !== undefined)).toEqual([]);
    await reject(handle, 'dns-cutover', 'carol');
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    const st = await handle.query(statusQuery);
    expect(st.generation).toBeGreaterThan(0);
    expect(st.steps.find((s) => s.id === 'undo:namespace:ns-3')).toMatchObject({
      title: `Undo: move ns-3 back to ${plan.source.revision}`,
      state: 'succeeded',
    });
    expect(st.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`)).toEqual(['bob approve start', 'carol reject dns-cutover']);
    expect(cluster.callsOf('restoreNamespaceLabels')).toHaveLength(24);
    expect([...cluster.labels.values()].every((l) => l['istio.io/rev'] === undefined)).toBe(true);
    await recordHistory(temporal.env.client, handle.workflowId, 'continue-as-new-last-run');
  });

  it('a namespace gate lives in the namespace workflow; rejecting it rolls the run back', async () => {
    const plan = testPlan({ gates: { start: false, namespace: true, dnsCutover: false, decommission: false } });
    const handle = await start(plan);
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/inventory`);
    const cs = await waitForStatus(child, (x) => x.pendingGate?.id === 'namespace:inventory');
    expect(cs.pendingGate!.summary.commands?.[0]).toContain(
      'kubectl label namespace inventory istio.io/rev=istio-1-16-5 usergroup=istio-1-16-5 istio-injection-',
    );
    await child.executeUpdate(gateDecisionUpdate, {
      args: [{ gate: 'namespace:inventory', verdict: 'approve', by: 'bob', digest: cs.pendingGate!.digest }],
    });
    const next = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/payments`);
    const ps = await waitForStatus(next, (x) => x.pendingGate?.id === 'namespace:payments');
    await next.executeUpdate(gateDecisionUpdate, {
      args: [{ gate: 'namespace:payments', verdict: 'reject', by: 'bob', digest: ps.pendingGate!.digest, reason: 'payments freeze' }],
    });
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    expect(onTarget(plan)).toEqual([]);
    expect(cluster.callsOf('relabelNamespace')).toEqual(['relabelNamespace inventory']);
  });

  it('select waves: resolved once before the start gate, shown there and in status; a namespace created later is not moved', async () => {
    const plan = testPlan({
      waves: [
        { name: 'canary', concurrency: 1, select: { names: ['inv*'] } },
        { name: 'rest', concurrency: 2, select: { injectedBy: 'source', exclude: ['legacy'] } },
        { name: 'stragglers', concurrency: 1, select: { matchLabels: { tier: 'none' } } },
      ],
    });
    cluster = new FakeCluster(plan);
    current.cluster = cluster;
    for (const ns of ['inventory', 'payments', 'orders', 'frontend', 'legacy']) cluster.addNamespace(ns);
    cluster.addNamespace('istio-system'); // the source's own namespace (istio-injection=enabled): never taken
    cluster.addNamespace('tools', { team: 'tools' }); // not injected by the source
    const handle = await temporal.env.client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `test-${randomUUID()}`,
      args: [{ plan, planDigest: 'test', startedBy: 'alice', options: { heartbeatTimeoutMs: 5_000 } }],
    });
    const gate = await gateOpen(handle, 'start');
    expect(gate.pendingGate!.summary.title).toBe('Move 4 namespace(s) from default to istio-1-16-5');
    expect(gate.pendingGate!.summary.details.slice(0, 3)).toEqual([
      'wave 1 "canary" (1 at a time; select: names inv*): inventory',
      'wave 2 "rest" (2 at a time; select: injected by the source; except legacy): frontend, orders, payments',
      'wave 3 "stragglers" (1 at a time; select: labels tier=none): no namespace matched: this wave moves nothing',
    ]);
    expect(gate.pendingGate!.summary.details).toContain(
      'not in any wave, still injected by the source (no sidecar for their new pods after the decommission): legacy',
    );
    expect(gate.namespaces.map((n) => `${n.wave}/${n.name}`)).toEqual([
      'canary/inventory',
      'rest/frontend',
      'rest/orders',
      'rest/payments',
    ]);
    expect(gate.steps.find((st) => st.id === 'resolve-waves')?.summary).toBe(
      'canary: inventory; rest: frontend, orders, payments; stragglers: none',
    );
    // Resolved before preflight, so preflight and backup saw the concrete list.
    expect(cluster.calls.slice(0, 3)).toEqual(['resolveWaves', 'preflight', 'backup']);
    // Created while the gate is open: matches the select, but the list was fixed and approved.
    cluster.addNamespace('inventory-2');
    await approve(handle, 'start');
    await approve(handle, 'dns-cutover');
    await approve(handle, 'decommission', 'carol');
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(result.namespaces.map((n) => `${n.name} ${n.state}`)).toEqual([
      'inventory migrated',
      'frontend migrated',
      'orders migrated',
      'payments migrated',
    ]);
    expect(onTarget(plan).sort()).toEqual(['frontend', 'inventory', 'orders', 'payments']);
    expect(cluster.callsOf('relabelNamespace').sort()).toEqual([
      'relabelNamespace frontend',
      'relabelNamespace inventory',
      'relabelNamespace orders',
      'relabelNamespace payments',
    ]);
    expect(cluster.callsOf('resolveWaves')).toHaveLength(1);
    expect(cluster.calls.indexOf('verifyTraffic inventory')).toBeLessThan(cluster.calls.indexOf('relabelNamespace frontend'));
    const status = await handle.query(statusQuery);
    expect(status.namespaces.map((n) => n.name)).toEqual(['inventory', 'frontend', 'orders', 'payments']);
  });

  it('select waves that resolve to nothing pause the run; retry after labelling resolves again', async () => {
    const plan = testPlan({
      gates: { start: true, dnsCutover: false, decommission: false },
      waves: [{ name: 'all', concurrency: 2, select: { matchLabels: { movable: 'yes' } } }],
    });
    cluster = new FakeCluster(plan);
    current.cluster = cluster;
    cluster.addNamespace('orders');
    const handle = await temporal.env.client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `test-${randomUUID()}`,
      args: [{ plan, planDigest: 'test', startedBy: 'alice', options: { heartbeatTimeoutMs: 5_000 } }],
    });
    const paused = await waitForStatus(handle, (x) => x.pendingDecision?.step === 'resolve-waves');
    expect(paused.pendingDecision!.error).toContain('no wave selected any namespace ("all": labels movable=yes)');
    expect(paused.pendingDecision!.allowed).toEqual(['retry', 'abort']);
    expect(cluster.callsOf('preflight')).toEqual([]);
    cluster.addNamespace('orders', { 'istio-injection': 'enabled', movable: 'yes' });
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'resolve-waves', decision: 'retry', by: 'bob' }] });
    const gate = await gateOpen(handle, 'start');
    expect(gate.pendingGate!.summary.details[0]).toBe('wave 1 "all" (2 at a time; select: labels movable=yes): orders');
    await approve(handle, 'start');
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(onTarget(plan)).toEqual(['orders']);
  });

  it('select waves: continue-as-new keeps the resolution and does not resolve again', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `ns-${String(i).padStart(2, '0')}`);
    const plan = testPlan({
      waves: [{ name: 'all', concurrency: 4, select: { names: ['ns-*'] } }],
      gates: { start: true, dnsCutover: false, decommission: false },
      verification: { crossNamespace: [], gateway: [] },
    });
    cluster = new FakeCluster(plan);
    current.cluster = cluster;
    for (const ns of names) cluster.addNamespace(ns);
    const handle = await temporal.env.client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `test-${randomUUID()}`,
      args: [{ plan, planDigest: 'test', startedBy: 'alice', options: { maxHistoryEvents: 50 } }],
    });
    await gateOpen(handle, 'start');
    cluster.addNamespace('ns-99');
    await approve(handle, 'start');
    // The handle follows the continued runs to the last one's result.
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    const st = await temporal.env.client.workflow.getHandle(handle.workflowId).query(statusQuery);
    expect(st.generation).toBeGreaterThan(0);
    expect(result.namespaces.map((n) => n.name)).toEqual(names);
    expect(cluster.callsOf('resolveWaves')).toHaveLength(1);
    expect(
      cluster
        .callsOf('relabelNamespace')
        .map((c) => c.split(' ')[1])
        .sort(),
    ).toEqual(names);
  });
});
