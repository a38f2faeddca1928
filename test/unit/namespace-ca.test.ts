import { describe, expect, it } from 'vitest';
import { explainCaTimeout, holdsRoot, pemCertificates, rootFingerprint } from '../../activities/namespace/ca-root.js';

const A = 'MIIBAAAA' + 'a'.repeat(60);
const B = 'MIIBBBBB' + 'b'.repeat(60);
const pem = (...bodies: string[]) => bodies.map((b) => `-----BEGIN CERTIFICATE-----\n${b.slice(0, 64)}\n${b.slice(64)}\n-----END CERTIFICATE-----\n`).join('');

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

describe('explainCaTimeout names the likely cause (facts §4)', () => {
  const base = { namespace: 'orders', targetRoot: pem(A), targetRevision: 'new', sourceRevision: 'default' };
  it('source keeps overwriting with a different root', () => {
    expect(explainCaTimeout({ ...base, current: pem(B), sourceRoot: pem(B) })).toMatch(/source default's root.*different root CAs.*overwriting/);
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
    const msg = explainCaTimeout({ namespace: 'orders', targetRoot: pem(A), current: pem(A), sourceRoot: pem(B), targetRevision: 'new', sourceRevision: 'default', changes: 4 });
    expect(msg).toMatch(/changed 4 times while waiting: two namespace controllers with different roots/);
  });
});
