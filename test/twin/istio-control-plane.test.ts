// The twin's control planes as the real ones behaved on a real kube-apiserver
// (docs/real-control-plane.md): where each namespace controller writes
// istio-ca-root-cert, how two of them with different roots fight over it, whose root is in each
// webhook configuration's caBundle, and the validating webhooks of a default install — including
// istiod-default-validator refusing every Istio write once its istiod is gone.
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { AdmissionregistrationV1Api, CustomObjectsApi, Watch, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTwin, type Twin } from '../../twin/index.js';
import { parseScenario } from '../../twin/scenario.js';
import { asOnRealStack, TARGET_REVISION as TARGET } from '../support/scenario-variants.js';
import { sidecarRevision } from '../../mesh/syncz.js';
import { clientsFor, httpGet, MERGE, podsOf, relabelToTarget, rolloutRestart, type Clients } from './istio-helpers.js';

process.env.MESHMOVE_LOG_LEVEL ??= 'warn';
const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const CA = 'istio-ca-root-cert';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function scenario(edit: (s: any) => void = () => undefined) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const doc = parse(readFileSync(SCENARIO, 'utf8')) as any;
  asOnRealStack(doc);
  // The real istiods answer each other within ~0.3 s: the scenario's default.
  delete doc.timings.caRewriteDelayMs;
  edit(doc);
  return parseScenario(doc, 'real-stack variant');
}

const fp = (pem: string | undefined): string => (pem ? new X509Certificate(pem).fingerprint256 : 'none');

async function rootIn(c: Clients, namespace: string): Promise<string | undefined> {
  try {
    return (await c.core.readNamespacedConfigMap({ name: CA, namespace })).data?.['root-cert.pem'];
  } catch {
    return undefined;
  }
}

describe('namespace controllers and webhook configurations (split roots, target scoped by discoverySelectors)', () => {
  let twin: Twin;
  let c: Clients;
  let sourceRoot: string;
  let targetRoot: string;
  beforeAll(async () => {
    twin = await startTwin(scenario(), { randomPorts: true });
    c = clientsFor(twin.kubeconfigPath);
    sourceRoot = twin.mesh.istiods.get('default')!.root.pem;
    targetRoot = twin.mesh.istiods.get(TARGET)!.root.pem;
    expect(fp(sourceRoot)).not.toBe(fp(targetRoot));
  });
  afterAll(async () => {
    await twin?.close();
  });

  it("the target never writes its own namespace: the source's root sits there", async () => {
    // Give the target's controller time to act, were it going to.
    await new Promise((r) => setTimeout(r, 500));
    expect(fp(await rootIn(c, TARGET))).toBe(fp(sourceRoot));
    expect(fp(await rootIn(c, 'istio-system'))).toBe(fp(sourceRoot));
    expect(fp(await rootIn(c, 'orders'))).toBe(fp(sourceRoot));
    expect(twin.mesh.istiods.get(TARGET)!.namespaceController.writes).toBe(0);
  });

  it("each istiod's injector caBundle holds its own root", async () => {
    const api = c.kc.makeApiClient(AdmissionregistrationV1Api);
    const bundle = async (name: string) =>
      Buffer.from((await api.readMutatingWebhookConfiguration({ name })).webhooks![0]!.clientConfig.caBundle ?? '', 'base64').toString(
        'utf8',
      );
    expect(fp(await bundle('istio-sidecar-injector'))).toBe(fp(sourceRoot));
    expect(fp(await bundle('istio-sidecar-injector-istio-1-16-5-istio-1-16-5'))).toBe(fp(targetRoot));
  });

  it('two controllers selecting one namespace rewrite it within ~0.3 s of each other, non-stop', async () => {
    await c.core.patchNamespace({ name: 'payments', body: { metadata: { labels: { usergroup: TARGET } } } }, MERGE);
    const events: { at: number; rv: string; root: string }[] = [];
    const abort = await new Watch(c.kc).watch(
      '/api/v1/namespaces/payments/configmaps',
      { fieldSelector: `metadata.name=${CA}` },
      (type, obj: V1ConfigMap) => {
        if (type === 'MODIFIED') events.push({ at: Date.now(), rv: obj.metadata!.resourceVersion!, root: fp(obj.data?.['root-cert.pem']) });
      },
      () => undefined,
    );
    try {
      await expect.poll(async () => events.length >= 10, { timeout: 10_000, interval: 50, message: 'ten rewrites' }).toBe(true);
    } finally {
      abort.abort();
    }
    const gaps = events.slice(1).map((e, i) => e.at - events[i]!.at);
    // Each rewrite puts the other root back.
    for (let i = 1; i < events.length; i++) expect(events[i]!.root).not.toBe(events[i - 1]!.root);
    expect(new Set(events.map((e) => e.root))).toEqual(new Set([fp(sourceRoot), fp(targetRoot)]));
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThan(150);
    expect(median).toBeLessThan(700);
  });

  it('a namespace that stops matching keeps the last root written; the controller never deletes it', async () => {
    await c.core.patchNamespace({ name: 'payments', body: { metadata: { labels: { usergroup: null } } } }, MERGE);
    // The source (no discoverySelectors) wins and keeps it; the target stops writing; nobody deletes it.
    await expect
      .poll(async () => fp(await rootIn(c, 'payments')) === fp(sourceRoot), { timeout: 5_000, message: 'the source root back in payments' })
      .toBe(true);
    const writes = twin.mesh.istiods.get(TARGET)!.namespaceController.writes;
    await new Promise((r) => setTimeout(r, 800));
    expect(twin.mesh.istiods.get(TARGET)!.namespaceController.writes).toBe(writes);
    expect(fp(await rootIn(c, 'payments'))).toBe(fp(sourceRoot));
  });
});

