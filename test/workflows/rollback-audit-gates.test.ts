// The engine on a real Temporal dev server with fake activities (issue 8 of the tracker):
// - a rollback requested while a namespace's step runs waits for that step's activity to have
//   really stopped before any compensation starts (else the two restarts fight over the restart key);
// - decisions made in a namespace's child workflow (its gate, its failed steps), accepted or
//   refused, appear in the run's own audit trail with the namespace;
// - the start gate's summary names a blocking preflight check an operator skipped, who and why.
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { heartbeat, sleep } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { MigrationActivities } from '../../activities/contract.js';
import { migrationWorkflow } from '../../workflows/migration.js';
import {
  TASK_QUEUE,
  gateDecisionSignal,
  gateDecisionUpdate,
  namespaceAuditSignal,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  rollbackUpdate,
  statusQuery,
} from '../../workflows/messages.js';
import { FakeCluster, dispatchTo, testPlan } from '../support/fake-activities.js';
import { useDevServerWorker, waitForStatus } from '../support/temporal.js';
import { recordHistory } from '../support/histories.js';
import type { Plan } from '../../plan/schema.js';

const current: { activities?: MigrationActivities } = {};

const temporal = useDevServerWorker(() => dispatchTo(() => current.activities!));

function start(plan: Plan, activities: MigrationActivities, heartbeatTimeoutMs = 5_000): Promise<WorkflowHandle<typeof migrationWorkflow>> {
  current.activities = activities;
  return temporal.env.client.workflow.start(migrationWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: `test-${randomUUID()}`,
    args: [{ plan, planDigest: 'test', startedBy: 'alice', options: { heartbeatTimeoutMs } }],
  });
}

const NO_GATES = { start: false, dnsCutover: false, decommission: false } as const;
const ONE_NAMESPACE = [{ name: 'canary', concurrency: 1, namespaces: ['inventory'] }];

describe('a rollback requested while a namespace step runs', () => {
  it('compensation starts only after the cancelled activity has really stopped', async () => {
    const plan = testPlan({ gates: NO_GATES, waves: ONE_NAMESPACE });
    const cluster = new FakeCluster(plan);
    const fake = cluster.activities();
    // A restart that heartbeats, learns of the cancellation through its heartbeat, and needs a
    // moment to stop (a patch in flight): what the real restartWorkloads does on a cluster.
    const activities: MigrationActivities = {
      ...fake,
      restartWorkloads: async (input) => {
        cluster.calls.push(`restartWorkloads ${input.namespace} ${input.key.split('/').pop()}`);
        if (input.key.endsWith('/rollback')) return { workloads: [], alreadyRestarted: 0 };
        try {
          for (;;) {
            heartbeat({ key: input.key });
            await sleep(50);
          }
        } catch (err) {
          // Well within the heartbeat timeout, so that it is not taken for a lost worker.
          await new Promise((r) => setTimeout(r, 1_000));
          cluster.calls.push(`restartWorkloads ${input.namespace} stopped`);
          throw err;
        }
      },
    };
    const handle = await start(plan, activities, 3_000);
    await expect.poll(() => cluster.calls, { timeout: 60_000, message: 'restart started' }).toContain('restartWorkloads inventory migrate');
    await new Promise((r) => setTimeout(r, 200));
    await handle.executeUpdate(rollbackUpdate, { args: [{ by: 'bob', reason: 'stop the change' }] });
    const result = await handle.result();
    expect(result.phase).toBe('rolled-back');
    const stopped = cluster.calls.indexOf('restartWorkloads inventory stopped');
    const restored = cluster.calls.indexOf('restoreNamespaceLabels inventory');
    expect(stopped, cluster.calls.join(', ')).toBeGreaterThan(0);
    expect(restored, cluster.calls.join(', ')).toBeGreaterThan(stopped);
    expect(cluster.calls.indexOf('restartWorkloads inventory rollback')).toBeGreaterThan(stopped);
    // The interrupted step is recorded as interrupted, the namespace as rolled back.
    const child = await temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/inventory`).query(statusQuery);
    expect(child.steps.find((s) => s.id === 'restart')).toMatchObject({ state: 'failed', lastError: 'interrupted by a rollback' });
    expect(result.namespaces).toEqual([expect.objectContaining({ name: 'inventory', state: 'rolled-back' })]);
    await recordHistory(temporal.env.client, `${handle.workflowId}/ns/inventory`, 'rollback-during-restart-namespace');
  });
});

describe("a namespace's decisions in the run's audit trail", () => {
  it('its gate and its failed step, accepted and refused, with the namespace, who, when and why', async () => {
    const plan = testPlan({ gates: { ...NO_GATES, namespace: true }, waves: ONE_NAMESPACE });
    const cluster = new FakeCluster(plan);
    cluster.failNext('restartWorkloads', 'inventory');
    const handle = await start(plan, cluster.activities());
    // Anyone may signal the run: an entry that does not come from one of its namespaces is refused.
    await handle.signal(namespaceAuditSignal, {
      at: '2026-01-01T00:00:00.000Z',
      by: 'mallory',
      action: 'approve namespace:inventory',
      accepted: true,
      via: 'update',
      namespace: 'inventory',
      workflowId: 'elsewhere',
    });
    await waitForStatus(handle, (x) => x.audit.length === 1);
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/inventory`);
    const gate = await waitForStatus(child, (x) => x.pendingGate?.id === 'namespace:inventory');
    const digest = gate.pendingGate!.digest;
    // The starter may not approve (four-eyes): refused, and audited because it came as a signal.
    await child.signal(gateDecisionSignal, { gate: 'namespace:inventory', verdict: 'approve', by: 'alice', digest });
    await waitForStatus(child, (x) => x.audit.length === 1);
    await child.executeUpdate(gateDecisionUpdate, {
      args: [{ gate: 'namespace:inventory', verdict: 'approve', by: 'bob', digest, reason: 'window open' }],
    });
    await waitForStatus(child, (x) => x.pendingDecision?.step === 'restart');
    await child.signal(operatorDecisionSignal, { step: 'restart', decision: 'skip', by: 'carol' });
    await waitForStatus(child, (x) => x.audit.length === 3);
    cluster.fix('restartWorkloads', 'inventory');
    await child.executeUpdate(operatorDecisionUpdate, {
      args: [{ step: 'restart', decision: 'retry', by: 'carol', reason: 'rollout unstuck' }],
    });
    const result = await handle.result();
    expect(result.phase).toBe('completed');

    const run = await handle.query(statusQuery);
    const childWorkflowId = `${handle.workflowId}/ns/inventory`;
    expect(run.audit[0]).toMatchObject({
      by: 'mallory',
      action: 'report approve namespace:inventory',
      accepted: false,
      via: 'signal',
      reason: expect.stringContaining('elsewhere'),
    });
    expect(run.audit.slice(1).map(({ at: _at, ...rest }) => rest)).toEqual([
      {
        namespace: 'inventory',
        workflowId: childWorkflowId,
        by: 'alice',
        action: 'approve namespace:inventory',
        accepted: false,
        via: 'signal',
        reason: expect.stringContaining('four-eyes'),
      },
      {
        namespace: 'inventory',
        workflowId: childWorkflowId,
        by: 'bob',
        action: 'approve namespace:inventory',
        accepted: true,
        via: 'update',
        reason: 'window open',
      },
      {
        namespace: 'inventory',
        workflowId: childWorkflowId,
        by: 'carol',
        action: 'decide skip restart',
        accepted: false,
        via: 'signal',
        reason: expect.stringContaining('needs a reason'),
      },
      {
        namespace: 'inventory',
        workflowId: childWorkflowId,
        by: 'carol',
        action: 'decide retry restart',
        accepted: true,
        via: 'update',
        reason: 'rollout unstuck',
      },
    ]);
    // When: the time the namespace's workflow recorded it.
    const own = (await child.query(statusQuery)).audit;
    expect(run.audit.slice(1).map((a) => a.at)).toEqual(own.map((a) => a.at));
    expect(run.audit.every((a) => !Number.isNaN(Date.parse(a.at)))).toBe(true);
    await recordHistory(temporal.env.client, handle.workflowId, 'namespace-decisions-in-run-audit');
    await recordHistory(temporal.env.client, childWorkflowId, 'namespace-decisions-in-run-audit-namespace');
  });
});

