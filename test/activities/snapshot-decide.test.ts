// The deciding half of `twin snapshot` without a cluster: root CA grouping, a real-looking cluster's
// shape (revisioned default, a tag, a public gateway address on port 80, an egress gateway, a foreign
// webhook, DNS answers) turned into a scenario, and the pseudonyms of --anonymize.
import { describe, expect, it } from 'vitest';
import {
  anonymizeScenario,
  decideRootCa,
  Pseudonyms,
  scenarioFromCluster,
  type ClusterShape,
  type WorkloadShape,
} from '../../client/snapshot/index.js';
import { parseScenario } from '../../twin/scenario.js';
import { validatePlan } from '../../plan/load.js';

describe('decideRootCa', () => {
  it.each([
    { name: 'all equal', roots: ['a', 'a'], same: true, ids: ['root-1', 'root-1'] },
    { name: 'all different', roots: ['a', 'b'], same: false, ids: ['root-1', 'root-2'] },
    { name: 'mixed', roots: ['a', 'b', 'a'], same: undefined, ids: ['root-1', 'root-2', 'root-1'] },
    { name: 'one unknown', roots: ['a', null], same: undefined, ids: ['root-1', undefined] },
  ])('$name', ({ roots, same, ids }) => {
    const r = decideRootCa(roots.map((root, i) => ({ revision: `r${i}`, root })));
    expect(r.sameRootCA).toBe(same);
    expect(roots.map((_, i) => r.ids.get(`r${i}`))).toEqual(ids);
  });
});

function workload(p: Partial<WorkloadShape> & Pick<WorkloadShape, 'namespace' | 'name'>): WorkloadShape {
  return {
    kind: 'Deployment',
    labels: {},
    replicas: 1,
    podLabels: { app: p.name },
    podAnnotationKeys: [],
    injectAnnotation: undefined,
    imageTags: ['1.0'],
    enhancedScoping: undefined,
    ...p,
  };
}

const hook = (svc: string, ns: string) => ({
  name: 'x.sidecar-injector.istio.io',
  clientConfig: { service: { name: svc, namespace: ns }, caBundle: Buffer.from('ROOT').toString('base64') },
  admissionReviewVersions: ['v1'],
  sideEffects: 'None',
});

const shape: ClusterShape = {
  context: 'prod-eu',
  server: 'https://10.0.0.1:6443',
  namespaces: [
    { name: 'istio-system', labels: {} },
    { name: 'shop', labels: { 'istio.io/rev': '1-16', team: 'shop', 'kubernetes.io/metadata.name': 'shop' } },
    { name: 'kube-system', labels: {} },
  ],
  workloads: [
    workload({
      namespace: 'istio-system',
      name: 'istiod-1-16',
      labels: { app: 'istiod', 'istio.io/rev': '1-16' },
      podLabels: { app: 'istiod', 'istio.io/rev': '1-16' },
      imageTags: ['1.16.5'],
      enhancedScoping: 'true',
      replicas: 9,
    }),
    workload({
      namespace: 'istio-system',
      name: 'istio-ingressgateway',
      podLabels: { app: 'istio-ingressgateway', istio: 'ingressgateway', 'istio.io/rev': 'stable', 'sidecar.istio.io/inject': 'true' },
      replicas: 3,
    }),
    workload({ namespace: 'istio-system', name: 'istio-egressgateway', podLabels: { app: 'istio-egressgateway', istio: 'egressgateway' } }),
    workload({
      namespace: 'shop',
      name: 'cart',
      podLabels: { app: 'cart', version: 'v3', 'sidecar.istio.io/inject': 'true' },
      podAnnotationKeys: ['sidecar.istio.io/inject', 'prometheus.io/scrape'],
      injectAnnotation: 'true',
      replicas: 250,
    }),
    workload({ kind: 'DaemonSet', namespace: 'shop', name: 'agent', replicas: undefined, podLabels: { app: 'agent' } }),
    workload({ namespace: 'kube-system', name: 'coredns' }),
  ],
  services: [
    {
      namespace: 'istio-system',
      name: 'istio-ingressgateway',
      type: 'LoadBalancer',
      selector: { istio: 'ingressgateway' },
      ports: [
        { name: 'status-port', port: 15021 },
        { name: 'http2', port: 80 },
      ],
      externalAddress: '34.1.2.3',
    },
    {
      namespace: 'shop',
      name: 'cart',
      type: 'ClusterIP',
      selector: { app: 'cart' },
      ports: [{ name: 'http', port: 9090 }],
      externalAddress: undefined,
    },
    {
      namespace: 'shop',
      name: 'cart-admin',
      type: 'ClusterIP',
      selector: { app: 'cart' },
      ports: [{ name: 'http', port: 9091 }],
      externalAddress: undefined,
    },
  ],
  mutatingWebhooks: [
    { metadata: { name: 'istio-sidecar-injector-1-16' }, webhooks: [hook('istiod-1-16', 'istio-system')] },
    // The revisioned install that is the default: the injector without a suffix calls istiod-1-16.
    { metadata: { name: 'istio-sidecar-injector' }, webhooks: [hook('istiod-1-16', 'istio-system')] },
    {
      metadata: { name: 'istio-revision-tag-stable', labels: { 'istio.io/tag': 'stable', 'istio.io/rev': '1-16' } },
      webhooks: [hook('istiod-1-16', 'istio-system')],
    },
    { metadata: { name: 'vault-agent-injector', annotations: { secret: 'x' } }, webhooks: [hook('vault', 'vault')] },
  ],
  meshConfigs: new Map([
    ['istio-system/istio-1-16', 'discoverySelectors:\n- matchLabels: {team: shop}\noutboundTrafficPolicy: {mode: REGISTRY_ONLY}\n'],
  ]),
  caRootDigests: new Map([['istio-system', null]]),
  istioConfig: [
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: {
        name: 'cart',
        namespace: 'shop',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
        resourceVersion: '7',
      },
      spec: { hosts: ['cart.example.com'], http: [{ route: [{ destination: { host: 'cart.shop.svc.cluster.local' } }] }] },
      status: { x: 1 },
    },
  ],
  dnsAnswers: new Map([
    ['cart.example.com', { addresses: ['34.1.2.3'], ttl: 60 }],
    ['old.example.com', null],
  ]),
};

