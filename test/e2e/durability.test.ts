// End to end durability: the worker (real activities, its own process) killed with SIGKILL in the
// middle of a namespace's rollout restart, and separately the Temporal dev server killed and
// restarted on its database mid-run. Each run completes, and the twin's request counters prove that
// nothing was applied twice: each namespace relabeled once, each workload restarted once.
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { startLocalTemporal, type LocalTemporal } from '../../client/local-temporal.js';
import type { Twin } from '../../twin/index.js';
import { installRuntime } from '../../worker/worker.js';
import { statusQuery } from '../../workflows/messages.js';
import { startDevServer } from '../support/temporal.js';
import {
  Cli,
  NAMESPACES,
  STARTER,
  TARGET_REV,
  approveAllAndFinish,
  describeSeen,
  elapsed,
  killProcess,
  podRevisions,
  spawnWorkerProcess,
  startE2eTwin,
  startInProcessWorker,
  tempDir,
  twinCounters,
  waitForRun,
  writePlan,
  type TwinCounters,
} from './support/stack.js';
import { freePort } from '../../lab/ports.js';

const cleanups: (() => Promise<unknown>)[] = [];
const fileStart = Date.now();
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  console.log(`[e2e] durability.test.ts took ${elapsed(fileStart)}`);
});

/** The field-report workloads (kind/resource, namespace, name). */
const WORKLOADS: [string, string, string][] = [
  ['apps/deployments', 'inventory', 'inventory'],
  ['apps/deployments', 'payments', 'payments'],
  ['apps/deployments', 'orders', 'orders'],
  ['apps/statefulsets', 'orders', 'orders-ledger'],
  ['apps/deployments', 'frontend', 'frontend'],
];

/** Each namespace relabeled exactly once; each workload's template patched (restarted) exactly once. */
function expectEachChangeOnce(c: TwinCounters): void {
  for (const ns of NAMESPACES) expect(c.byObject[`patch namespaces/${ns}`] ?? 0, `patch namespaces/${ns}`).toBe(1);
  for (const [res, ns, name] of WORKLOADS) {
    const writes = ['patch', 'update'].map((v) => c.byObject[`${v} ${res}/${ns}/${name}`] ?? 0).reduce((a, b) => a + b);
    expect(
      writes,
      `writes to ${res}/${ns}/${name}: ${JSON.stringify(Object.entries(c.byObject).filter(([k]) => k.includes(`/${ns}/`)))}`,
    ).toBe(1);
  }
}

function waitForCounter(twin: Twin, key: string, timeoutMs = 180_000): Promise<void> {
  return expect
    .poll(async () => (await twinCounters(twin)).byObject[key] ?? 0, { timeout: timeoutMs, message: `${key} happened` })
    .toBeGreaterThanOrEqual(1);
}

