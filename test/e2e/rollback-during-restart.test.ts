// End to end (issue 8): a rollback requested while a namespace's rollout restart is in progress.
// On a real cluster the compensation started while the cancelled forward restart still ran, and the
// two re-patched each other's restart key: 12 + 12 rolling restarts of each workload in 24 s. Here,
// on the twin with slow pod starts, through the CLI and a worker with the real activities, the
// twin's `applied` counters (GET /_twin/requests) must show each workload restarted exactly twice:
// once forward, once back, and the namespace ends on the source as the backup recorded it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { statusQuery } from '../../workflows/messages.js';
import {
  APPROVER,
  type Cli,
  SOURCE_REV,
  STARTER,
  TERMINAL,
  type Twins,
  approveWhenOpen,
  backedUpLabels,
  describeSeen,
  elapsed,
  namespaceLabels,
  podRevisions,
  startE2eTwin,
  startMultiTwinStack,
  stopStack,
  tempDir,
  twinCounters,
  twinProxies,
  waitForRun,
  writePlan,
  type RunningWorker,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twins: Twins;
let worker: RunningWorker;
let cli: Cli;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twins, worker, cli } = await startMultiTwinStack());
});

afterAll(() => stopStack({ env, twins, worker }, 'rollback-during-restart.test.ts', fileStart));

/** The orders namespace's workloads, as the twin's counters name them. */
const ORDERS = ['apps/deployments/orders/orders', 'apps/statefulsets/orders/orders-ledger'];

describe('a rollback requested while a namespace restarts', () => {
  it('restarts each workload once forward and once back, never more, and ends on the source', async () => {
    const t0 = Date.now();
    // Each new pod takes 5 s to start: the restart of orders is surely in progress when the
    // rollback comes. (Pod start, not rolloutPodDelayMs: see the note in restart-interrupted-twin.test.ts.)
    const twin = twins.add(
      await startE2eTwin({
        context: 'e2e-rollback-during-restart',
        overrides: { timings: { podStartDelayMs: 5_000, rolloutPodDelayMs: 0, caRewriteDelayMs: 200 } },
      }),
    );
    const plan = await writePlan(twin, await tempDir('rollback-during-restart'), (p) => {
      // orders first: it has two workloads (a Deployment and a StatefulSet), restarted at once.
      p.waves = [
        { name: 'canary', concurrency: 1, namespaces: ['orders'] },
        { name: 'rest', concurrency: 2, namespaces: ['inventory', 'payments', 'frontend'] },
      ];
    });
    const id = 'e2e-rollback-during-restart';
    twin.control.resetCounters();
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');

    // Wait for the forward restart to have patched both workloads, then ask for the rollback.
    const restarts = async (): Promise<Record<string, number>> => {
      const applied = (await twinCounters(twin)).applied;
      return Object.fromEntries(ORDERS.map((w) => [w, (applied[`patch ${w}`] ?? 0) + (applied[`update ${w}`] ?? 0)]));
    };
    await expect
      .poll(restarts, { timeout: 120_000, message: 'every orders workload restarted' })
      .toSatisfy((counts: Record<string, number>) => Object.values(counts).every((n) => n >= 1));
    const child = env.client.workflow.getHandle(`${id}/ns/orders`);
    const during = await child.query(statusQuery);
    expect(during.currentStep, 'the rollback is requested during the restart').toBe('restart');
    expect(
      (await twinProxies(twin)).filter((p) => p.pod.startsWith('orders/') && p.revision === SOURCE_REV).length,
      'old pods still running',
    ).toBeGreaterThan(0);
    const rolledBack = await cli.run(['rollback', id, '--reason', 'e2e: roll back during the restart'], APPROVER);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);

    const end = await waitForRun(
      env.client,
      id,
      (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0,
      'the rollback',
    );
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
    // Let a restart that might still be running show itself before counting.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await restarts(), 'restarts applied per workload (one forward, one back)').toEqual(
      Object.fromEntries(ORDERS.map((w) => [w, 2])),
    );
    const counters = await twinCounters(twin);
    for (const ns of ['inventory', 'payments', 'frontend']) {
      expect(
        Object.keys(counters.applied).filter((k) => k.startsWith('patch apps/') && k.includes(`/${ns}/`)),
        `${ns} was never touched`,
      ).toEqual([]);
    }

    const s = await cli.status(id);
    expect(s.namespaces.find((n) => n.name === 'orders')?.state).toBe('rolled-back');
    expect(await namespaceLabels(twin, 'orders')).toEqual(await backedUpLabels(s.backup!.location, 'orders'));
    const revs = await podRevisions(twin, 'orders');
    expect(
      Object.values(revs).every((r) => r === SOURCE_REV),
      JSON.stringify(revs),
    ).toBe(true);
    for (const p of (await twinProxies(twin)).filter((x) => x.pod.startsWith('orders/')))
      expect(p, p.pod).toMatchObject({ revision: SOURCE_REV, connected: true, stale: false });
    console.log(`[e2e] rollback during a restart: ${elapsed(t0)}`);
  }, 600_000);
});
