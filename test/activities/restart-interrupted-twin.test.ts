// restartWorkloads when another restart of the same namespace gets in its way (issue 8: a rollback
// requested during a namespace's restart; the compensation's restart and the still-running forward
// one re-patched each other's restart key, 12 + 12 rolling restarts per workload in 24 s). On the
// twin, through the real Kubernetes client, counting the writes the twin applied per workload:
// - a restart cancelled before its first patch patches nothing;
// - a restart that finds a workload it restarted carrying another meshmove restart key stops
//   instead of re-patching it, so two restart keys never alternate;
// - the same for an attempt resumed from its heartbeat after the other key was written.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { createKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import {
  relabelNamespace,
  restartPatch,
  restartWorkloads,
  restoreNamespaceLabels,
  verifyProxies,
  waitCaReady,
  RESTART_KEY_ANNOTATION,
} from '../../activities/namespace/index.js';
import type { ClusterDeps } from '../../activities/shared/deps.js';
import { parsePlanText } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';
import { startTwin, type Twin } from '../../twin/index.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const PLAN = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
const RUN = 'run-restart-interrupted';
const TARGET = 'istio-1-16-5';
const SOURCE = 'default';

let twin: Twin;
let kube: KubeAccess;
let plan: Plan;
let deps: ClusterDeps;

function run<T>(fn: () => Promise<T>, info: Partial<Info> = {}): Promise<T> {
  return new MockActivityEnvironment(info).run(fn);
}
const ref = (namespace: string) => ({ plan, migrationId: RUN, namespace });
/** Writes the twin applied to a workload (a restart is one; relabels touch the namespace, not workloads). */
const applied = (path: string): number => {
  const c = twin.control.counters().applied;
  return (c[`patch apps/${path}`] ?? 0) + (c[`update apps/${path}`] ?? 0);
};
const settle = <T>(p: Promise<T>): Promise<T | unknown> =>
  p.then(
    (v) => v,
    (e: unknown) => e,
  );

beforeAll(async () => {
  // Slow rollouts (each new pod takes 1.5 s to start), so a restart is surely in progress when the
  // other one starts. Slowed by the pod start, not by rolloutPodDelayMs: the twin's Deployment
  // controller stalls on a rollover when its scale-up waits on that timer (see the report of issue 8).
  twin = await startTwin(SCENARIO, { randomPorts: true, timings: { podStartDelayMs: 1_500, rolloutPodDelayMs: 0 } });
  kube = createKubeAccess({
    kubeconfig: twin.kubeconfigPath,
    context: twin.context,
    rateLimit: { qps: 1000, burst: 1000 },
    maxInProcessDelayMs: 3_000,
  });
  plan = parsePlanText(readFileSync(PLAN, 'utf8'), PLAN);
  deps = { kube, tuning: { pollMs: 50, caReadyTimeoutMs: 10_000, caStableMs: 150, proxySettleMs: 10_000 } };
}, 120_000);
afterAll(async () => {
  await twin?.close();
});

