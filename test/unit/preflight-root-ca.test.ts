import { describe, expect, it } from 'vitest';
import { compareRoots, decideRootCa, rootOwner } from '../../activities/preflight/root-ca.js';
import { createRootCa } from '../../twin/istio/root-ca.js';

const a = createRootCa('a').pem;
const b = createRootCa('b').pem;
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
  const base = { sourceNamespace: 'istio-system', targetNamespace: 'istio-1-16-5', acceptDifferentRoots: false };
  const cases: { name: string; s?: string; t?: string; distinct: string[][]; accept?: boolean; status: string; reason?: RegExp }[] = [
    { name: 'shared root everywhere', s: a, t: a, distinct: [['istio-system', 'istio-1-16-5', 'orders']], status: 'pass' },
    { name: 'split roots', s: a, t: b, distinct: [['istio-system'], ['istio-1-16-5']], status: 'block', reason: /overwrite each other/ },
    { name: 'split roots accepted by the plan', s: a, t: b, distinct: [['x'], ['y']], accept: true, status: 'warn' },
    { name: 'istiod namespaces agree but the cluster holds two roots (mid-flip)', s: a, t: a, distinct: [['istio-system', 'istio-1-16-5'], ['orders']], status: 'block', reason: /2 different roots were seen/ },
    { name: 'target root not published', s: a, t: undefined, distinct: [['istio-system']], status: 'block', reason: /no istio-ca-root-cert\/root-cert.pem in istio-1-16-5 \(target\)/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const roots = [a, b];
      const f = decideRootCa({ ...base, sourceRoot: c.s, targetRoot: c.t, acceptDifferentRoots: c.accept ?? false, distinct: c.distinct.map((namespaces, i) => ({ root: roots[i]!, namespaces })) });
      expect(f.status).toBe(c.status);
      if (c.reason) expect(f.reason).toMatch(c.reason);
    });
  }
  it('rootOwner attributes a namespace root', () => {
    expect(rootOwner(b, { source: a, target: b, sourceRevision: 'default', targetRevision: 'istio-1-16-5' })).toBe('target (istio-1-16-5)');
    expect(rootOwner(a, { source: a, target: b, sourceRevision: 'default', targetRevision: 'istio-1-16-5' })).toBe('source (default)');
    expect(rootOwner(a, { source: a, target: a, sourceRevision: 'default', targetRevision: 'istio-1-16-5' })).toBe('both (shared root)');
  });
});
