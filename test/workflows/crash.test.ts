// Durability: a worker SIGKILLed in the middle of a step, and the Temporal server killed and
// restarted on its database mid-run. The run finishes; nothing is applied twice, nothing is lost.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { migrationWorkflow } from '../../workflows/migration.js';
import { TASK_QUEUE, gateDecisionUpdate } from '../../workflows/messages.js';
import { startLocalTemporal, type LocalTemporal } from '../../client/local-temporal.js';
import { FakeCluster, testPlan } from '../support/fake-activities.js';
import { serveFakeCluster } from '../support/rpc-activities.js';
import { startDevServer, waitForStatus, workflowBundle } from '../support/temporal.js';
import { installRuntime } from '../../worker/worker.js';
import { freePort } from '../../lab/ports.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function spawnWorker(address: string, clusterUrl: string, activities: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../support/worker-process.ts', import.meta.url))], {
    env: {
      ...process.env,
      MESHMOVE_TEST_ADDRESS: address,
      MESHMOVE_TEST_CLUSTER_URL: clusterUrl,
      MESHMOVE_TEST_ACTIVITIES: activities.join(','),
      MESHMOVE_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('worker ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker process exited with ${code} before it was ready`)));
  });
}

describe('durability', () => {
  it('a worker killed with SIGKILL mid-step: a new worker finishes, each change applied once', async () => {
    const env = await startDevServer();
    cleanups.push(() => env.teardown());
    const plan = testPlan({ gates: { start: false, dnsCutover: false, decommission: false } });
    const cluster = new FakeCluster(plan);
    cluster.delays.set('restartWorkloads', 3_000);
    const { url, server } = await serveFakeCluster(() => cluster);
    cleanups.push(() => server.close());
    const names = Object.keys(cluster.activities());

    const first = await spawnWorker(env.address, url, names);
    const handle = await env.client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-worker-${Date.now()}`,
      args: [{ plan, planDigest: 'test', startedBy: 'alice', options: { heartbeatTimeoutMs: 2_000 } }],
    });
    // Kill the worker while the first namespace's rollout restart is in flight.
    await expect.poll(() => cluster.calls, { timeout: 60_000, message: 'restart started' }).toContain('restartWorkloads inventory');
    first.kill('SIGKILL');
    await spawnWorker(env.address, url, names);

    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(result.namespaces.every((n) => n.state === 'migrated')).toBe(true);
    // The interrupted restart was attempted again by the second worker...
    expect(cluster.callsOf('restartWorkloads').filter((c) => c.endsWith('inventory')).length).toBeGreaterThanOrEqual(2);
    // ...but every change was applied exactly once.
    expect([...cluster.applied.keys()].sort()).toEqual(
      [
        'relabel frontend',
        'relabel inventory',
        'relabel orders',
        'relabel payments',
        `restart ${handle.workflowId}/frontend/migrate`,
        `restart ${handle.workflowId}/inventory/migrate`,
        `restart ${handle.workflowId}/orders/migrate`,
        `restart ${handle.workflowId}/payments/migrate`,
      ].sort(),
    );
    expect([...cluster.applied.values()].every((n) => n === 1)).toBe(true);
  });

  it('the Temporal server killed and restarted on its database: the run finishes', async () => {
    installRuntime();
    const dir = await mkdtemp(join(tmpdir(), 'meshmove-restart-'));
    const port = await freePort();
    const uiPort = await freePort();
    let server: LocalTemporal = await startLocalTemporal({ db: join(dir, 'temporal.db'), port, uiPort });
    cleanups.push(() => server.stop());
    const plan = testPlan();
    const cluster = new FakeCluster(plan);
    const workerConn = await NativeConnection.connect({ address: server.address });
    const worker = await Worker.create({
      connection: workerConn,
      taskQueue: TASK_QUEUE,
      workflowBundle: await workflowBundle(),
      activities: cluster.activities(),
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running.catch(() => undefined);
    });
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const handle = await client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `crash-server-${Date.now()}`,
      args: [{ plan, planDigest: 'test', startedBy: 'alice' }],
    });
    const approve = async (gate: string) => {
      const s = await waitForStatus(handle, (x) => x.pendingGate?.id === gate, 120_000);
      await handle.executeUpdate(gateDecisionUpdate, { args: [{ gate, verdict: 'approve', by: 'bob', digest: s.pendingGate!.digest }] });
    };
    await approve('start');
    await waitForStatus(handle, (x) => x.pendingGate?.id === 'dns-cutover', 120_000);

    server.process.kill('SIGKILL');
    await new Promise((r) => server.process.once('exit', r));
    server = await startLocalTemporal({ db: join(dir, 'temporal.db'), port, uiPort });

    await approve('dns-cutover');
    await approve('decommission');
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(cluster.callsOf('decommission')).toEqual(['decommission']);
    expect([...cluster.applied.values()].every((n) => n === 1)).toBe(true);
  });
});
