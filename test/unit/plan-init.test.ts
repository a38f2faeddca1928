// The decisions of `meshmove plan init`, table-driven: source/target, waves, discovery labels,
// gateway selectors, DNS hosts, and the placeholder approver keys.
import { describe, expect, it } from 'vitest';
import {
  chooseDiscoveryLabels,
  chooseSides,
  gatewaySelector,
  hostsBoundTo,
  keyNobodyHolds,
  PlanInitError,
  suggestWaves,
} from '../../client/plan-init/index.js';
import { fieldOfFinding } from '../../client/plan-init/index.js';
import type { ControlPlaneInfo } from '../../client/plan-init/inventory.js';
import { parsePublicKey } from '../../workflows/identity/sshsig.js';

const cp = (revision: string, namespace: string, injectedNamespaces: number): ControlPlaneInfo => ({
  revision,
  namespace,
  injectedNamespaces,
  discoverySelectors: [],
  discoverySelectorsText: '',
  rootFrom: '',
});

describe('chooseSides', () => {
  const two = [cp('istio-1-16-5', 'istio-1-16-5', 0), cp('default', 'istio-system', 4)];
  it.each([
    { name: 'two, no flags: the one injecting more is the source', cps: two, flags: {}, source: 'default', target: 'istio-1-16-5' },
    {
      name: 'flags win over injection counts',
      cps: two,
      flags: { source: 'istio-1-16-5', target: 'default' },
      source: 'istio-1-16-5',
      target: 'default',
    },
    { name: '--source only: target is the other', cps: two, flags: { source: 'default' }, source: 'default', target: 'istio-1-16-5' },
    { name: '--target only: source is the other', cps: two, flags: { target: 'istio-1-16-5' }, source: 'default', target: 'istio-1-16-5' },
    {
      name: 'three, both flags',
      cps: [...two, cp('canary', 'istio-canary', 1)],
      flags: { source: 'canary', target: 'default' },
      source: 'canary',
      target: 'default',
    },
  ])('$name', ({ cps, flags, source, target }) => {
    const s = chooseSides(cps, flags);
    expect([s.source.revision, s.target.revision]).toEqual([source, target]);
  });

  it.each([
    { name: 'none', cps: [], flags: {}, message: /needs two control planes.*no control plane/ },
    {
      name: 'one',
      cps: [cp('default', 'istio-system', 3)],
      flags: {},
      message: /needs two control planes.*default \(istiod in istio-system/,
    },
    {
      name: 'tie',
      cps: [cp('a', 'ns-a', 2), cp('b', 'ns-b', 2)],
      flags: {},
      message: /both control planes inject 2.*--source REV --target REV/,
    },
    {
      name: 'three without flags',
      cps: [cp('a', 'ns-a', 2), cp('b', 'ns-b', 1), cp('c', 'ns-c', 0)],
      flags: {},
      message: /3 control planes.*a \(istiod in ns-a.*b \(.*c \(.*--source REV --target REV/,
    },
    {
      name: 'three with --source only',
      cps: [cp('a', 'ns-a', 2), cp('b', 'ns-b', 1), cp('c', 'ns-c', 0)],
      flags: { source: 'a' },
      message: /cannot tell the target/,
    },
    {
      name: 'unknown --source',
      cps: two,
      flags: { source: 'nope', target: 'default' },
      message: /--source nope: no control plane of that revision; control planes found: istio-1-16-5 .*default/,
    },
    { name: 'same revision twice', cps: two, flags: { source: 'default', target: 'default' }, message: /must differ/ },
  ])('error: $name', ({ cps, flags, message }) => {
    expect(() => chooseSides(cps, flags)).toThrow(PlanInitError);
    expect(() => chooseSides(cps, flags)).toThrow(message);
  });
});

describe('suggestWaves', () => {
  const ns = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `ns-${String(i).padStart(4, '0')}`, workloads: (i * 7) % 11 }));
  it.each([1, 2, 4, 9, 10, 99, 100, 2000])('%i namespaces: each once, canary of the smallest, growing waves, concurrency <= 50', (n) => {
    const input = ns(n);
    const waves = suggestWaves(input);
    const all = waves.flatMap((w) => w.namespaces);
    expect(all.sort()).toEqual(input.map((x) => x.name).sort());
    const canary = waves[0]!;
    expect(canary.name).toBe('canary');
    expect(canary.concurrency).toBe(1);
    expect(canary.namespaces.length).toBe(n < 10 ? 1 : n < 100 ? 2 : 3);
    // The canary holds the smallest: none outside it has fewer workloads than any inside.
    const w = (name: string) => input.find((x) => x.name === name)!.workloads;
    const maxInCanary = Math.max(...canary.namespaces.map(w));
    for (const x of input) if (!canary.namespaces.includes(x.name)) expect(x.workloads).toBeGreaterThanOrEqual(maxInCanary);
    for (let i = 1; i < waves.length; i++) {
      const w = waves[i]!;
      expect(w.concurrency).toBeLessThanOrEqual(50);
      expect(w.concurrency).toBeLessThanOrEqual(w.namespaces.length);
      // Growing x2 then x3 (the last wave takes what is left).
      if (i < waves.length - 1) expect(w.namespaces.length).toBe(waves[i - 1]!.namespaces.length * (i === 1 ? 2 : 3));
      if (i < waves.length - 1 && i > 1) expect(w.concurrency).toBeGreaterThanOrEqual(waves[i - 1]!.concurrency);
    }
  });

  it('among equals, namespaces serving no gateway host go first (the field report: inventory is the canary)', () => {
    const waves = suggestWaves([
      { name: 'frontend', workloads: 1, hosts: 1 },
      { name: 'inventory', workloads: 1, hosts: 0 },
      { name: 'orders', workloads: 2, hosts: 1 },
      { name: 'payments', workloads: 1, hosts: 0 },
    ]);
    expect(waves).toEqual([
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'wave-2', concurrency: 2, namespaces: ['payments', 'frontend'] },
      { name: 'wave-3', concurrency: 1, namespaces: ['orders'] },
    ]);
  });

  it('no namespace: no wave', () => expect(suggestWaves([])).toEqual([]));
});

