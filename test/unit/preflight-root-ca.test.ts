import { describe, expect, it } from 'vitest';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { decideRootCa } from '../../activities/preflight/root-ca.js';
import { compareRoots, rootOwner } from '../../activities/shared/ca-roots.js';
import { rootFromOwnNamespace, rootFromWebhooks } from '../../activities/shared/own-root.js';
import { createRootCa } from '../../twin/istio/root-ca.js';
import { sourceMwc, targetMwc } from './preflight-fixtures.js';

const a = (await createRootCa('a')).pem;
const b = (await createRootCa('b')).pem;
const rewrapped = a.replace(/\n/g, '\r\n');

describe('compareRoots', () => {
  it.each([
    ['same', a, a, 'same'],
    ['same despite CRLF', a, rewrapped, 'same'],
    ['different', a, b, 'different'],
    ['bundle overlapping', `${a}${b}`, a, 'overlap'],
    ['missing', a, undefined, 'unknown'],
    ['not a certificate', a, 'garbage', 'unknown'],
  ] as const)('%s', (_n, x, y, want) => {
    expect(compareRoots(x, y)).toBe(want);
  });
});

describe('decideRootCa (table)', () => {
  const base = { sourceRevision: 'default', targetRevision: 'istio-1-16-5', acceptDifferentRoots: false };
  const hook = (name: string) => `the caBundle of MutatingWebhookConfiguration ${name}, which istiod patches with its own root`;
  const own = (pem: string | undefined, from = hook('x')) =>
    pem === undefined
      ? { from: 'no caBundle on its injector, and istio-ca-root-cert in istio-1-16-5 is not necessarily its own' }
      : { pem, from };
  const cases: { name: string; s?: string; t?: string; distinct: string[][]; accept?: boolean; status: string; reason?: RegExp }[] = [
    {
      name: 'shared root everywhere',
      s: a,
      t: a,
      distinct: [['istio-system', 'istio-1-16-5', 'orders']],
      status: 'pass',
      reason: /same root .*the source's read from the caBundle/,
    },
    {
      name: 'split roots',
      s: a,
      t: b,
      distinct: [['istio-system'], ['istio-1-16-5']],
      status: 'block',
      reason: /the roots differ.*overwrite each other/,
    },
    // The real-stack case: every istio-ca-root-cert holds the source's root (the target selects none
    // of them yet, not even its own namespace) — one root in the cluster, yet the own roots differ.
    {
      name: 'split roots while every namespace holds the source root',
      s: a,
      t: b,
      distinct: [['istio-system', 'istio-1-16-5', 'orders']],
      status: 'block',
      reason: /the roots differ/,
    },
    { name: 'split roots accepted by the plan', s: a, t: b, distinct: [['x'], ['y']], accept: true, status: 'warn' },
    {
      name: 'own roots agree but the cluster holds another root',
      s: a,
      t: a,
      distinct: [['istio-system', 'istio-1-16-5'], ['orders']],
      status: 'block',
      reason: /2 different roots were seen.*another CA/,
    },
    {
      name: "target's own root unknown",
      s: a,
      t: undefined,
      distinct: [['istio-system']],
      status: 'block',
      reason: /the target istio-1-16-5's own root is unknown \(no caBundle/,
    },
    { name: 'bundles overlapping (rotation)', s: `${a}${b}`, t: a, distinct: [['istio-system']], status: 'warn', reason: /rotation/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const roots = [a, b];
      const f = decideRootCa({
        ...base,
        sourceRoot: own(c.s),
        targetRoot: own(c.t),
        acceptDifferentRoots: c.accept ?? false,
        distinct: c.distinct.map((namespaces, i) => ({ root: roots[i]!, namespaces })),
      });
      expect(f.status).toBe(c.status);
      if (c.reason) expect(f.reason).toMatch(c.reason);
      if (c.s !== undefined && c.t !== undefined) expect(f.reason).toContain('read from');
    });
  }
  it("says how far the target's CA writer reaches, by its version", () => {
    const v = { ...base, sourceRoot: own(a), targetRoot: own(b), distinct: [] };
    expect(decideRootCa({ ...v, targetScope: { scoped: true, basis: 'Istio 1.31.0: scoped', discoverySelectors: [] } }).reason).toMatch(
      /from each namespace's relabel on/,
    );
    expect(decideRootCa({ ...v, targetScope: { scoped: false, basis: 'Istio 1.16.5 without it', discoverySelectors: [] } }).reason).toMatch(
      /into every namespace .*so already now/,
    );
  });
  it('rootOwner attributes a namespace root', () => {
    expect(rootOwner(b, { source: a, target: b, sourceRevision: 'default', targetRevision: 'istio-1-16-5' })).toBe('target (istio-1-16-5)');
    expect(rootOwner(a, { source: a, target: b, sourceRevision: 'default', targetRevision: 'istio-1-16-5' })).toBe('source (default)');
    expect(rootOwner(a, { source: a, target: a, sourceRevision: 'default', targetRevision: 'istio-1-16-5' })).toBe('both (shared root)');
  });
});

