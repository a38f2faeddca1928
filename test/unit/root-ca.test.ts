// The simulators' certificates (twin/pki.ts): the twin's roots parse and are self-signed CAs, and a
// serving certificate from generateServingCertificate is accepted by Node's TLS for its address.
import { X509Certificate } from 'node:crypto';
import { createServer, get } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRootCa } from '../../twin/istio/root-ca.js';
import { generateServingCertificate } from '../../twin/apiserver/tls.js';

describe('createRootCa', () => {
  it('makes a parseable self-signed CA every time', async () => {
    const fingerprints = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const root = await createRootCa(`r${i}`);
      const cert = new X509Certificate(root.pem);
      expect(cert.ca).toBe(true);
      expect(cert.subject).toContain('O=cluster.local');
      expect(cert.checkIssued(cert)).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(cert.fingerprint256).toBe(root.fingerprint256);
      fingerprints.add(root.fingerprint256);
    }
    expect(fingerprints.size).toBe(100);
  });
});

describe('generateServingCertificate', () => {
  it('a server certificate for the loopback address, issued by its CA, that TLS clients trusting the CA accept', async () => {
    const c = await generateServingCertificate('127.0.0.1');
    const ca = new X509Certificate(c.caPem);
    const leaf = new X509Certificate(c.certPem);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const server = createServer({ cert: c.certPem, key: c.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) => {
        get({ host: '127.0.0.1', port, ca: c.caPem, agent: false }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      expect(body).toBe('ok');
      // A client that does not trust that CA refuses it.
      await expect(
        new Promise((resolve, reject) => get({ host: '127.0.0.1', port, agent: false }, resolve).on('error', reject)),
      ).rejects.toThrow(/self-signed|unable to verify|certificate/);
    } finally {
      server.close();
    }
  });
});
