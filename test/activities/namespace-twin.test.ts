// The per-namespace activities against the mesh twin through the real Kubernetes client over HTTP:
// relabel → CA ready → restart → proxies SYNCED on the target → traffic probes, each run twice
// with one change (the twin's request counters), a restart interrupted and resumed, retries on
// injected 429/500/409, and the compensation back to the source.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import { PREVIOUS_LABELS_ANNOTATION } from '../../activities/namespace/labels.js';
import {
  driftCheck,
  explainInjection,
  relabelNamespace,
  restartWorkloads,
  restoreNamespaceLabels,
  verifyProxies,
  verifyTraffic,
  waitCaReady,
} from '../../activities/namespace/index.js';
import type { ClusterDeps } from '../../activities/shared/deps.js';
import { parsePlanText } from '../../plan/load.js';
import { runBackup } from '../../activities/backup/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../../plan/schema.js';
import { startTwin, type Twin } from '../../twin/index.js';
import { parseScenario } from '../../twin/scenario.js';
import { rootFingerprint } from '../../activities/shared/ca-roots.js';
import { asOnRealStack } from '../support/scenario-variants.js';
import { parse } from 'yaml';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const PLAN = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
const RUN = 'run-ns-1';
const TARGET = 'istio-1-16-5';
const SOURCE = 'default';

let twin: Twin;
let kube: KubeAccess;
let plan: Plan;
let deps: ClusterDeps;

function run<T>(fn: () => Promise<T>, info: Partial<Info> = {}): Promise<T> {
  return new MockActivityEnvironment(info).run(fn);
}
const ref = (namespace: string, p: Plan = plan) => ({ plan: p, migrationId: RUN, namespace });
const patches = (key: string): number => twin.control.counters().byObject[key] ?? 0;

beforeAll(async () => {
  twin = await startTwin(SCENARIO, { randomPorts: true, timings: { podStartDelayMs: 10, rolloutPodDelayMs: 20 } });
  kube = createKubeAccess({
    kubeconfig: twin.kubeconfigPath,
    context: twin.context,
    rateLimit: { qps: 1000, burst: 1000 },
    maxInProcessDelayMs: 3_000,
  });
  plan = parsePlanText(readFileSync(PLAN, 'utf8'), PLAN);
  deps = { kube, tuning: { pollMs: 50, caReadyTimeoutMs: 10_000, caStableMs: 150, probeTimeoutMs: 20_000, proxySettleMs: 10_000 } };
});
afterAll(async () => {
  await twin?.close();
});

async function workloadsIn(namespace: string): Promise<string[]> {
  const [d, s, ds] = await Promise.all([
    kube.listWorkloads('Deployment', namespace),
    kube.listWorkloads('StatefulSet', namespace),
    kube.listWorkloads('DaemonSet', namespace),
  ]);
  return [
    ...d.map((w) => `deployments/${namespace}/${w.metadata!.name!}`),
    ...s.map((w) => `statefulsets/${namespace}/${w.metadata!.name!}`),
    ...ds.map((w) => `daemonsets/${namespace}/${w.metadata!.name!}`),
  ];
}

describe('drift check against the before-migration backup', () => {
  it('clean, then our own relabel is not drift, a hand-made change is', async () => {
    const p: Plan = { ...plan, backup: { location: mkdtempSync(join(tmpdir(), 'meshmove-backup-')) } };
    const backup = await runBackup(kube, p, RUN);
    const ns = 'inventory';
    expect(await run(() => driftCheck(deps, { ...ref(ns, p), backup }))).toEqual({ drifted: false, details: [] });
    await run(() => relabelNamespace(deps, ref(ns, p)));
    expect(await run(() => driftCheck(deps, { ...ref(ns, p), backup }))).toEqual({ drifted: false, details: [] });
    await kube.patchNamespace(ns, { metadata: { labels: { owner: 'bob' } } }, 'merge');
    const drifted = await run(() => driftCheck(deps, { ...ref(ns, p), backup }));
    expect(drifted).toEqual({ drifted: true, details: ['namespace inventory: label owner=bob was added since the backup'] });
    // Put it back for the tests below.
    await kube.patchNamespace(ns, { metadata: { labels: { owner: null } } }, 'merge');
    const r = await run(() => relabelNamespace(deps, ref(ns, p)));
    await run(() => restoreNamespaceLabels(deps, { ...ref(ns, p), labels: r.previousLabels }));
    const tampered = { ...backup, manifestDigest: '0'.repeat(64) };
    const err = await run(() => driftCheck(deps, { ...ref(ns, p), backup: tampered })).catch((e: unknown) => e);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(/manifest .* changed since the backup/);
  });
});