describe("each control plane's own root", () => {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  const withBundle = (m: V1MutatingWebhookConfiguration, pem: string | undefined): V1MutatingWebhookConfiguration => {
    const c = structuredClone(m);
    for (const w of c.webhooks ?? []) w.clientConfig = { ...w.clientConfig, ...(pem ? { caBundle: b64(pem) } : {}) };
    return c;
  };
  const source = { revision: 'default', namespace: 'istio-system' };
  const target = { revision: 'istio-1-16-5', namespace: 'istio-1-16-5' };
  const cases: { name: string; cp: typeof source; mwcs: V1MutatingWebhookConfiguration[]; want?: string; from?: RegExp }[] = [
    {
      name: "the target's injector caBundle",
      cp: target,
      mwcs: [withBundle(sourceMwc, a), withBundle(targetMwc, b)],
      want: b,
      from: /MutatingWebhookConfiguration istio-sidecar-injector-istio-1-16-5-istio-1-16-5/,
    },
    {
      name: "the source's, not the target's",
      cp: source,
      mwcs: [withBundle(sourceMwc, a), withBundle(targetMwc, b)],
      want: a,
      from: /MutatingWebhookConfiguration istio-sidecar-injector,/,
    },
    { name: 'no caBundle set: none', cp: target, mwcs: [withBundle(targetMwc, undefined)] },
    {
      name: 'a caBundle that is not a certificate: none',
      cp: target,
      mwcs: [
        { ...targetMwc, webhooks: targetMwc.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: b64('junk') } })) },
      ],
    },
    {
      name: 'webhooks of one configuration disagreeing: not a clear answer',
      cp: target,
      mwcs: [
        {
          ...targetMwc,
          webhooks: targetMwc.webhooks!.map((w, i) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: b64(i === 0 ? a : b) } })),
        },
      ],
    },
    {
      name: 'found by its revision label under another name',
      cp: target,
      mwcs: [{ ...withBundle(targetMwc, b), metadata: { name: 'renamed', labels: { 'istio.io/rev': 'istio-1-16-5' } } }],
      want: b,
      from: /renamed/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = rootFromWebhooks(c.cp, c.mwcs);
      expect(r?.pem).toBe(c.want);
      if (c.from) expect(r?.from).toMatch(c.from);
    });
  }

  const fallback: { name: string; pem?: string; writesOwn: boolean | undefined; others: string[]; trusted: boolean; from: RegExp }[] = [
    {
      name: 'only it writes its namespace: used',
      pem: b,
      writesOwn: true,
      others: [],
      trusted: true,
      from: /only istiod-istio-1-16-5 writes that namespace/,
    },
    {
      name: 'its selectors do not select its namespace (the real-stack case): not used',
      pem: a,
      writesOwn: false,
      others: ['istiod-default (istio-system)'],
      trusted: false,
      from: /do not select istio-1-16-5/,
    },
    {
      name: 'another control plane writes there too: not used',
      pem: b,
      writesOwn: true,
      others: ['istiod-default (istio-system)'],
      trusted: false,
      from: /istiod-default \(istio-system\) also writes there/,
    },
    { name: 'cannot tell: not used', pem: b, writesOwn: undefined, others: [], trusted: false, from: /could not be told/ },
    { name: 'no ConfigMap', writesOwn: true, others: [], trusted: false, from: /there is no istio-ca-root-cert in istio-1-16-5/ },
  ];
  for (const c of fallback) {
    it(`fallback: ${c.name}`, () => {
      const r = rootFromOwnNamespace({
        cp: target,
        pem: c.pem,
        writesOwn: c.writesOwn,
        othersWriting: c.others,
        noCaBundle: 'no caBundle on its injector',
      });
      expect(r.pem !== undefined).toBe(c.trusted);
      expect(r.from).toMatch(c.from);
    });
  }
});
