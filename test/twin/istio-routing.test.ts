// Pure decisions of the twin's data plane: gateway routing and probe planning, table-tested.
import { describe, expect, it } from 'vitest';
import type { IstioGateway, IstioVirtualService } from '../../twin/istio/cluster-view.js';
import { hostMatches, parseServiceHost, requestHost, routeRequest, type RoutingContext } from '../../twin/istio/gateway-routing.js';
import { parseProbeUrl, planProbe, type ProbeFacts } from '../../twin/istio/probe-runner.js';
import { injectionPatch } from '../../twin/istio/sidecar-template.js';
import { reviewResponse } from '../../twin/istio/injector-server.js';

const gw = (ns: string, selector: Record<string, string>, hosts = ['*.y7test.com']): IstioGateway => ({
  metadata: { name: 'y7test-gateway', namespace: ns },
  spec: { selector, servers: [{ hosts, port: { number: 80 } }] },
});
const vs: IstioVirtualService[] = [
  {
    metadata: { name: 'shop', namespace: 'frontend' },
    spec: {
      hosts: ['shop.y7test.com'],
      gateways: ['istio-1-16-5/y7test-gateway'],
      http: [{ route: [{ destination: { host: 'frontend.frontend.svc.cluster.local' } }] }],
    },
  },
  {
    metadata: { name: 'api', namespace: 'orders' },
    spec: {
      hosts: ['api.y7test.com'],
      gateways: ['istio-1-16-5/y7test-gateway', 'mesh'],
      http: [
        { match: [{ uri: { prefix: '/orders' } }], route: [{ destination: { host: 'orders' } }] },
        { match: [{ uri: { exact: '/pay' } }], route: [{ destination: { host: 'payments.payments' } }] },
      ],
    },
  },
  {
    metadata: { name: 'mesh-only', namespace: 'inventory' },
    spec: { hosts: ['inv.y7test.com'], http: [{ route: [{ destination: { host: 'inventory' } }] }] },
  },
];

function ctx(over: Partial<RoutingContext> = {}): RoutingContext {
  return {
    podLabels: { istio: 'oss-public-api-ingressgateway' },
    namespace: 'istio-1-16-5',
    gateways: [gw('istio-1-16-5', { istio: 'oss-public-api-ingressgateway' }), gw('istio-system', { istio: 'ingressgateway' })],
    virtualServices: vs,
    seesConfigIn: () => true,
    discovers: () => true,
    serviceExists: () => true,
    hasEndpoints: () => true,
    ...over,
  };
}

describe('gateway routing', () => {
  it.each([
    ['shop.y7test.com', '/', {}, 'forward', 'frontend'],
    ['shop.y7test.com:80', '/x?y=1', {}, 'forward', 'frontend'],
    ['api.y7test.com', '/orders/1', {}, 'forward', 'orders'],
    ['api.y7test.com', '/pay', {}, 'forward', 'payments'],
    ['api.y7test.com', '/pay/more', {}, 404, undefined],
    ['inv.y7test.com', '/', {}, 404, undefined], // bound to the mesh only
    ['other.example.com', '/', {}, 404, undefined],
    ['shop.y7test.com', '/', { discovers: (ns: string) => ns !== 'frontend' }, 503, 'frontend'], // the field report's 503
    ['shop.y7test.com', '/', { serviceExists: () => false }, 503, 'frontend'],
    ['shop.y7test.com', '/', { hasEndpoints: () => false }, 503, 'frontend'],
    // enhanced scoping hides the VirtualService itself → no route
    ['shop.y7test.com', '/', { seesConfigIn: (ns: string) => ns !== 'frontend' }, 404, undefined],
    // the old gateway's pods are not selected by the Gateway the VirtualService binds
    ['shop.y7test.com', '/', { podLabels: { istio: 'ingressgateway' } }, 404, undefined],
  ] as Array<[string, string, Partial<RoutingContext>, 404 | 503 | 'forward', string | undefined]>)(
    '%s %s %j → %s',
    (host, path, over, status, ns) => {
      const d = routeRequest(host, path, ctx(over));
      expect(d.status).toBe(status);
      if (ns !== undefined) expect('destination' in d ? d.destination?.namespace : undefined).toBe(ns);
    },
  );

  it('server hosts with a namespace restrict which VirtualServices bind', () => {
    const c = ctx({ gateways: [gw('istio-1-16-5', { istio: 'oss-public-api-ingressgateway' }, ['orders/*.y7test.com'])] });
    expect(routeRequest('api.y7test.com', '/orders', c).status).toBe('forward');
    expect(routeRequest('shop.y7test.com', '/', c).status).toBe(404);
  });

  it.each([
    ['*', 'a.b', true],
    ['*.y7test.com', 'shop.y7test.com', true],
    ['*.y7test.com', 'y7test.com', false],
    ['shop.y7test.com', 'SHOP.y7test.com', true],
    ['shop.y7test.com', 'api.y7test.com', false],
  ])('hostMatches(%s, %s) → %s', (p, h, want) => expect(hostMatches(p, h)).toBe(want));

  it('parses hosts', () => {
    expect(requestHost('a.b:8080')).toBe('a.b');
    expect(parseServiceHost('orders', 'x')).toEqual({ service: 'orders', namespace: 'x' });
    expect(parseServiceHost('orders.orders.svc.cluster.local', 'x')).toEqual({ service: 'orders', namespace: 'orders' });
    expect(parseServiceHost('orders.orders.svc', 'x')).toEqual({ service: 'orders', namespace: 'orders' });
    expect(parseServiceHost('www.example.com', 'x')).toBeNull();
  });
});

