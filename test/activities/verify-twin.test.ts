// The field report's pitfalls caught by the verification activities, against the mesh twin through
// the real Kubernetes client: the 503 of a namespace missing the discovery label, REGISTRY_ONLY
// breaking calls to a not-yet-migrated namespace, a rollback while the target's webhook still
// intercepts, and verifyMesh (proxies census, istiod error counters read a window apart).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { createKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import { relabelNamespace, restartWorkloads, restoreNamespaceLabels, waitCaReady } from '../../activities/namespace/index.js';
import type { ClusterDeps } from '../../activities/shared/deps.js';
import { explainInjection, verifyMesh, verifyProxies, verifyTraffic } from '../../activities/verify/index.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { parsePlanText } from '../../plan/load.js';
import { plannedNamespaces, type Plan } from '../../plan/schema.js';
import { startTwin, type Twin } from '../../twin/index.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const PLAN = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
const RUN = 'run-verify-1';
const TARGET = 'istio-1-16-5';
const SOURCE = 'default';

let twin: Twin;
let kube: KubeAccess;
let kc: KubeConfig;
let plan: Plan;
let deps: ClusterDeps;

const run = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment().run(fn);
const ref = (namespace: string, p: Plan = plan) => ({ plan: p, migrationId: RUN, namespace });

async function migrate(ns: string, p: Plan = plan): Promise<Record<string, string>> {
  const r = await run(() => relabelNamespace(deps, ref(ns, p)));
  await run(() => waitCaReady(deps, ref(ns, p)));
  await run(() =>
    restartWorkloads(deps, { ...ref(ns, p), key: `${RUN}/${ns}/${p.target.discoveryLabels.usergroup ?? 'x'}`, expectRevision: TARGET }),
  );
  return r.previousLabels;
}

