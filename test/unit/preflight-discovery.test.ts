import { describe, expect, it } from 'vitest';
import { decideDiscovery, requiredNamespaces } from '../../activities/preflight/discovery.js';
import { controlPlaneScope, istiodBuild } from '../../activities/shared/control-plane-scope.js';
import { decideOutboundPolicy } from '../../activities/preflight/outbound-policy.js';
import type { SelectorLike } from '../../mesh/injection.js';
import { plan } from './preflight-fixtures.js';

const usergroup: SelectorLike[] = [{ matchLabels: { usergroup: 'istio-1-16-5' } }];
const statusOf = (fs: { check: string; status: string }[], check: string) => fs.find((f) => f.check === check)?.status;

describe('decideDiscovery (table)', () => {
  const ns = (name: string, labels: Record<string, string> = {}) => ({ name, labels });
  const cases: {
    name: string;
    target: SelectorLike[];
    source: SelectorLike[];
    namespaces: { name: string; labels: Record<string, string> }[];
    missing?: string[];
    expect: Record<string, string | undefined>;
  }[] = [
    {
      name: 'field report: target selects the plan label, source selects all',
      target: usergroup,
      source: [],
      namespaces: [ns('orders', { 'istio-injection': 'enabled' })],
      expect: { discovery: 'pass', 'discovery/source': 'pass', 'discovery/before-migration': undefined },
    },
    {
      name: 'target selects a label the plan does not set: block (the 503 pitfall)',
      target: [{ matchLabels: { mesh: 'community' } }],
      source: [],
      namespaces: [ns('orders')],
      expect: { 'discovery/orders': 'block' },
    },
    {
      name: 'already discovered before migration: warn',
      target: usergroup,
      source: [],
      namespaces: [ns('orders', { usergroup: 'istio-1-16-5' })],
      expect: { discovery: 'pass', 'discovery/before-migration': 'warn' },
    },
    {
      name: 'target without selectors discovers all: warn about scope',
      target: [],
      source: [],
      namespaces: [ns('orders')],
      expect: { discovery: 'pass', 'discovery/target-scope': 'warn' },
    },
    {
      name: 'source loses the namespace once istio-injection is removed: block',
      target: usergroup,
      source: [{ matchLabels: { 'istio-injection': 'enabled' } }],
      namespaces: [ns('orders', { 'istio-injection': 'enabled' })],
      expect: { 'discovery/source': 'block' },
    },
    {
      name: 'NotIn with absent key keeps selecting (docs/istio-facts.md §3)',
      target: [{ matchExpressions: [{ key: 'usergroup', operator: 'In', values: ['istio-1-16-5'] }] }],
      source: [{ matchExpressions: [{ key: 'istio-tag', operator: 'NotIn', values: ['canary'] }] }],
      namespaces: [ns('orders')],
      expect: { discovery: 'pass', 'discovery/source': 'pass' },
    },
    {
      name: 'a planned namespace that does not exist: block',
      target: usergroup,
      source: [],
      namespaces: [],
      missing: ['ghost'],
      expect: { 'namespace/ghost': 'block' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = decideDiscovery({ plan, namespaces: c.namespaces, missing: c.missing ?? [], target: c.target, source: c.source });
      for (const [check, status] of Object.entries(c.expect)) expect(statusOf(got, check), check).toBe(status);
    });
  }
});

describe("the namespaces outside the plan the target must see (the target's own, the routes' Gateways)", () => {
  const targetPods = { istio: 'oss-public-api-ingressgateway', app: 'istio-ingressgateway' };
  const gw = (namespace: string, name: string, selector: Record<string, string>) => ({ metadata: { namespace, name }, spec: { selector } });
  const vs = (namespace: string, name: string, gateways: string[]) => ({ metadata: { namespace, name }, spec: { gateways } });
  const gateways = [
    gw('istio-system', 'y7test-gateway', { istio: 'ingressgateway' }),
    gw('istio-1-16-5', 'y7test-gateway', { istio: 'oss-public-api-ingressgateway' }),
    gw('edge', 'shared', {}),
  ];
  const labels = new Map<string, Record<string, string>>([
    ['istio-1-16-5', {}],
    ['istio-system', {}],
    ['edge', { team: 'edge' }],
  ]);
  it('the target gateway namespace, and Gateways bound by planned VirtualServices that select the target gateway', () => {
    const got = requiredNamespaces(
      plan,
      labels,
      gateways,
      [
        vs('frontend', 'shop', ['istio-system/y7test-gateway', 'istio-1-16-5/y7test-gateway']),
        vs('orders', 'api', ['istio-1-16-5/y7test-gateway', 'mesh']),
        vs('payments', 'local', ['shared']), // same-namespace reference, no such Gateway: ignored
        vs('unplanned', 'x', ['edge/shared']), // not a planned namespace
      ],
      targetPods,
    );
    expect(got).toEqual([
      {
        name: 'istio-1-16-5',
        labels: {},
        needs: [
          'the target gateway istio-1-16-5/istio-ingressgateway',
          'Gateway istio-1-16-5/y7test-gateway (bound by VirtualService frontend/shop, orders/api)',
        ],
      },
    ]);
  });
  it('a Gateway with an empty selector applies to every gateway, the target one included', () => {
    const got = requiredNamespaces(plan, labels, gateways, [vs('orders', 'api', ['edge/shared'])], targetPods);
    expect(got.map((r) => r.name)).toEqual(['istio-1-16-5', 'edge']);
  });

  const required = [{ name: 'istio-1-16-5', labels: {}, needs: ['the target gateway istio-1-16-5/istio-ingressgateway'] }];
  const view = {
    plan,
    namespaces: [ns('orders', { 'istio-injection': 'enabled' })],
    missing: [],
    target: usergroup,
    source: [] as SelectorLike[],
    required,
  };
  function ns(name: string, l: Record<string, string> = {}) {
    return { name, labels: l };
  }
  const cases: {
    name: string;
    scope?: { scoped: boolean; basis: string };
    labels?: Record<string, string>;
    status: string | undefined;
    reason?: RegExp;
  }[] = [
    {
      name: 'current Istio (scoped): block, the gateway would serve no host',
      scope: { scoped: true, basis: 'Istio 1.31.0' },
      status: 'block',
      reason: /ignores the Istio config of istio-1-16-5.*serve none of their hosts/,
    },
    { name: 'version unknown: taken as current Istio, block', status: 'block', reason: /taken as current Istio/ },
    {
      name: 'Istio 1.16 without enhanced scoping: warn',
      scope: { scoped: false, basis: 'Istio 1.16.5 without ENABLE_ENHANCED_RESOURCE_SCOPING' },
      status: 'warn',
      reason: /works now, but on Istio 1.22\+/,
    },
    {
      name: 'labeled for the target: nothing to say',
      scope: { scoped: true, basis: 'Istio 1.31.0' },
      labels: { usergroup: 'istio-1-16-5' },
      status: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = decideDiscovery({
        ...view,
        required: [{ ...required[0]!, labels: c.labels ?? {} }],
        ...(c.scope ? { targetScope: c.scope } : {}),
      });
      const f = got.find((x) => x.check === 'discovery/istio-1-16-5');
      expect(f?.status).toBe(c.status);
      if (c.reason) expect(f?.reason).toMatch(c.reason);
      if (f) expect(f.fix).toBe("label it with the target's discovery labels: kubectl label namespace istio-1-16-5 usergroup=istio-1-16-5");
      expect(statusOf(got, 'discovery')).toBe('pass');
    });
  }
});

