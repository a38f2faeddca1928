// One namespace of 10 Deployments through the per-namespace activities as the worker runs them
// (its service account, deploy/rbac.yaml), on the benchmarks' scenario (bench/scenario.ts): waits
// react to the cluster (watches), the CA stability window is held only for differing roots, and the
// API requests stay few: counted by the twin per user.
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeAccess } from '../../activities/kube/index.js';
import { relabelNamespace, restartWorkloads, verifyProxies, waitCaReady } from '../../activities/namespace/index.js';
import type { ClusterDeps } from '../../activities/shared/deps.js';
import type { Plan } from '../../plan/schema.js';
import { startTwin, writeKubeconfigAs, WORKER_USER, type Twin } from '../../twin/index.js';
import { benchPlan, benchScenario, repoFile, type BenchShape } from '../../bench/scenario.js';

const shape: BenchShape = { namespaces: 2, deployments: 10, concurrency: 1 };
const TARGET = 'istio-1-16-5';
let twin: Twin;
let plan: Plan;
let deps: ClusterDeps;
const run = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment().run(fn);
const byWorker = (): Record<string, number> => twin.control.counters().byUser[WORKER_USER] ?? {};

beforeAll(async () => {
  twin = await startTwin(await benchScenario(shape), { randomPorts: true });
  const dir = mkdtempSync(join(tmpdir(), 'meshmove-scale-'));
  const kubeconfig = join(dir, 'worker.kubeconfig');
  await writeKubeconfigAs(twin, await readFile(repoFile('deploy/rbac.yaml'), 'utf8'), kubeconfig);
  plan = await benchPlan(twin, shape, dir);
  // A stability window far longer than the CA wait may take: held, it would time the wait out.
  deps = { kube: createKubeAccess({ kubeconfig, context: twin.context }), tuning: { caStableMs: 600_000, caReadyTimeoutMs: 20_000 } };
});
afterAll(async () => {
  await twin?.close();
});

describe('a namespace of 10 Deployments, as the worker moves it', () => {
  it('skips the CA stability window for one shared root, restarts from Deployment status, and sends few requests', async () => {
    const ns = 'ns-1';
    const ref = { plan, migrationId: 'scale-1', namespace: ns };
    twin.control.resetCounters();
    await run(() => relabelNamespace(deps, ref));
    await run(() => waitCaReady(deps, { ...ref, rootRelation: 'same' }));
    const r = await run(() => restartWorkloads(deps, { ...ref, key: 'scale-1/ns-1/migrate', expectRevision: TARGET }));
    expect(r.workloads).toHaveLength(10);
    const proxies = await run(() => verifyProxies(deps, { ...ref, revision: TARGET }));
    expect(proxies).toMatchObject({ pods: 10, synced: 10, problems: [] });
    const c = byWorker();
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    // One patch per Deployment; pods listed to decide, to judge the finished rollouts and to verify.
    expect(c['patch apps/deployments']).toBe(10);
    expect(c['watch apps/deployments']).toBe(1);
    expect(c['list apps/deployments']).toBe(1);
    expect(c['list pods'] ?? 0).toBeLessThanOrEqual(4);
    expect(c['get apps/deployments'] ?? 0).toBe(0);
    expect(total, JSON.stringify(c)).toBeLessThanOrEqual(25);
  });

  it('holds the window when preflight did not find one shared root (here: it times out, the window being longer than the wait)', async () => {
    const ref = { plan, migrationId: 'scale-1', namespace: 'ns-2' };
    await run(() => relabelNamespace(deps, ref));
    const err = await run(() =>
      waitCaReady({ ...deps, tuning: { caStableMs: 600_000, caReadyTimeoutMs: 1_500 } }, { ...ref, rootRelation: 'different' }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'CaRootNotReady' });
  });
});
