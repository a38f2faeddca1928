import { describe, expect, it } from 'vitest';
import { decideCaWait, explainCaTimeout, rootChanges, type CaObservation } from '../../activities/namespace/ca-wait.js';
import { holdsRoot, pemCertificates, rootFingerprint } from '../../activities/shared/ca-roots.js';

const A = 'MIIBAAAA' + 'a'.repeat(60);
const B = 'MIIBBBBB' + 'b'.repeat(60);
const pem = (...bodies: string[]) =>
  bodies.map((b) => `-----BEGIN CERTIFICATE-----\n${b.slice(0, 64)}\n${b.slice(64)}\n-----END CERTIFICATE-----\n`).join('');

describe('root comparison', () => {
  it('ignores wrapping and CRLF', () => {
    expect(pemCertificates(pem(A).replace(/\n/g, '\r\n'))).toEqual([A]);
    expect(holdsRoot(pem(A).replace(/\n/g, '\r\n'), pem(A))).toBe(true);
  });
  const cases: Array<[string, string | undefined, string, boolean]> = [
    ['same root', pem(A), pem(A), true],
    ['other root', pem(B), pem(A), false],
    ['bundle holding the root (rotation)', pem(B, A), pem(A), true],
    ['missing ConfigMap', undefined, pem(A), false],
    ['garbage', 'nope', pem(A), false],
  ];
  for (const [name, have, want, ok] of cases) it(name, () => expect(holdsRoot(have, want)).toBe(ok));
  it('fingerprints', () => {
    expect(rootFingerprint(undefined)).toBe('none');
    expect(rootFingerprint('junk')).toBe('unreadable');
    expect(rootFingerprint(pem(A))).toMatch(/^sha256:[0-9a-f]{16}$/);
  });
});

describe('explainCaTimeout names the likely cause (docs/istio-facts.md §4)', () => {
  const base = { namespace: 'orders', targetRoot: pem(A), targetRevision: 'new', sourceRevision: 'default' };
  it('source keeps overwriting with a different root', () => {
    expect(explainCaTimeout({ ...base, current: pem(B), sourceRoot: pem(B) })).toMatch(
      /source default's root.*different root CAs.*overwriting/,
    );
  });
  it('target does not discover the namespace', () => {
    expect(explainCaTimeout({ ...base, current: undefined, targetDiscovers: false })).toMatch(/does not discover orders/);
  });
  it('ConfigMap missing', () => {
    expect(explainCaTimeout({ ...base, current: undefined })).toMatch(/ConfigMap is missing/);
  });
  it('unknown writer', () => {
    expect(explainCaTimeout({ ...base, current: pem(B), sourceRoot: pem(A) })).toMatch(/Another writer/);
  });
});

describe('explainCaTimeout with a flipping ConfigMap', () => {
  it('names the two writers when the root kept changing', () => {
    const msg = explainCaTimeout({
      namespace: 'orders',
      targetRoot: pem(A),
      current: pem(A),
      sourceRoot: pem(B),
      targetRevision: 'new',
      sourceRevision: 'default',
      changes: 4,
    });
    expect(msg).toMatch(/changed 4 times while waiting: two namespace controllers with different roots/);
  });
});

describe('decideCaWait: every write of istio-ca-root-cert seen by the watch (table)', () => {
  const T = pem(A);
  const S = pem(B);
  // [ms, root] per write; each write has its own resourceVersion.
  const h = (...writes: Array<[number, string | undefined]>): CaObservation[] =>
    writes.map(([at, p], i) => ({ at, resourceVersion: String(100 + i), pem: p }));
  const stableMs = 10_000;
  const cases: { name: string; history: CaObservation[]; now: number; want: string; changes?: number }[] = [
    { name: 'nothing seen yet', history: [], now: 0, want: 'waiting' },
    { name: 'ConfigMap absent', history: h([0, undefined]), now: 60_000, want: 'waiting' },
    { name: 'source root, not yet replaced', history: h([0, S]), now: 60_000, want: 'waiting' },
    { name: 'target root, held long enough', history: h([0, S], [1_000, T]), now: 11_000, want: 'ready' },
    { name: 'target root, not yet held long enough', history: h([0, S], [1_000, T]), now: 9_000, want: 'waiting' },
    { name: 'target root from the start, unchanged', history: h([0, T]), now: 10_000, want: 'ready' },
    { name: 'a rewrite with the same root keeps the hold', history: h([0, T], [5_000, T]), now: 10_000, want: 'ready' },
    {
      name: 'overwritten once after arriving: not ready',
      history: h([0, S], [1_000, T], [1_300, S]),
      now: 20_000,
      want: 'waiting',
      changes: 2,
    },
    {
      name: 'two writers flipping within 0.3 s: contested',
      history: h([0, S], [300, T], [600, S], [900, T]),
      now: 900,
      want: 'contested',
      changes: 3,
    },
    {
      name: 'flips that a 2 s poll aliases away are all counted',
      history: h([0, S], [290, T], [580, S], [870, T], [1_160, S], [1_450, T], [2_000, T]),
      now: 2_000,
      want: 'contested',
      changes: 5,
    },
    {
      name: 'deleted and recreated with the same root is no change',
      history: h([0, T], [1_000, undefined], [1_100, T]),
      now: 11_200,
      want: 'ready',
      changes: 0,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decideCaWait(c.history, T, c.now, { stableMs });
      expect(d.state).toBe(c.want);
      if (c.changes !== undefined) expect(rootChanges(c.history)).toBe(c.changes);
    });
  }
  it('contested names both roots and the gap between the last two writes', () => {
    const d = decideCaWait(h([0, S], [300, T], [600, S], [900, T]), T, 900, { stableMs });
    expect(d).toEqual({ state: 'contested', changes: 3, roots: [rootFingerprint(S), rootFingerprint(T)], lastChangeGapMs: 300 });
  });
});