describe('probe planning (docs/istio-facts.md §7)', () => {
  const target = parseProbeUrl('http://payments.payments.svc.cluster.local:8080/healthz', 'orders');
  const base: ProbeFacts = {
    target,
    sidecar: { revision: 'istio-1-16-5', connected: true },
    outboundMode: 'ALLOW_ANY',
    targetDiscovered: true,
    serviceExists: true,
    hasEndpoints: true,
  };
  it.each([
    ['discovered → mesh call', {}, 'call:mesh'],
    ['not discovered, ALLOW_ANY → passthrough', { targetDiscovered: false }, 'call:passthrough'],
    ['not discovered, REGISTRY_ONLY → BlackHole 502', { targetDiscovered: false, outboundMode: 'REGISTRY_ONLY' }, '502'],
    ['discovered, REGISTRY_ONLY → mesh call', { outboundMode: 'REGISTRY_ONLY' }, 'call:mesh'],
    ['sidecar not connected → 000', { sidecar: { revision: 'istio-1-16-5', connected: false, reason: 'root CA mismatch' } }, '000'],
    ['no sidecar → plain call', { sidecar: { revision: null, connected: false, reason: 'no sidecar' } }, 'call:plain'],
    ['no service → 000', { serviceExists: false }, '000'],
    ['no endpoints in mesh → 503', { hasEndpoints: false }, '503'],
    ['no endpoints plain → 000', { hasEndpoints: false, sidecar: { revision: null, connected: false, reason: 'no sidecar' } }, '000'],
    ['external URL → 000', { target: parseProbeUrl('http://www.example.com/', 'orders') }, '000'],
  ] as Array<[string, Partial<ProbeFacts>, string]>)('%s', (_n, over, want) => {
    const p = planProbe({ ...base, ...over });
    expect(p.kind === 'call' ? `call:${p.via}` : p.code).toBe(want);
  });

  it('parses probe URLs', () => {
    expect(target).toEqual({ service: 'payments', namespace: 'payments', port: 8080, path: '/healthz' });
    expect(parseProbeUrl('http://orders/x?y=1', 'orders')).toEqual({ service: 'orders', namespace: 'orders', port: 80, path: '/x?y=1' });
    expect(parseProbeUrl('not a url', 'x')).toBeNull();
  });
});

describe('sidecar injection patch', () => {
  const params = {
    revision: 'istio-1-16-5',
    version: '1.16.5',
    discoveryAddress: 'istiod-istio-1-16-5.istio-1-16-5.svc:15012',
    istiodNamespace: 'istio-1-16-5',
  };
  const apply = (pod: Record<string, unknown>, ops: Array<{ op: string; path: string; value?: unknown }>): Record<string, unknown> => {
    const out = structuredClone(pod) as Record<string, Record<string, unknown>>;
    for (const op of ops) {
      const [, a, b] = op.path.split('/');
      out[a!] ??= {};
      out[a!]![b!] = op.value;
    }
    return out;
  };

  it('adds istio-proxy, istio-init, the CA volume, labels and the status with the revision', () => {
    const pod = { metadata: { generateName: 'web-', labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'a' }] } };
    const out = apply(pod, injectionPatch(pod, params)) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }>;
        initContainers: Array<{ name: string }>;
        volumes: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
    expect(out.spec.containers.map((c) => c.name)).toEqual(['app', 'istio-proxy']);
    expect(out.spec.initContainers.map((c) => c.name)).toEqual(['istio-init']);
    expect(out.spec.volumes.find((v) => v.name === 'istiod-ca-cert')?.configMap?.name).toBe('istio-ca-root-cert');
    expect(JSON.parse(out.metadata.annotations['sidecar.istio.io/status']!)).toMatchObject({
      revision: 'istio-1-16-5',
      containers: ['istio-proxy'],
    });
    expect(out.metadata.labels).toMatchObject({
      app: 'web',
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': 'web',
      'service.istio.io/canonical-revision': 'latest',
    });
    expect(out.metadata.labels['istio.io/rev']).toBeUndefined();
    const env = out.spec.containers[1]!.env!;
    expect(env.find((e) => e.name === 'PROXY_CONFIG')?.value).toContain('istiod-istio-1-16-5.istio-1-16-5.svc:15012');

    // A second injection (another webhook later by name) replaces the first one, no duplicates.
    const again = apply(
      out,
      injectionPatch(out as never, { ...params, revision: 'default', discoveryAddress: 'istiod.istio-system.svc:15012' }),
    ) as typeof out;
    expect(again.spec.containers.map((c) => c.name)).toEqual(['app', 'istio-proxy']);
    expect(again.spec.initContainers.map((c) => c.name)).toEqual(['istio-init']);
    expect(JSON.parse(again.metadata.annotations['sidecar.istio.io/status']!).revision).toBe('default');
  });

  it('answers AdmissionReviews: patch for pods, nothing for opted-out pods', () => {
    const review = (object: unknown): Parameters<typeof reviewResponse>[0] => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u1', namespace: 'orders', operation: 'CREATE', kind: { kind: 'Pod' }, object: object as never },
    });
    const yes = reviewResponse(review({ metadata: { labels: {} }, spec: { containers: [{ name: 'a' }] } }), params) as {
      response: { uid: string; allowed: boolean; patchType?: string; patch?: string };
    };
    expect(yes.response).toMatchObject({ uid: 'u1', allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(yes.response.patch!, 'base64').toString())).toBeInstanceOf(Array);
    const no = reviewResponse(
      review({ metadata: { labels: { 'sidecar.istio.io/inject': 'false' } }, spec: { containers: [] } }),
      params,
    ) as { response: Record<string, unknown> };
    expect(no.response).toEqual({ uid: 'u1', allowed: true });
  });
});