describe('one namespace, forward and back (orders)', () => {
  const ns = 'orders';
  let original: Record<string, string>;
  let previous: Record<string, string>;

  it('relabel: one patch, the second run changes nothing and returns the same previous labels', async () => {
    original = { ...(await kube.getNamespace(ns))!.metadata!.labels };
    expect(original['istio-injection']).toBe('enabled');
    twin.control.resetCounters();
    const first = await run(() => relabelNamespace(deps, ref(ns)));
    const second = await run(() => relabelNamespace(deps, ref(ns)));
    expect(first.changed).toBe(true);
    expect(first.previousLabels).toEqual({ 'istio-injection': 'enabled' });
    expect(second).toEqual({ changed: false, previousLabels: first.previousLabels });
    expect(patches(`patch namespaces/${ns}`)).toBe(1);
    const now = (await kube.getNamespace(ns))!.metadata!;
    expect(now.labels).toMatchObject({ 'istio.io/rev': TARGET, usergroup: TARGET });
    expect(now.labels).not.toHaveProperty('istio-injection');
    expect(JSON.parse(now.annotations![PREVIOUS_LABELS_ANNOTATION]!)).toEqual({ [RUN]: { 'istio-injection': 'enabled' } });
    previous = first.previousLabels;
  });

  it('CA ready: the namespace holds the target root', async () => {
    const r = await run(() => waitCaReady(deps, ref(ns)));
    expect(r.root).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it('restart: one restart patch per workload, the rerun only waits', async () => {
    const expected = await workloadsIn(ns);
    expect(expected.length).toBeGreaterThan(0);
    twin.control.resetCounters();
    const key = `${RUN}/${ns}/forward`;
    const first = await run(() => restartWorkloads(deps, { ...ref(ns), key, expectRevision: TARGET }));
    expect(first.alreadyRestarted).toBe(0);
    expect(first.workloads.length).toBe(expected.length);
    const second = await run(() => restartWorkloads(deps, { ...ref(ns), key, expectRevision: TARGET }));
    expect(second).toEqual({ workloads: first.workloads, alreadyRestarted: first.workloads.length });
    for (const w of expected) expect(patches(`patch apps/${w}`), w).toBe(1);
  });

  it('proxies: every pod on the target and SYNCED in its syncz; against the source every pod is a problem', async () => {
    const r = await run(() => verifyProxies(deps, { ...ref(ns), revision: TARGET }));
    expect(r.problems).toEqual([]);
    expect(r.pods).toBeGreaterThan(0);
    expect(r.synced).toBe(r.pods);
    const s = await run(() => verifyProxies({ ...deps, tuning: { ...deps.tuning, proxySettleMs: 0 } }, { ...ref(ns), revision: SOURCE }));
    expect(s.synced).toBe(0);
    expect(s.problems[0]).toMatch(new RegExp(`sidecar revision ${TARGET}, expected ${SOURCE}`));
  });

  it('traffic: the cross-namespace call (ALLOW_ANY passthrough) and the new gateway both answer, twice; probe Jobs cleaned up', async () => {
    twin.control.resetCounters();
    const first = await run(() => verifyTraffic(deps, ref(ns)));
    expect(first).toEqual({ probes: 2, failed: 0, failures: [] });
    const second = await run(() => verifyTraffic(deps, ref(ns)));
    expect(second).toEqual(first);
    const c = twin.control.counters();
    // One probe Job per run, the same deterministic name both times, each deleted after reading.
    expect(c.byVerbResource['create batch/jobs']).toBe(2);
    const deleted = Object.entries(c.byObject).filter(([k]) => k.startsWith(`delete batch/jobs/${ns}/`));
    expect(deleted).toHaveLength(1);
    expect(deleted[0]![1]).toBe(2);
    expect(await kube.getJob(ns, deleted[0]![0].split('/').pop()!)).toBeUndefined();
  });

  it('compensation: labels restored exactly (once), pods back on the source and SYNCED there', async () => {
    twin.control.resetCounters();
    const first = await run(() => restoreNamespaceLabels(deps, { ...ref(ns), labels: previous }));
    const second = await run(() => restoreNamespaceLabels(deps, { ...ref(ns), labels: previous }));
    expect(first.changed).toBe(true);
    expect(second.changed).toBe(false);
    expect(patches(`patch namespaces/${ns}`)).toBe(1);
    const now = (await kube.getNamespace(ns))!.metadata!;
    expect(now.labels).toEqual(original);
    expect(now.annotations?.[PREVIOUS_LABELS_ANNOTATION]).toBeUndefined();

    const explained = await run(() => explainInjection(deps, ref(ns)));
    expect(explained.message).not.toMatch(/still intercepts/);
    expect(explained.message).toMatch(/revision default/);

    const back = await run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/rollback`, expectRevision: SOURCE }));
    expect(back.workloads.length).toBeGreaterThan(0);
    const r = await run(() => verifyProxies(deps, { ...ref(ns), revision: SOURCE }));
    expect(r.problems).toEqual([]);
    expect(r.synced).toBe(r.pods);
  });
});

describe('a restart interrupted mid-wait, then resumed from its heartbeat', () => {
  it('restarts nothing twice and continues with the rest', async () => {
    // orders has two workloads (a Deployment and a StatefulSet); one at a time, so the first
    // attempt is cancelled with one restarted and one still to do. It is back on the source here.
    const ns = 'orders';
    const p: Plan = { ...plan, restart: { ...plan.restart, maxConcurrent: 1 } };
    await run(() => relabelNamespace(deps, ref(ns, p)));
    await run(() => waitCaReady(deps, ref(ns, p)));
    const expected = await workloadsIn(ns);
    expect(expected).toHaveLength(2);
    twin.control.resetCounters();
    const key = `${RUN}/${ns}/forward-again`;
    // Slow the rollouts down so the first attempt is surely cancelled while it waits.
    const slow: ClusterDeps = { ...deps, tuning: { ...deps.tuning, pollMs: 20 } };
    const env = new MockActivityEnvironment();
    let last: unknown;
    env.on('heartbeat', (d: unknown) => {
      last = d;
      const inFlight = (d as { inFlight?: string[] }).inFlight ?? [];
      if (inFlight.some((s) => s.endsWith(': restarted'))) env.cancel();
    });
    const interrupted = await env
      .run(() => restartWorkloads(slow, { ...ref(ns, p), key, expectRevision: TARGET }))
      .then(
        () => 'finished',
        (e: unknown) => e,
      );
    expect(interrupted).not.toBe('finished');
    expect((last as { key: string }).key).toBe(key);
    const restartedBefore = expected.filter((w) => patches(`patch apps/${w}`) === 1).length;
    expect(restartedBefore).toBe(1);

    const resumed = await run(() => restartWorkloads(deps, { ...ref(ns, p), key, expectRevision: TARGET }), { heartbeatDetails: last });
    expect(resumed.alreadyRestarted).toBe(1);
    expect(resumed.workloads.length).toBe(expected.length);
    for (const w of expected) expect(patches(`patch apps/${w}`), w).toBe(1);
    const proxies = await run(() => verifyProxies(deps, { ...ref(ns, p), revision: TARGET }));
    expect(proxies.problems).toEqual([]);
  });
});

describe('the API under faults (429 with Retry-After, 500, 409)', () => {
  it('relabel and restart still apply exactly once', async () => {
    const ns = 'inventory';
    const workloads = await workloadsIn(ns);
    twin.control.resetCounters();
    twin.control.setApiFaults({
      rules: [
        { verb: 'patch', resource: 'namespaces', kind: 'status', status: 429, retryAfterSeconds: 1, count: 1 },
        { verb: 'patch', resource: 'namespaces', kind: 'status', status: 409, count: 1 },
        { verb: 'get', resource: 'namespaces', kind: 'status', status: 500, count: 1 },
        { verb: 'list', resource: 'pods', namespace: ns, kind: 'status', status: 500, count: 2 },
        { verb: 'patch', resource: 'apps/deployments', kind: 'status', status: 503, count: 1 },
      ],
    });
    try {
      const r = await run(() => relabelNamespace(deps, ref(ns)));
      expect(r.changed).toBe(true);
      await run(() => waitCaReady(deps, ref(ns)));
      const restarted = await run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/forward`, expectRevision: TARGET }));
      expect(restarted.workloads.length).toBe(workloads.length);
    } finally {
      twin.control.setApiFaults({ rules: [] });
    }
    const c = twin.control.counters();
    expect(c.faultedTotal).toBeGreaterThanOrEqual(5);
    expect(c.byObject[`patch namespaces/${ns}`]).toBe(1);
    for (const w of workloads) expect(c.byObject[`patch apps/${w}`], w).toBe(1);
  });
});