describe('where only the target selects a namespace (source scoped too)', () => {
  it('the target writes it once selected and leaves it there when the label goes', async () => {
    const twin = await startTwin(
      scenario((s) => {
        const source = s.controlPlanes.find((x: { revision: string }) => x.revision === 'default');
        source.version = '1.31.0';
        source.discoverySelectors = [{ matchLabels: { 'istio-injection': 'enabled' } }];
        s.namespaces.push({ name: 'scratch', labels: {} });
      }),
      { randomPorts: true },
    );
    try {
      const c = clientsFor(twin.kubeconfigPath);
      const targetRoot = twin.mesh.istiods.get(TARGET)!.root.pem;
      expect(await rootIn(c, 'scratch')).toBeUndefined();
      await c.core.patchNamespace({ name: 'scratch', body: { metadata: { labels: { usergroup: TARGET } } } }, MERGE);
      await expect
        .poll(async () => fp(await rootIn(c, 'scratch')) === fp(targetRoot), { timeout: 5_000, message: 'the target root in scratch' })
        .toBe(true);
      await c.core.patchNamespace({ name: 'scratch', body: { metadata: { labels: { usergroup: null } } } }, MERGE);
      await new Promise((r) => setTimeout(r, 600));
      expect(fp(await rootIn(c, 'scratch'))).toBe(fp(targetRoot));
    } finally {
      await twin.close();
    }
  });
});

describe('a target scoped by discoverySelectors ignores the Gateway in its own, unselected namespace', () => {
  it('the new gateway serves no host for a migrated namespace until that namespace is selected', async () => {
    const twin = await startTwin(
      scenario((s) => {
        s.sameRootCA = true;
      }),
      { randomPorts: true },
    );
    try {
      const c = clientsFor(twin.kubeconfigPath);
      const newGateway = twin.gateways[`${TARGET}/istio-ingressgateway`]!.url;
      await relabelToTarget(c, 'frontend');
      await rolloutRestart(c, 'frontend', 'frontend');
      await expect
        .poll(
          async () => {
            const pods = await podsOf(c, 'frontend', 'frontend');
            return pods.length === 2 && pods.every((p) => sidecarRevision(p) === TARGET && p.status?.phase === 'Running');
          },
          { timeout: 15_000, message: 'frontend pods on the target' },
        )
        .toBe(true);
      // Migrated and discovered, but the Gateway istio-1-16-5/y7test-gateway is invisible to the target: no route.
      const before = await httpGet(`${newGateway}/`, 'shop.y7test.com');
      expect(before.status).toBe(404);
      await c.core.patchNamespace({ name: TARGET, body: { metadata: { labels: { usergroup: TARGET } } } }, MERGE);
      const after = await vi.waitFor(
        async () => {
          const r = await httpGet(`${newGateway}/`, 'shop.y7test.com');
          expect(r.status, '200 once istio-1-16-5 is selected').toBe(200);
          return r;
        },
        { timeout: 15_000 },
      );
      expect(JSON.parse(after.body)).toMatchObject({ namespace: 'frontend' });
    } finally {
      await twin.close();
    }
  });
});