async function setTargetOutboundPolicy(mode: 'ALLOW_ANY' | 'REGISTRY_ONLY'): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const cm = await core.readNamespacedConfigMap({ name: `istio-${TARGET}`, namespace: TARGET });
  const mesh = (parse(cm.data?.mesh ?? '') ?? {}) as Record<string, unknown>;
  mesh.outboundTrafficPolicy = { mode };
  await core.patchNamespacedConfigMap(
    { name: `istio-${TARGET}`, namespace: TARGET, body: { data: { mesh: stringify(mesh) } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  // The twin's istiod follows its mesh ConfigMap by watch; wait until it acts on the change.
  await vi.waitFor(
    () => expect(twin.mesh.istiods.get(TARGET)?.meshConfig.outboundTrafficPolicyMode, `the twin's istiod picked up ${mode}`).toBe(mode),
    { timeout: 5_000, interval: 20 },
  );
}

beforeAll(async () => {
  twin = await startTwin(SCENARIO, { randomPorts: true, timings: { podStartDelayMs: 10, rolloutPodDelayMs: 20 } });
  kube = createKubeAccess({
    kubeconfig: twin.kubeconfigPath,
    context: twin.context,
    rateLimit: { qps: 1000, burst: 1000 },
    maxInProcessDelayMs: 3_000,
  });
  kc = new KubeConfig();
  kc.loadFromFile(twin.kubeconfigPath);
  plan = parsePlanText(readFileSync(PLAN, 'utf8'), PLAN);
  plan.verification.metricsWindow = 1_500;
  deps = { kube, tuning: { pollMs: 50, caReadyTimeoutMs: 10_000, caStableMs: 150, probeTimeoutMs: 20_000, proxySettleMs: 3_000 } };
});
afterAll(async () => {
  await twin?.close();
});

describe('verifyMesh before anything moved', () => {
  it('counts the proxies still on the source and names the nonexistent metric', async () => {
    const r = await run(() => verifyMesh(deps, { plan, migrationId: RUN }));
    expect(r.namespaces).toBe(plannedNamespaces(plan).length);
    expect(r.onTarget).toBe(0);
    expect(r.onSource).toBeGreaterThan(0);
    expect(r.notes.join('\n')).toMatch(/pilot_xds_push_errors_total .* does not exist in Istio/);
    expect(r.notes.join('\n')).toMatch(/no analysis in the plan.*the gateway probes of each namespace stand in/);
  });
});

describe('the 503 pitfall: relabeled without the discovery label', () => {
  it("the new gateway answers 503 for the namespace's host, and the probe says so", async () => {
    const wrong: Plan = { ...plan, target: { ...plan.target, discoveryLabels: { usergroup: 'not-selected' } } };
    const previous = await migrate('frontend', wrong);
    const r = await run(() => verifyTraffic(deps, ref('frontend', wrong)));
    expect(r.failures).toContain('gateway shop.y7test.com/: got 503, expected 200');
    // Undo, then migrate properly: the same probe passes.
    await run(() => restoreNamespaceLabels(deps, { ...ref('frontend', wrong), labels: previous }));
    await migrate('frontend');
    const ok = await run(() => verifyTraffic(deps, ref('frontend')));
    expect(ok.failures.filter((f) => f.startsWith('gateway'))).toEqual([]);
  });
});

describe('the REGISTRY_ONLY pitfall', () => {
  it('a migrated pod cannot reach a namespace the target does not know; with ALLOW_ANY it can', async () => {
    await setTargetOutboundPolicy('REGISTRY_ONLY');
    try {
      await migrate('orders');
      const r = await run(() => verifyTraffic(deps, ref('orders')));
      expect(r.failed).toBe(1);
      expect(r.failures[0]).toMatch(
        /^orders -> http:\/\/payments\.payments\.svc\.cluster\.local:8080\/healthz: got (502|503|no HTTP answer), expected 200/,
      );
    } finally {
      await setTargetOutboundPolicy('ALLOW_ANY');
    }
    const ok = await run(() => verifyTraffic(deps, ref('orders')));
    expect(ok).toEqual({ probes: 2, failed: 0, failures: [] });
  });
});

describe("rollback while the target's webhook still intercepts (the field report's 回滚失败)", () => {
  it("before the labels are restored: the target's revision webhook, its selector and the fix are named", async () => {
    const ns = 'inventory';
    const previous = await migrate(ns);
    const before = await run(() => explainInjection(deps, ref(ns)));
    expect(before.injectors).toEqual([`istio-sidecar-injector-${TARGET}-${TARGET}/rev.namespace.sidecar-injector.istio.io`]);
    expect(before.message).toContain(
      `The target's webhook still intercepts: MutatingWebhookConfiguration istio-sidecar-injector-${TARGET}-${TARGET}, webhook rev.namespace.sidecar-injector.istio.io`,
    );
    expect(before.message).toContain(`istio.io/rev In [${TARGET}] (has istio.io/rev=${TARGET})`);

    // Restarting before the labels are back only re-injects the target: the restart says so.
    const premature = await run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/premature`, expectRevision: SOURCE })).catch(
      (e: unknown) => e,
    );
    expect((premature as ApplicationFailure).type).toBe('WrongSidecarRevision');
    expect((premature as Error).message).toMatch(
      new RegExp(`new pods got ${TARGET} instead of sidecar revision ${SOURCE}.*see explainInjection`),
    );

    // A `default` revision tag pointing at the target answers istio-injection=enabled too.
    const tag = istioInjectorWebhookConfiguration(TARGET, { isDefault: true, tag: 'default', istiodNamespace: TARGET });
    await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: tag as never });
    await run(() => restoreNamespaceLabels(deps, { ...ref(ns), labels: previous }));
    const after = await run(() => explainInjection(deps, ref(ns)));
    expect(after.injectors).toContain(`istio-revision-tag-default-${TARGET}/namespace.sidecar-injector.istio.io`);
    expect(after.message).toContain(
      `The target's webhook still intercepts: MutatingWebhookConfiguration istio-revision-tag-default-${TARGET}, webhook namespace.sidecar-injector.istio.io`,
    );
    expect(after.message).toContain('istio-injection In [enabled] (has istio-injection=enabled)');
    expect(after.message).toContain('istioctl tag remove default');
    expect(after.message).toMatch(/Do not delete the Istio CRDs/);

    // The source's configuration sorts after the tag, so its injection is the last one: the pods
    // still come back on the source, which the restart checks.
    await run(() => restartWorkloads(deps, { ...ref(ns), key: `${RUN}/${ns}/rollback`, expectRevision: SOURCE }));
    const proxies = await run(() => verifyProxies(deps, { ...ref(ns), revision: SOURCE }));
    expect(proxies.problems).toEqual([]);
    await kc.makeApiClient(AdmissionregistrationV1Api).deleteMutatingWebhookConfiguration({ name: `istio-revision-tag-default-${TARGET}` });
  });
});

describe('verifyMesh after every namespace moved', () => {
  it('all proxies on the target; push errors increasing are reported', async () => {
    for (const ns of plannedNamespaces(plan)) await migrate(ns);
    const clean = await run(() => verifyMesh(deps, { plan, migrationId: RUN }));
    expect(clean.onSource).toBe(0);
    expect(clean.onTarget).toBeGreaterThan(0);
    expect(clean.errorIncreases).toEqual([]);

    twin.control.setIstioFaults({ pushErrors: [{ revision: TARGET, type: 'cds_senderr', perSecond: 20 }] });
    try {
      const noisy = await run(() => verifyMesh(deps, { plan, migrationId: RUN }));
      expect(noisy.errorIncreases.some((e) => /pilot_xds_pushes\{type="cds_senderr"\} \d+ -> \d+/.test(e))).toBe(true);
    } finally {
      twin.control.setIstioFaults({ pushErrors: [] });
    }
  });

  it('a proxy that stays STALE is reported by verifyProxies', async () => {
    twin.control.setIstioFaults({ staleProxies: { namespaces: ['payments'], pods: [] } });
    try {
      const r = await run(() =>
        verifyProxies({ ...deps, tuning: { ...deps.tuning, proxySettleMs: 300 } }, { ...ref('payments'), revision: TARGET }),
      );
      expect(r.pods).toBeGreaterThan(0);
      expect(r.synced).toBe(0);
      expect(r.problems.every((p) => /: STALE/.test(p))).toBe(true);
    } finally {
      twin.control.setIstioFaults({ staleProxies: { namespaces: [], pods: [] } });
    }
  });
});