describe('a rollout that gets stuck', () => {
  it('fails for good naming the workload and its pods; after the fix, retry only waits', async () => {
    const ns = 'payments';
    const p: Plan = { ...plan, restart: { maxConcurrent: 3, timeout: 1_500 } };
    await run(() => relabelNamespace(deps, ref(ns, p)));
    await run(() => waitCaReady(deps, ref(ns, p)));
    twin.control.setApiFaults({ rules: [], stuckRollouts: [{ namespace: ns, name: 'payments' }] });
    twin.control.resetCounters();
    const key = `${RUN}/${ns}/forward`;
    try {
      const err = await run(() => restartWorkloads(deps, { ...ref(ns, p), key, expectRevision: TARGET })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe('RolloutStuck');
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      expect((err as Error).message).toMatch(
        /^Deployment\/payments in payments: rollout not complete after \d+s \(restart.timeout 2s\): .*; pods: payments-/,
      );
    } finally {
      twin.control.setApiFaults({ rules: [], stuckRollouts: [] });
    }
    const retried = await run(() => restartWorkloads(deps, { ...ref(ns, p), key, expectRevision: TARGET }));
    expect(retried).toEqual({ workloads: ['Deployment/payments'], alreadyRestarted: 1 });
    expect(patches(`patch apps/deployments/${ns}/payments`)).toBe(1);
  });
});

describe('the CA root pitfalls (docs/istio-facts.md §4)', () => {
  it('a namespace whose istio-ca-root-cert never arrives: non-retryable, says the ConfigMap is missing', async () => {
    const ns = 'frontend';
    twin.control.setIstioFaults({ caNeverArrives: [ns] });
    const kc = new KubeConfig();
    kc.loadFromFile(twin.kubeconfigPath);
    await kc.makeApiClient(CoreV1Api).deleteNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: ns });
    try {
      await run(() => relabelNamespace(deps, ref(ns)));
      const quick: ClusterDeps = { ...deps, tuning: { ...deps.tuning, caReadyTimeoutMs: 600 } };
      const err = await run(() => waitCaReady(quick, ref(ns))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      expect((err as ApplicationFailure).type).toBe('CaRootNotReady');
      expect((err as Error).message).toMatch(/istio-ca-root-cert in frontend holds none.*The ConfigMap is missing/);
    } finally {
      twin.control.setIstioFaults({ caNeverArrives: [] });
    }
    // Once the controllers write again, the same activity passes.
    const ok = await run(() => waitCaReady(deps, ref(ns)));
    expect(ok.root).toMatch(/^sha256:/);
  });
});