describe('chooseDiscoveryLabels', () => {
  it.each([
    { name: 'matchLabels', sels: [{ matchLabels: { usergroup: 'istio-1-16-5' } }], labels: { usergroup: 'istio-1-16-5' }, derived: true },
    {
      name: 'first satisfiable of several',
      sels: [{ matchExpressions: [{ key: 'env', operator: 'In', values: ['a'] }] }, { matchLabels: { team: 'x' } }],
      labels: { team: 'x' },
      derived: true,
    },
    {
      name: 'matchLabels contradicted by an expression',
      sels: [{ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['b'] }] }],
      labels: { 'istio.io/rev': 'r' },
      derived: false,
    },
    {
      name: 'expressions only',
      sels: [{ matchExpressions: [{ key: 'env', operator: 'Exists' }] }],
      labels: { 'istio.io/rev': 'r' },
      derived: false,
    },
    { name: 'no selectors: every namespace', sels: [], labels: { 'istio.io/rev': 'r' }, derived: true },
  ])('$name', ({ sels, labels, derived }) => {
    const c = chooseDiscoveryLabels(sels, 'r');
    expect(c.labels).toEqual(labels);
    expect(c.derived).toBe(derived);
    if (!derived) expect(c.note).toMatch(/CANNOT BE DERIVED/);
  });
});

describe('gatewaySelector', () => {
  it.each<{
    name: string;
    podLabels: Record<string, string>;
    service?: { name: string; selector: Record<string, string> };
    want: Record<string, string>;
  }>([
    {
      name: 'the istio label',
      podLabels: { istio: 'ingressgateway', app: 'istio-ingressgateway', 'sidecar.istio.io/inject': 'true' },
      service: undefined,
      want: { istio: 'ingressgateway' },
    },
    {
      name: 'else the Service selector',
      podLabels: { app: 'gw', 'istio.io/rev': 'x' },
      service: { name: 'gw', selector: { app: 'gw' } },
      want: { app: 'gw' },
    },
    {
      name: 'else identity labels',
      podLabels: { app: 'gw', 'istio.io/rev': 'x', 'sidecar.istio.io/inject': 'true' },
      service: undefined,
      want: { app: 'gw' },
    },
  ])('$name', ({ podLabels, service, want }) => {
    expect(gatewaySelector({ podLabels, ...(service ? { service } : {}) })).toEqual(want);
  });
});

describe('hostsBoundTo', () => {
  const gw = (ns: string, name: string, selector: Record<string, string>) => ({ metadata: { namespace: ns, name }, spec: { selector } });
  const vs = (ns: string, name: string, hosts: string[], gateways: string[]) => ({
    metadata: { namespace: ns, name },
    spec: { hosts, gateways },
  });
  it('hosts of VirtualServices bound to a Gateway selecting the pods; wildcards and other gateways skipped', () => {
    const r = hostsBoundTo(
      { istio: 'ingressgateway', app: 'x' },
      [
        gw('istio-system', 'public', { istio: 'ingressgateway' }),
        gw('other', 'internal', { istio: 'internal' }),
        gw('shop', 'local', { istio: 'ingressgateway' }),
      ],
      [
        vs('frontend', 'shop', ['Shop.Example.com'], ['istio-system/public', 'new/public']),
        vs('orders', 'api', ['api.example.com', '*.example.com'], ['istio-system/public']),
        vs('internal', 'int', ['int.example.com'], ['other/internal']),
        vs('shop', 'rel', ['rel.example.com'], ['local']),
        vs('mesh', 'm', ['m.example.com'], ['mesh']),
      ],
    );
    expect(r.hosts).toEqual([
      { name: 'api.example.com', namespaces: ['orders'] },
      { name: 'rel.example.com', namespaces: ['shop'] },
      { name: 'shop.example.com', namespaces: ['frontend'] },
    ]);
    expect(r.skipped).toEqual(['*.example.com']);
  });
});

describe('placeholders and placement', () => {
  it('the approver placeholder key is a valid ssh-ed25519 key, a new one each time', () => {
    const a = keyNobodyHolds();
    const b = keyNobodyHolds();
    expect(parsePublicKey(a).type).toBe('ssh-ed25519');
    expect(a).not.toBe(b);
  });

  it.each([
    ['target/istiod', ['target']],
    ['target/gateway-address', ['target', 'gateway']],
    ['outbound-policy', ['target']],
    ['discovery/orders', ['target', 'discoveryLabels']],
    ['discovery/source', ['source']],
    ['injection/istio-injection', ['waves']],
    ['namespace/x', ['waves']],
    ['root-ca', ['rootCA']],
    ['proxy-status/source', []],
    ['decommission/scope', []],
  ])('finding %s goes to %j', (check, path) => {
    expect(fieldOfFinding(check)).toEqual(path);
  });
});
