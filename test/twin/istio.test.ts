// The Istio layer of the twin through the real Kubernetes client against startTwin() with the
// field-report scenario (random ports): injection by revision after a relabel + rollout restart,
// syncz over port-forward, the 503 pitfall at the new gateway, probes under ALLOW_ANY and
// REGISTRY_ONLY, metrics, STALE and CA faults, and the split-root-CA fight.
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findProxy, parseSyncz, sidecarRevision } from '../../mesh/syncz.js';
import { startTwin, type Twin } from '../../twin/index.js';
import {
  clientsFor,
  httpGet,
  MERGE,
  podsOf,
  portForward,
  relabelToTarget,
  rolloutRestart,
  runProbe,
  type Clients,
} from './istio-helpers.js';

const scenario = (name: string): string => fileURLToPath(new URL(`../../examples/twin/${name}`, import.meta.url));
const TARGET = 'istio-1-16-5';
process.env.MESHMOVE_LOG_LEVEL ??= 'warn';

async function readIstiod(c: Clients, namespace: string, rev: string, path: string): Promise<string> {
  const pods = await c.core.listNamespacedPod({ namespace, labelSelector: `app=istiod,istio.io/rev=${rev}` });
  const pod = pods.items.find((p) => p.status?.phase === 'Running');
  if (!pod) throw new Error(`no running istiod pod for ${rev}`);
  const pf = await portForward(c.kc, namespace, pod.metadata!.name!, 15014);
  try {
    const res = await httpGet(`http://127.0.0.1:${pf.port}${path}`);
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    return res.body;
  } finally {
    await pf.close();
  }
}

/** Relabel + restart every Deployment of the namespace; resolves when all its pods are on the target. */
async function migrate(c: Clients, namespace: string, discovery = true): Promise<void> {
  await relabelToTarget(c, namespace, discovery);
  await rolloutRestart(c, namespace, namespace);
  await expect
    .poll(
      async () => {
        const pods = await podsOf(c, namespace, namespace);
        return pods.length === 2 && pods.every((p) => sidecarRevision(p) === TARGET && p.status?.phase === 'Running');
      },
      { timeout: 15_000, message: `${namespace} pods on ${TARGET}` },
    )
    .toBe(true);
}

