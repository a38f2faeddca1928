// `inspectNamespace` against the twin through the real client, with and without a plan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectNamespace, renderInspect } from '../../activities/inspect/index.js';
import { fieldReportPlan, startFieldReportTwin, type TwinHandle } from './preflight-twin-fixture.js';
import { asOnRealStack } from '../support/scenario-variants.js';

let twin: TwinHandle;
beforeAll(async () => {
  twin = await startFieldReportTwin();
});
afterAll(async () => {
  await twin.close();
});

describe('inspectNamespace on the field-report twin', () => {
  it('shows injection now and after the plan, discovery, the CA root and per-pod sync', async () => {
    const r = await inspectNamespace(twin.kube, 'orders', fieldReportPlan());
    expect(r.labels['istio-injection']).toBe('enabled');
    expect(r.injection.now.revision).toBe('default');
    expect(r.injection.now.matches.map((m) => m.configName)).toEqual(['istio-sidecar-injector']);
    expect(r.injection.afterRelabel?.revision).toBe('istio-1-16-5');
    expect(r.injection.afterRelabel?.labels).toMatchObject({ 'istio.io/rev': 'istio-1-16-5', usergroup: 'istio-1-16-5' });
    expect(r.injection.afterRelabel?.labels['istio-injection']).toBeUndefined();
    const target = r.discovery.find((d) => d.revision === 'istio-1-16-5')!;
    expect([target.discoversNow, target.discoversAfterRelabel]).toEqual([false, true]);
    const source = r.discovery.find((d) => d.revision === 'default')!;
    expect([source.discoversNow, source.discoversAfterRelabel]).toEqual([true, true]);
    expect(r.caRoot?.owner).toBe('both (shared root)');
    expect(r.pods.length).toBeGreaterThan(0);
    for (const p of r.pods) {
      expect(p.sidecarRevision).toBe('default');
      expect(p.sync).toBe('SYNCED');
    }
    const text = renderInspect(r);
    expect(text).toMatch(/injection now: revision default/);
    expect(text).toMatch(/istio-1-16-5 \(istio-1-16-5\): no, after relabel yes/);
  });

  it('works without a plan (control planes found by their istiod Deployments), and shows STALE', async () => {
    const faults = await twin.control<Record<string, unknown>>('GET', '/_twin/istio/faults');
    await twin.control('PUT', '/_twin/istio/faults', { ...faults, staleProxies: { namespaces: ['payments'], pods: [] } });
    try {
      const r = await inspectNamespace(twin.kube, 'payments');
      expect(r.discovery.map((d) => d.revision).sort()).toEqual(['default', 'istio-1-16-5']);
      expect(r.injection.afterRelabel).toBeUndefined();
      expect(r.pods.every((p) => p.sync === 'STALE')).toBe(true);
      expect(r.caRoot?.owner).toMatch(/default \(istio-system\)/);
    } finally {
      await twin.control('PUT', '/_twin/istio/faults', faults);
    }
  });

  it('an unknown namespace is a non-retryable not-found', async () => {
    await expect(inspectNamespace(twin.kube, 'nope')).rejects.toMatchObject({ type: 'KubeNotFound', nonRetryable: true });
  });
});

describe('inspectNamespace on the cluster as the real stack showed it (split roots, target scoped)', () => {
  let split: TwinHandle;
  beforeAll(async () => {
    split = await startFieldReportTwin(asOnRealStack);
  });
  afterAll(async () => {
    await split.close();
  });

  it("attributes the namespace's root to the source, read from each control plane's own caBundle", async () => {
    for (const plan of [fieldReportPlan(), undefined]) {
      const r = await inspectNamespace(split.kube, 'orders', plan);
      expect(r.caRoot?.owner, JSON.stringify(r.caRoot)).not.toMatch(/both|shared/);
      expect(r.caRoot?.owner).toMatch(/^(source \(default\)|default \(istio-system\))$/);
      expect(r.caRoot?.roots.find((x) => x.revision === 'istio-1-16-5')?.from).toMatch(
        /caBundle of MutatingWebhookConfiguration istio-sidecar-injector-istio-1-16-5-istio-1-16-5/,
      );
    }
    // The copy in the target's own namespace is the source's too: the target never wrote there.
    const own = await inspectNamespace(split.kube, 'istio-1-16-5', fieldReportPlan());
    expect(own.caRoot?.owner).toBe('source (default)');
    expect(renderInspect(own)).toMatch(/istio-ca-root-cert: sha256:\S+ .*from source \(default\)/);
  });
});