const plan = validatePlan({
  apiVersion: 'meshmove.dev/v1alpha1',
  kind: 'MigrationPlan',
  metadata: { name: 'p' },
  source: {
    revision: '1-16',
    istiodNamespace: 'istio-system',
    gateway: { namespace: 'istio-system', service: 'istio-ingressgateway', selector: { istio: 'ingressgateway' } },
  },
  target: {
    revision: '1-20',
    istiodNamespace: 'istio-1-20',
    discoveryLabels: { mesh: '1-20' },
    gateway: { namespace: 'istio-1-20', service: 'gw', selector: { istio: 'gw' } },
  },
  waves: [{ name: 'w', concurrency: 1, namespaces: ['shop'] }],
  approvers: [{ name: 'a' }],
  fourEyes: false,
  identity: 'unverified',
  dns: {
    provider: { type: 'manual' },
    resolvers: ['10.0.0.2'],
    ttl: '30s',
    records: [{ name: 'cart.example.com' }, { name: 'old.example.com' }],
  },
  backup: { location: './b' },
});

describe('scenarioFromCluster', () => {
  const { scenario, lost } = scenarioFromCluster(shape, { plan });
  const s = parseScenario(scenario);

  it('control plane: revision, default by its unsuffixed injector, tag, mesh config, clamped replicas', () => {
    expect(s.controlPlanes).toEqual([
      expect.objectContaining({
        revision: '1-16',
        namespace: 'istio-system',
        isDefault: true,
        version: '1.16.5',
        enhancedResourceScoping: true,
        discoverySelectors: [{ matchLabels: { team: 'shop' } }],
        outboundTrafficPolicy: 'REGISTRY_ONLY',
        tags: ['stable'],
        replicas: 5,
      }),
    ]);
    expect(s.sameRootCA).toBe(true);
  });

  it('gateway: revision through its tag, a loopback address for the public one, port 80 → 18080', () => {
    expect(s.gateways).toEqual([
      {
        name: 'istio-ingressgateway',
        namespace: 'istio-system',
        revision: '1-16',
        labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
        address: '127.0.0.10',
        port: 18080,
        replicas: 3,
      },
    ]);
    expect(lost.join('\n')).toMatch(/port 80: the twin serves it on 18080/);
    expect(lost.join('\n')).toMatch(/external address 34\.1\.2\.3/);
    expect(lost.join('\n')).toMatch(/egress gateway istio-system\/istio-egressgateway/);
  });

  it('namespaces and workloads: injection labels only, first Service, clamped replicas, kube-system left out', () => {
    expect(s.namespaces.map((n) => n.name)).toEqual(['shop']);
    expect(s.namespaces[0]!.labels).toEqual({ 'istio.io/rev': '1-16', team: 'shop' });
    expect(s.namespaces[0]!.workloads).toEqual([
      { kind: 'DaemonSet', name: 'agent', replicas: 1, labels: {}, service: false },
      { kind: 'Deployment', name: 'cart', replicas: 100, labels: { 'sidecar.istio.io/inject': 'true' }, service: { port: 9090 } },
    ]);
    expect(lost.join('\n')).toMatch(/cart-admin/);
    expect(lost.join('\n')).toMatch(/sidecar.istio.io\/inject pod annotation of 1 workload/);
  });

  it('Istio config and foreign webhooks without annotations, status or server fields', () => {
    expect(s.istioConfig).toEqual([
      {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'cart', namespace: 'shop' },
        spec: shape.istioConfig[0]!.spec,
      },
    ]);
    expect(s.objects.map((o) => o.metadata.name)).toEqual(['vault-agent-injector']);
    expect(JSON.stringify(s)).not.toContain('annotations');
  });

  it("an injector called by URL (an external istiod) is the control plane's own by its istio.io/rev, not a foreign object", () => {
    const byUrl = { url: 'https://istiod.example.com:15017/inject', caBundle: Buffer.from('root').toString('base64') };
    const withUrl = {
      ...shape,
      mutatingWebhooks: [
        ...shape.mutatingWebhooks,
        {
          metadata: { name: 'istio-sidecar-injector-1-16-remote', labels: { 'istio.io/rev': '1-16' } },
          webhooks: [{ name: 'rev.namespace.sidecar-injector.istio.io', clientConfig: byUrl }],
        },
        { metadata: { name: 'unknown-url-hook' }, webhooks: [{ name: 'x.example.com', clientConfig: byUrl }] },
      ],
    } as typeof shape;
    const names = parseScenario(scenarioFromCluster(withUrl, { plan }).scenario).objects.map((o) => o.metadata.name);
    expect(names).toEqual(['unknown-url-hook', 'vault-agent-injector']);
  });

  it("DNS: the gateway the answer points at, else the plan's source gateway", () => {
    expect(s.dns.records).toEqual([
      { name: 'cart.example.com', gateway: 'istio-system/istio-ingressgateway', ttl: 60 },
      { name: 'old.example.com', gateway: 'istio-system/istio-ingressgateway', ttl: 30 },
    ]);
    expect(s.ports).toEqual({ api: 0, dns: 0 });
  });

  it('--anonymize: consistent pseudonyms, Istio names and label keys kept', () => {
    const a = parseScenario(anonymizeScenario(scenario));
    const text = JSON.stringify(a);
    for (const original of ['shop', 'cart', 'example', 'vault', 'agent']) expect(text, original).not.toContain(original);
    expect(a.namespaces[0]!.name).toBe('ns-1');
    expect(a.namespaces[0]!.labels).toEqual({ 'istio.io/rev': '1-16', team: 'ns-1' });
    expect(a.controlPlanes[0]!.discoverySelectors).toEqual([{ matchLabels: { team: 'ns-1' } }]);
    const vs = a.istioConfig[0]!;
    // One dictionary: "cart" is the workload app-2 wherever it appears (object name, host label, Service host).
    expect(vs.metadata).toEqual({ name: 'app-2', namespace: 'ns-1' });
    expect(vs.spec).toEqual({
      hosts: ['app-2.host-1.com'],
      http: [{ route: [{ destination: { host: 'app-2.ns-1.svc.cluster.local' } }] }],
    });
    expect(a.dns.records.map((r) => r.name)).toEqual(['app-2.host-1.com', 'host-2.host-1.com']);
    expect(a.objects[0]!.metadata.name).toBe('cfg-1');
    expect(a.gateways[0]!.name).toBe('istio-ingressgateway');
  });
});

describe('Pseudonyms', () => {
  it.each([
    { host: '*.y7test.com', out: '*.host-1.com' },
    { host: 'shop.y7test.com', out: 'host-2.host-1.com' },
    { host: 'istio-system/shop.y7test.com', out: 'istio-system/host-2.host-1.com' },
  ])('$host', ({ host, out }) => {
    const p = new Pseudonyms(new Set(['istio-system']));
    for (const h of ['*.y7test.com', 'shop.y7test.com']) p.addHost(h);
    expect(p.text(host)).toBe(out);
  });
});