describe('field-report twin (shared root CA, ALLOW_ANY)', () => {
  let twin: Twin;
  let c: Clients;
  const newGateway = (): string => twin.gateways[`${TARGET}/istio-ingressgateway`]!.url;
  const oldGateway = (): string => twin.gateways['istio-system/istio-ingressgateway']!.url;

  beforeAll(async () => {
    twin = await startTwin(scenario('field-report.yaml'), { randomPorts: true });
    c = clientsFor(twin.kubeconfigPath);
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('installs what Istio installs: MWC names of the chart, LoadBalancer status, mesh config, CA roots', async () => {
    const mwcs = await c.kc.makeApiClient(AdmissionregistrationV1Api).listMutatingWebhookConfiguration();
    expect(mwcs.items.map((m) => m.metadata?.name).sort()).toEqual([
      'istio-sidecar-injector',
      'istio-sidecar-injector-istio-1-16-5-istio-1-16-5',
    ]);
    const svc = await c.core.readNamespacedService({ name: 'istio-ingressgateway', namespace: TARGET });
    expect(svc.spec?.type).toBe('LoadBalancer');
    expect(svc.status?.loadBalancer?.ingress?.[0]?.ip).toBe('127.0.0.20');
    const mesh = await c.core.readNamespacedConfigMap({ name: 'istio-istio-1-16-5', namespace: TARGET });
    expect(mesh.data?.mesh).toContain('usergroup: istio-1-16-5');
    const ca = await c.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'orders' });
    expect(ca.metadata?.labels?.['istio.io/config']).toBe('true');
    expect(new X509Certificate(ca.data!['root-cert.pem']!).ca).toBe(true);
    // every app pod starts on the vendor revision (istio-injection=enabled)
    const pods = await podsOf(c, 'orders', 'orders');
    expect(pods.map(sidecarRevision)).toEqual(['default', 'default']);
    expect(pods[0]!.metadata?.labels?.['istio.io/rev']).toBeUndefined();
  });

  it('the new gateway answers 503 for a namespace its istiod does not discover, 200 once labeled', async () => {
    expect((await httpGet(`${oldGateway()}/`, 'shop.y7test.com')).status).toBe(200);
    const before = await httpGet(`${newGateway()}/`, 'shop.y7test.com');
    expect(before.status).toBe(503);
    expect(before.body).toBe('no healthy upstream');
    expect((await httpGet(`${newGateway()}/nothing-here`, 'unknown.example.com')).status).toBe(404);

    // Relabel without the discovery label: injected by the target, still 503 at the new gateway.
    await migrate(c, 'frontend', false);
    expect((await httpGet(`${newGateway()}/`, 'shop.y7test.com')).status).toBe(503);

    await c.core.patchNamespace({ name: 'frontend', body: { metadata: { labels: { usergroup: TARGET } } } }, MERGE);
    const after = await vi.waitFor(
      async () => {
        const r = await httpGet(`${newGateway()}/`, 'shop.y7test.com');
        expect(r.status, '200 from the new gateway').toBe(200);
        return r;
      },
      { timeout: 15_000 },
    );
    expect(JSON.parse(after.body)).toMatchObject({ namespace: 'frontend', service: 'frontend' });
  });

  it('relabel + rollout restart → new pods on the target revision, SYNCED in its syncz via port-forward', async () => {
    await migrate(c, 'orders');
    const pods = await podsOf(c, 'orders', 'orders');
    const syncz = parseSyncz(JSON.parse(await readIstiod(c, TARGET, TARGET, '/debug/syncz')));
    for (const p of pods) expect(findProxy(syncz, p.metadata!.name!, 'orders')?.overall).toBe('SYNCED');
    // and they left the vendor istiod
    const old = parseSyncz(JSON.parse(await readIstiod(c, 'istio-system', 'default', '/debug/syncz')));
    for (const p of pods) expect(findProxy(old, p.metadata!.name!, 'orders')).toBeNull();
    // the not-yet-migrated StatefulSet in the same namespace keeps its vendor sidecar until restarted
    expect(sidecarRevision((await podsOf(c, 'orders', 'orders-ledger'))[0]!)).toBe('default');
  });

  it('probes: a migrated pod reaches a not-yet-migrated namespace through ALLOW_ANY passthrough', async () => {
    await migrate(c, 'payments');
    expect(await runProbe(c, 'payments', 'probe-inventory', 'http://inventory.inventory.svc.cluster.local:8080/healthz')).toBe('200');
    expect(await runProbe(c, 'payments', 'probe-orders', 'http://orders.orders.svc.cluster.local:8080/healthz')).toBe('200');
    expect(await runProbe(c, 'payments', 'probe-missing', 'http://nothing.inventory.svc.cluster.local:8080/')).toBe('000');
  });

  it('metrics: pilot_xds per version and the real error series, never pilot_xds_push_errors_total', async () => {
    const text = await readIstiod(c, TARGET, TARGET, '/metrics');
    const connected = Number(/^pilot_xds\{version="1\.16\.5"\} (\d+)$/m.exec(text)?.[1]);
    expect(connected).toBeGreaterThanOrEqual(5); // gateway + frontend x2 + orders x2 (+ payments)
    expect(text).toContain('pilot_total_xds_internal_errors 0');
    expect(text).not.toContain('pilot_xds_push_errors');
    expect(text).not.toMatch(/cds_senderr/);
    twin.control.setIstioFaults({ pushErrors: [{ revision: TARGET, type: 'cds_senderr', perSecond: 20 }] });
    await new Promise((r) => setTimeout(r, 300));
    const later = await readIstiod(c, TARGET, TARGET, '/metrics');
    expect(Number(/^pilot_xds_pushes\{type="cds_senderr"\} (\d+)$/m.exec(later)?.[1])).toBeGreaterThan(0);
    twin.control.setIstioFaults({ pushErrors: [] });
  });

  it('a STALE fault shows in syncz; a CA that never arrives leaves new sidecars unconnected', async () => {
    const res = await httpGet(`${twin.apiUrl}/_twin/istio/faults`);
    expect(JSON.parse(res.body)).toMatchObject({ caNeverArrives: [] });
    twin.control.setIstioFaults({ staleProxies: { namespaces: ['orders'], pods: [] } });
    const syncz = parseSyncz(JSON.parse(await readIstiod(c, TARGET, TARGET, '/debug/syncz')));
    const pod = (await podsOf(c, 'orders', 'orders'))[0]!;
    expect(findProxy(syncz, pod.metadata!.name!, 'orders')?.overall).toBe('STALE');
    twin.control.setIstioFaults({ staleProxies: { namespaces: [], pods: [] } });

    // A fresh namespace the CA writers skip: its pod runs but its sidecar never connects.
    twin.control.setIstioFaults({ caNeverArrives: ['late'] });
    await c.core.createNamespace({ body: { metadata: { name: 'late', labels: { 'istio.io/rev': TARGET, usergroup: TARGET } } } });
    await c.core.createNamespacedPod({
      namespace: 'late',
      body: { metadata: { name: 'solo', labels: { app: 'solo' } }, spec: { containers: [{ name: 'app', image: 'x' }] } },
    });
    await expect
      .poll(async () => (await c.core.readNamespacedPod({ name: 'solo', namespace: 'late' })).status?.phase === 'Running', {
        timeout: 15_000,
        message: 'late/solo running',
      })
      .toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    await expect(c.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'late' })).rejects.toMatchObject({ code: 404 });
    const proxies = JSON.parse((await httpGet(`${twin.apiUrl}/_twin/istio/proxies`)).body) as Array<{
      pod: string;
      connected: boolean;
      reason?: string;
    }>;
    expect(proxies.find((p) => p.pod === 'late/solo')).toMatchObject({ connected: false });
    // Clearing the fault: the controller writes the root, the kubelet mounts it, the proxy connects.
    twin.control.setIstioFaults({ caNeverArrives: [] });
    await expect
      .poll(
        async () => {
          const list = JSON.parse((await httpGet(`${twin.apiUrl}/_twin/istio/proxies`)).body) as Array<{ pod: string; connected: boolean }>;
          return list.find((p) => p.pod === 'late/solo')?.connected;
        },
        { timeout: 15_000, message: 'late/solo connected' },
      )
      .toBe(true);
  });
});