describe("a control plane's scope, from its istiod Deployment (table)", () => {
  const dep = (image: string, env: { name: string; value: string }[] = []) => ({
    spec: { selector: {}, template: { spec: { containers: [{ name: 'discovery', image, env }] } } },
  });
  const cases: { image: string; env?: { name: string; value: string }[]; version?: string; scoped: boolean; basis: RegExp }[] = [
    {
      image: 'docker.io/istio/pilot:1.16.5',
      version: '1.16.5',
      scoped: false,
      basis: /Istio 1.16.5 without ENABLE_ENHANCED_RESOURCE_SCOPING/,
    },
    {
      image: 'docker.io/istio/pilot:1.16.5',
      env: [{ name: 'ENABLE_ENHANCED_RESOURCE_SCOPING', value: 'true' }],
      version: '1.16.5',
      scoped: true,
      basis: /=true/,
    },
    { image: 'docker.io/istio/pilot:1.22.0-distroless', version: '1.22.0-distroless', scoped: true, basis: /Istio 1.22/ },
    {
      image: 'registry:5000/istio/pilot:1.23.1',
      env: [{ name: 'ENABLE_ENHANCED_RESOURCE_SCOPING', value: 'false' }],
      version: '1.23.1',
      scoped: false,
      basis: /=false/,
    },
    {
      image: 'docker.io/istio/pilot:1.26.0',
      env: [{ name: 'ENABLE_ENHANCED_RESOURCE_SCOPING', value: 'false' }],
      version: '1.26.0',
      scoped: true,
      basis: /1.26.0/,
    },
    { image: 'gcr.io/istio-testing/pilot:latest', scoped: true, basis: /names no Istio version: taken as current Istio/ },
    { image: 'docker.io/istio/pilot@sha256:abcd', scoped: true, basis: /names no Istio version/ },
  ];
  for (const c of cases) {
    it(`${c.image} ${JSON.stringify(c.env ?? [])}`, () => {
      const b = istiodBuild(dep(c.image, c.env));
      expect(b.version).toBe(c.version);
      const s = controlPlaneScope(b, []);
      expect(s.scoped).toBe(c.scoped);
      expect(s.basis).toMatch(c.basis);
    });
  }
  it('no Deployment: taken as current Istio', () => {
    expect(controlPlaneScope(istiodBuild(undefined), [])).toMatchObject({ scoped: true, basis: expect.stringMatching(/not found/) });
  });
});

describe('decideOutboundPolicy (table)', () => {
  const cases: { mesh: string | undefined; found?: boolean; status: string; reason?: RegExp }[] = [
    { mesh: undefined, status: 'pass', reason: /absent = ALLOW_ANY/ },
    { mesh: 'discoverySelectors:\n- matchLabels: {usergroup: istio-1-16-5}\n', status: 'pass', reason: /absent = ALLOW_ANY/ },
    { mesh: 'outboundTrafficPolicy:\n  mode: ALLOW_ANY\n', status: 'pass' },
    { mesh: 'outboundTrafficPolicy:\n  mode: ALLOW_ANY_DYNAMIC_DNS\n', status: 'pass' },
    { mesh: 'outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n', status: 'block', reason: /BlackHoleCluster/ },
    { mesh: 'outboundTrafficPolicy:\n  mode: BOGUS\n', status: 'block', reason: /cannot be read/ },
    { mesh: ':::not yaml', status: 'block' },
    { mesh: undefined, found: false, status: 'block', reason: /does not exist/ },
  ];
  for (const c of cases) {
    it(`${c.found === false ? 'missing ConfigMap' : JSON.stringify(c.mesh)} → ${c.status}`, () => {
      const f = decideOutboundPolicy({
        configMap: 'istio-istio-1-16-5',
        namespace: 'istio-1-16-5',
        meshText: c.mesh,
        found: c.found ?? true,
      });
      expect(f.status).toBe(c.status);
      if (c.reason) expect(f.reason).toMatch(c.reason);
    });
  }
});