describe('the start gate after a skipped blocking preflight check', () => {
  it('says which check was skipped, by whom and why', async () => {
    const plan = testPlan({ waves: ONE_NAMESPACE });
    const cluster = new FakeCluster(plan);
    cluster.preflightBlocking = 1;
    const handle = await start(plan, cluster.activities());
    await waitForStatus(handle, (x) => x.pendingDecision?.step === 'preflight');
    await handle.executeUpdate(operatorDecisionUpdate, {
      args: [{ step: 'preflight', decision: 'skip', by: 'bob', reason: 'shared CA is plugged in next week; accepted by security' }],
    });
    const s = await waitForStatus(handle, (x) => x.pendingGate?.id === 'start');
    const skippedLine = s.pendingGate!.summary.details.find((d) => d.includes('root-ca'));
    expect(skippedLine, JSON.stringify(s.pendingGate!.summary.details)).toBeDefined();
    expect(skippedLine).toContain('skipped');
    expect(skippedLine).toContain('different roots');
    expect(skippedLine).toContain('bob');
    expect(skippedLine).toContain('shared CA is plugged in next week; accepted by security');
    await handle.executeUpdate(gateDecisionUpdate, {
      args: [{ gate: 'start', verdict: 'reject', by: 'carol', digest: s.pendingGate!.digest, reason: 'not with a skipped check' }],
    });
    expect((await handle.result()).phase).toBe('rolled-back');
    await recordHistory(temporal.env.client, handle.workflowId, 'start-gate-skipped-preflight');
  });

  it('a preflight that passed after a retry mentions no skipped check', async () => {
    const plan = testPlan({ waves: ONE_NAMESPACE });
    const cluster = new FakeCluster(plan);
    cluster.preflightBlocking = 1;
    const handle = await start(plan, cluster.activities());
    await waitForStatus(handle, (x) => x.pendingDecision?.step === 'preflight');
    cluster.preflightBlocking = 0;
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ step: 'preflight', decision: 'retry', by: 'bob' }] });
    const s = await waitForStatus(handle, (x) => x.pendingGate?.id === 'start');
    expect(s.pendingGate!.summary.details.join('\n')).not.toMatch(/skipped|root-ca/i);
    await handle.executeUpdate(rollbackUpdate, { args: [{ by: 'bob', reason: 'rehearsal only' }] });
    expect((await handle.result()).phase).toBe('rolled-back');
  });
});