describe('durability on the real stack', () => {
  it('the worker SIGKILLed during a rollout restart: a new worker process finishes; each namespace relabeled once, each workload restarted once', async () => {
    const t0 = Date.now();
    const env = await startDevServer();
    cleanups.push(() => env.teardown());
    // Slow rollouts (1 s between pods) so that the kill lands while one is in flight.
    const twin = await startE2eTwin({ overrides: { timings: { podStartDelayMs: 10, rolloutPodDelayMs: 1_000, caRewriteDelayMs: 200 } } });
    cleanups.push(() => twin.close());
    const plan = await writePlan(twin, await tempDir('sigkill'));
    const cli = new Cli(() => env.address);
    const id = 'e2e-worker-sigkill';

    const first: ChildProcess = await spawnWorkerProcess(env.address, twin);
    cleanups.push(() => killProcess(first));
    await cli.start(plan, id, STARTER);
    const finishing = approveAllAndFinish(cli, env.client, id);
    finishing.catch(() => undefined);

    // The orders namespace (a Deployment and a StatefulSet) is mid-restart: kill the worker.
    await waitForCounter(twin, 'patch apps/deployments/orders/orders');
    const seen = await twinCounters(twin);
    expect(seen.byObject['patch namespaces/orders']).toBe(1);
    await killProcess(first, 'SIGKILL');
    const killedAt = Date.now();
    const second = await spawnWorkerProcess(env.address, twin);
    cleanups.push(() => killProcess(second));

    const end = await finishing;
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    console.log(`[e2e] worker SIGKILL: run completed ${elapsed(killedAt)} after the kill, ${elapsed(t0)} in all`);
    const s = await cli.status(id);
    expect(s.phase).toBe('completed');
    expect(s.namespaces.every((n) => n.state === 'migrated')).toBe(true);
    for (const ns of NAMESPACES)
      expect(
        Object.values(await podRevisions(twin, ns)).every((r) => r === TARGET_REV),
        ns,
      ).toBe(true);
    expectEachChangeOnce(await twinCounters(twin));
    // The interrupted restart was resumed by the second worker (not started over).
    const orders = await env.client.workflow.getHandle(`${id}/ns/orders`).query(statusQuery);
    const restart = orders.steps.find((x) => x.id === 'restart');
    expect(restart, JSON.stringify(orders.steps)).toMatchObject({ state: 'succeeded' });
    // The restart activity ran a second time (the first attempt died with its worker), and the
    // second attempt found the restarts already done and only waited for them.
    const history = await env.client.workflow.getHandle(`${id}/ns/orders`).fetchHistory();
    const restartScheduled = new Set(
      (history.events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'restartWorkloads')
        .map((e) => String(e.eventId)),
    );
    const attempts = (history.events ?? [])
      .filter(
        (e) => e.activityTaskStartedEventAttributes && restartScheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)),
      )
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts, 'attempts of the restart activity').toEqual([2]);
    expect(restart!.summary).toMatch(/resumed/);
  }, 600_000);

  it('the Temporal server killed and restarted on its database mid-run: the run completes, each change once', async () => {
    const t0 = Date.now();
    installRuntime();
    const dir = await tempDir('server-restart');
    const port = await freePort();
    const uiPort = await freePort();
    let server: LocalTemporal = await startLocalTemporal({ db: join(dir, 'temporal.db'), port, uiPort });
    cleanups.push(() => server.stop());
    const twin = await startE2eTwin({ overrides: { timings: { podStartDelayMs: 10, rolloutPodDelayMs: 500, caRewriteDelayMs: 200 } } });
    cleanups.push(() => twin.close());
    const plan = await writePlan(twin, await tempDir('server-restart-plan'));
    const connection = await NativeConnection.connect({ address: server.address });
    const worker = await startInProcessWorker(connection, twin);
    cleanups.push(() => worker.stop());
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const cli = new Cli(() => server.address);
    const id = 'e2e-server-restart';

    await cli.start(plan, id, STARTER);
    await waitForRun(client, id, (s) => s.attention.gates.some((g) => g.id === 'start'), 'gate start');
    await cli.approve(id, 'start');
    // Mid-run: the payments namespace is being moved.
    await waitForCounter(twin, 'patch namespaces/payments');
    server.process.kill('SIGKILL');
    await new Promise((r) => server.process.once('exit', r));
    const killedAt = Date.now();
    server = await startLocalTemporal({ db: join(dir, 'temporal.db'), port, uiPort });
    console.log(`[e2e] Temporal server back after ${elapsed(killedAt)}`);

    const end = await approveAllAndFinish(cli, client, id, ['dns-cutover', 'decommission']);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    const s = await cli.status(id);
    expect(s.phase).toBe('completed');
    expect(s.namespaces.every((n) => n.state === 'migrated')).toBe(true);
    expectEachChangeOnce(await twinCounters(twin));
    console.log(`[e2e] Temporal server restart: ${elapsed(t0)}`);
  }, 600_000);
});