describe('pitfall variants', () => {
  it('REGISTRY_ONLY: a migrated pod cannot reach a namespace not yet migrated', async () => {
    const twin = await startTwin(scenario('field-report-registry-only.yaml'), { randomPorts: true });
    try {
      const c = clientsFor(twin.kubeconfigPath);
      await migrate(c, 'orders');
      expect(await runProbe(c, 'orders', 'to-payments', 'http://payments.payments.svc.cluster.local:8080/healthz')).toBe('502');
      // still fine from a namespace on the vendor control plane (ALLOW_ANY there)
      expect(await runProbe(c, 'frontend', 'to-orders', 'http://orders.orders.svc.cluster.local:8080/healthz')).toBe('200');
      // and fine once the target is migrated (discovered) too
      await migrate(c, 'payments');
      expect(await runProbe(c, 'orders', 'to-payments-2', 'http://payments.payments.svc.cluster.local:8080/healthz')).toBe('200');
    } finally {
      await twin.close();
    }
  });

  it('different root CAs: istio-ca-root-cert flips between the two roots', async () => {
    const twin = await startTwin(scenario('field-report-split-ca.yaml'), { randomPorts: true, timings: { caRewriteDelayMs: 100 } });
    try {
      const c = clientsFor(twin.kubeconfigPath);
      const roots = new Set([...twin.mesh.istiods.values()].map((i) => i.root.fingerprint256));
      expect(roots.size).toBe(2);
      const seen = new Set<string>();
      await expect
        .poll(
          async () => {
            const cm = await c.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'inventory' });
            seen.add(new X509Certificate(cm.data!['root-cert.pem']!).fingerprint256);
            return seen.size === 2;
          },
          { timeout: 10_000, interval: 30, message: 'both roots seen in inventory' },
        )
        .toBe(true);
      expect(seen).toEqual(roots);
    } finally {
      await twin.close();
    }
  });

  it('webhook conflict: a default tag beside the vendor injector → both webhooks called for a new pod', async () => {
    const twin = await startTwin(scenario('field-report-webhook-conflict.yaml'), { randomPorts: true });
    try {
      const calls = twin.control.counters().webhookCalls.filter((w) => w.namespace === 'orders' && w.outcome === 'patched');
      const configs = new Set(calls.map((w) => w.configuration));
      expect(configs).toEqual(new Set(['istio-revision-tag-default-istio-1-16-5', 'istio-sidecar-injector']));
      // last by name wins: the vendor's istio-sidecar-injector
      const c = clientsFor(twin.kubeconfigPath);
      expect((await podsOf(c, 'orders', 'orders')).map(sidecarRevision)).toEqual(['default', 'default']);
    } finally {
      await twin.close();
    }
  });
});
