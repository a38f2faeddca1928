// The twin's hand-made X.509 roots: DER integers are minimal and signed, so every certificate
// parses (a serial whose first byte drew 0x00 used to make an invalid certificate, 1 in ~256).
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRootCa, derInteger } from '../../twin/istio/root-ca.js';

describe('derInteger', () => {
  const cases: Array<[string, number[], number[]]> = [
    ['small', [0x02], [0x02, 0x01, 0x02]],
    ['zero', [0x00], [0x02, 0x01, 0x00]],
    ['leading 1 bit: padded', [0x80, 0x01], [0x02, 0x03, 0x00, 0x80, 0x01]],
    ['redundant leading zero: dropped', [0x00, 0x12, 0x34], [0x02, 0x02, 0x12, 0x34]],
    ['leading zero that keeps it positive: kept', [0x00, 0x92], [0x02, 0x02, 0x00, 0x92]],
    ['several leading zeros', [0x00, 0x00, 0x00, 0x7f], [0x02, 0x01, 0x7f]],
  ];
  for (const [name, input, want] of cases) it(name, () => expect([...derInteger(Buffer.from(input))]).toEqual(want));
});

describe('createRootCa', () => {
  it('makes a parseable self-signed CA every time', () => {
    for (let i = 0; i < 300; i++) {
      const root = createRootCa(`r${i}`);
      const cert = new X509Certificate(root.pem);
      expect(cert.ca).toBe(true);
      expect(cert.subject).toContain('O=cluster.local');
      expect(cert.checkIssued(cert)).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
    }
  });
});