describe('a restart cancelled before its first patch', () => {
  it('patches nothing and ends as cancelled', async () => {
    const ns = 'inventory';
    twin.control.resetCounters();
    // Its first look (the pod list) takes 600 ms; the cancellation arrives during it.
    twin.control.setApiFaults({ rules: [{ verb: 'list', resource: 'pods', namespace: ns, kind: 'delay', delayMs: 600, count: 1 }] });
    try {
      const env = new MockActivityEnvironment();
      const restart = settle(env.run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/migrate`, expectRevision: TARGET })));
      await new Promise((r) => setTimeout(r, 200));
      env.cancel();
      const outcome = await restart;
      expect(outcome).toBeInstanceOf(CancelledFailure);
      // Give a patch sent late the time to land before counting.
      await new Promise((r) => setTimeout(r, 500));
      expect(applied(`deployments/${ns}/${ns}`)).toBe(0);
    } finally {
      twin.control.setApiFaults({ rules: [] });
    }
  });
});

describe('two restarts of one namespace at once (the forward one still running when the rollback restarts)', () => {
  it('the older stops when it sees the newer key; each workload is restarted once forward and once back', async () => {
    const ns = 'orders';
    const workloads = [`deployments/${ns}/orders`, `statefulsets/${ns}/orders-ledger`];
    const relabeled = await run(() => relabelNamespace(deps, ref(ns)));
    await run(() => waitCaReady(deps, ref(ns)));
    twin.control.resetCounters();

    const forwardEnv = new MockActivityEnvironment();
    const forward = settle(
      forwardEnv.run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/migrate`, expectRevision: TARGET })),
    );
    await expect
      .poll(async () => workloads.every((w) => applied(w) === 1), {
        timeout: 15_000,
        interval: 20,
        message: 'the forward restart patched both workloads',
      })
      .toBe(true);

    // The compensation, while the forward rollouts are still in progress: labels back, restart back.
    await run(() => restoreNamespaceLabels(deps, { ...ref(ns), labels: relabeled.previousLabels }));
    const backEnv = new MockActivityEnvironment();
    const back = settle(backEnv.run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/rollback`, expectRevision: SOURCE })));

    // Two restarts that fight never end by themselves: give them 30 s, then stop both and count.
    const ended = await Promise.race([
      Promise.all([forward, back]).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 30_000)),
    ]);
    if (!ended) {
      forwardEnv.cancel();
      backEnv.cancel();
      await Promise.all([forward, back]);
    }
    const counts = Object.fromEntries(workloads.map((w) => [w, applied(w)]));
    expect(counts, 'restarts applied per workload').toEqual(Object.fromEntries(workloads.map((w) => [w, 2])));
    expect(ended).toBe(true);

    const f = await forward;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect((f as ApplicationFailure).type).toBe('RestartSuperseded');
    expect((f as ApplicationFailure).nonRetryable).toBe(true);
    expect((f as Error).message).toContain(`${RUN}/${ns}/rollback`);
    expect(await back).toMatchObject({ workloads: ['Deployment/orders', 'StatefulSet/orders-ledger'] });
    for (const w of workloads) {
      const [kind, , name] = w.split('/');
      const obj =
        kind === 'deployments' ? await kube.getWorkload('Deployment', ns, name!) : await kube.getWorkload('StatefulSet', ns, name!);
      expect(obj?.spec?.template?.metadata?.annotations?.[RESTART_KEY_ANNOTATION], w).toBe(`${RUN}/${ns}/rollback`);
    }
    const proxies = await run(() => verifyProxies(deps, { ...ref(ns), revision: SOURCE }));
    expect(proxies.problems).toEqual([]);
  }, 120_000);
});

describe('an attempt resumed from its heartbeat after another step restarted its workload', () => {
  it('stops instead of restarting it a third time', async () => {
    const ns = 'payments';
    const key = `${RUN}/${ns}/migrate`;
    await run(() => relabelNamespace(deps, ref(ns)));
    await run(() => waitCaReady(deps, ref(ns)));
    twin.control.resetCounters();
    const env = new MockActivityEnvironment();
    let last: unknown;
    env.on('heartbeat', (d: unknown) => {
      last = d;
      if (((d as { inFlight?: string[] }).inFlight ?? []).some((s) => s.endsWith(': restarted'))) env.cancel();
    });
    const first = await settle(env.run(() => restartWorkloads(deps, { ...ref(ns), key, expectRevision: TARGET })));
    expect(first).toBeInstanceOf(CancelledFailure);
    expect(applied(`deployments/${ns}/payments`)).toBe(1);

    // Another step (here: by hand, as the compensation would) restarts it with its own key.
    await kube.patchWorkload('Deployment', ns, 'payments', restartPatch(`${RUN}/${ns}/rollback`, new Date()), 'merge');
    expect(applied(`deployments/${ns}/payments`)).toBe(2);

    const again = new MockActivityEnvironment({ heartbeatDetails: last });
    const resuming = settle(again.run(() => restartWorkloads(deps, { ...ref(ns), key, expectRevision: TARGET })));
    // A resumed attempt that fights the other key would not end by itself: at most 20 s.
    const timer = setTimeout(() => again.cancel(), 20_000);
    const resumed = await resuming;
    clearTimeout(timer);
    expect(resumed).toBeInstanceOf(ApplicationFailure);
    expect((resumed as ApplicationFailure).type).toBe('RestartSuperseded');
    expect(applied(`deployments/${ns}/payments`)).toBe(2);
  }, 60_000);
});