describe('two control planes with different roots', () => {
  let split: Twin;
  afterAll(async () => {
    await split?.close();
  });
  it('the root flips between the two CAs: fails fast as contested, naming both writers', async () => {
    split = await startTwin(SCENARIO, {
      randomPorts: true,
      sameRootCA: false,
      timings: { podStartDelayMs: 10, rolloutPodDelayMs: 20, caRewriteDelayMs: 60 },
    });
    const k = createKubeAccess({ kubeconfig: split.kubeconfigPath, context: split.context, rateLimit: { qps: 1000, burst: 1000 } });
    const d: ClusterDeps = { kube: k, tuning: { pollMs: 20, caReadyTimeoutMs: 5_000, caStableMs: 500 } };
    const p: Plan = { ...plan, rootCA: { acceptDifferentRoots: true } };
    await run(() => relabelNamespace(d, { plan: p, migrationId: RUN, namespace: 'inventory' }));
    const err = await run(() => waitCaReady(d, { plan: p, migrationId: RUN, namespace: 'inventory' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).type).toBe('CaRootContested');
    expect((err as Error).message).toMatch(/two writers keep rewriting it/);
  });
});

describe('waitCaReady on the cluster as the real stack showed it (split roots, target scoped, rewrites within ~0.3 s)', () => {
  let real: Twin;
  afterAll(async () => {
    await real?.close();
  });
  it("compares against the target's own root and fails as contested within seconds, with the default 2 s pace", async () => {
    const doc = asOnRealStack(
      parse(readFileSync(SCENARIO, 'utf8')) as {
        sameRootCA?: boolean;
        controlPlanes: { revision: string; caRewriteDelayMs?: number }[];
        timings: Record<string, number>;
      },
    );
    // The two istiods answer each other within ~0.3 s (the twin's default), not equally fast: the
    // source here at once. Most of the time the ConfigMap then holds the source's root, which is
    // what a 2 s sample saw ten seconds in a row on the real stack.
    delete doc.timings.caRewriteDelayMs;
    doc.controlPlanes.find((c) => c.revision === SOURCE)!.caRewriteDelayMs = 30;
    real = await startTwin(parseScenario(doc, 'real-stack variant'), {
      randomPorts: true,
      timings: { podStartDelayMs: 10, rolloutPodDelayMs: 20 },
    });
    const k = createKubeAccess({ kubeconfig: real.kubeconfigPath, context: real.context, rateLimit: { qps: 1000, burst: 1000 } });
    // Default pace (poll 2 s) and stability window (10 s), as a real run has them.
    const d: ClusterDeps = { kube: k, tuning: { caReadyTimeoutMs: 40_000 } };
    const p: Plan = { ...plan, rootCA: { acceptDifferentRoots: true } };
    const targetFp = rootFingerprint(real.mesh.istiods.get(TARGET)!.root.pem);
    const sourceFp = rootFingerprint(real.mesh.istiods.get(SOURCE)!.root.pem);
    await run(() => relabelNamespace(d, { plan: p, migrationId: RUN, namespace: 'inventory' }));
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (x: unknown) => beats.push(x));
    const t0 = Date.now();
    const err = await env.run(() => waitCaReady(d, { plan: p, migrationId: RUN, namespace: 'inventory' })).catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err, 'waitCaReady passed while two istiods rewrite istio-ca-root-cert').toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('CaRootContested');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain(targetFp);
    expect(msg).toContain(sourceFp);
    expect(msg).toMatch(/caBundle of MutatingWebhookConfiguration istio-sidecar-injector-istio-1-16-5-istio-1-16-5/);
    expect(took).toBeLessThan(15_000);
    expect(beats.length).toBeGreaterThan(0);
  });
});