describe('validating webhooks of a default install (values.defaultRevision=default)', () => {
  let twin: Twin;
  let c: Clients;
  const vs = (name: string) => ({
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'orders' },
    spec: { hosts: [`${name}.y7test.com`], http: [{ route: [{ destination: { host: 'orders.orders.svc.cluster.local' } }] }] },
  });
  const createVs = (name: string) =>
    c.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1beta1',
      namespace: 'orders',
      plural: 'virtualservices',
      body: vs(name),
    });
  beforeAll(async () => {
    twin = await startTwin(SCENARIO, { randomPorts: true });
    c = clientsFor(twin.kubeconfigPath);
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('the names Istio renders; the default validator selects every object and is fail-closed once istiod answers', async () => {
    const api = c.kc.makeApiClient(AdmissionregistrationV1Api);
    const list = await vi.waitFor(
      async () => {
        const l = (await api.listValidatingWebhookConfiguration()).items;
        expect(
          l.flatMap((v) => v.webhooks!.map((w) => w.failurePolicy)).every((p) => p === 'Fail'),
          'every validator Fail',
        ).toBe(true);
        return l;
      },
      { timeout: 5_000 },
    );
    expect(list.map((v) => v.metadata!.name).sort()).toEqual([
      'istio-validator-istio-1-16-5-istio-1-16-5',
      'istio-validator-istio-system',
      'istiod-default-validator',
    ]);
    const dflt = list.find((v) => v.metadata!.name === 'istiod-default-validator')!;
    expect(dflt.metadata!.labels!['istio.io/rev']).toBe('default');
    expect(dflt.webhooks![0]!.objectSelector ?? {}).toEqual({});
    expect(dflt.webhooks![0]!.clientConfig.service).toMatchObject({ name: 'istiod', namespace: 'istio-system', path: '/validate' });
    const revisioned = list.find((v) => v.metadata!.name === 'istio-validator-istio-1-16-5-istio-1-16-5')!;
    expect(revisioned.webhooks![0]!.objectSelector).toEqual({
      matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: [TARGET] }],
    });
  });

  it('an Istio write is validated by the source istiod, refused once it is gone, accepted once the validator points at the target', async () => {
    await createVs('before');
    expect(
      twin.control
        .counters()
        .webhookCalls.some((w) => w.configuration === 'istiod-default-validator' && w.name === 'before' && w.outcome === 'allowed'),
    ).toBe(true);

    await c.apps.deleteNamespacedDeployment({ name: 'istiod', namespace: 'istio-system' });
    await expect
      .poll(async () => (await c.core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=istiod' })).items.length === 0, {
        timeout: 15_000,
        message: 'no source istiod pod',
      })
      .toBe(true);
    const refused = await createVs('after').then(
      () => undefined,
      (e: unknown) => e as { code?: number; body?: string },
    );
    expect(refused?.code).toBe(500);
    expect((JSON.parse(String(refused?.body)) as { message: string }).message).toMatch(
      /failed calling webhook "validation.istio.io".*no endpoints available for service "istiod"/,
    );

    // What `istioctl tag set default --revision istio-1-16-5` does to it.
    const api = c.kc.makeApiClient(AdmissionregistrationV1Api);
    const cur = await api.readValidatingWebhookConfiguration({ name: 'istiod-default-validator' });
    await api.patchValidatingWebhookConfiguration(
      {
        name: 'istiod-default-validator',
        body: {
          metadata: { labels: { 'istio.io/rev': TARGET } },
          webhooks: cur.webhooks!.map((w) => ({
            ...w,
            clientConfig: { service: { name: `istiod-${TARGET}`, namespace: TARGET, path: '/validate', port: 443 } },
          })),
        },
      },
      MERGE,
    );
    await createVs('moved');
    // The target istiod takes it over: its own root in the caBundle, still fail-closed.
    const targetRoot = twin.mesh.istiods.get(TARGET)!.root.pem;
    const after = await vi.waitFor(
      async () => {
        const v = await api.readValidatingWebhookConfiguration({ name: 'istiod-default-validator' });
        expect(Buffer.from(v.webhooks![0]!.clientConfig.caBundle ?? '', 'base64').toString('utf8'), 'the target root in its caBundle').toBe(
          targetRoot,
        );
        return v;
      },
      { timeout: 5_000 },
    );
    expect(after.webhooks![0]!.failurePolicy).toBe('Fail');
  });
});
