// The access layer keeps its TLS connections to the API server: client-node 1.4 alone opens one per
// request. Counted at a real HTTPS server on loopback, as the server sees the handshakes.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeAccess } from '../../activities/kube/index.js';
import { generateServingCertificate } from '../../twin/apiserver/tls.js';

let server: https.Server;
let kubeconfig: string;
let handshakes = 0;
const namespaceList = JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'a' } }] });

beforeAll(async () => {
  const cert = await generateServingCertificate('127.0.0.1');
  server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    res.writeHead(req.url?.startsWith('/api/v1/namespaces') ? 200 : 404, { 'content-type': 'application/json' });
    res.end(req.url?.startsWith('/api/v1/namespaces') ? namespaceList : '{}');
  });
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'meshmove-agents-')), 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:' +
        port +
        '", certificate-authority-data: ' +
        Buffer.from(cert.caPem).toString('base64') +
        '}}]',
      'users: [{name: u, user: {token: t0k3n}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('connections to the API server', () => {
  it('one TLS handshake for many requests of one access, sequential or side by side', async () => {
    handshakes = 0;
    const kube = createKubeAccess({ kubeconfig });
    for (let i = 0; i < 5; i++) expect(await kube.listNamespaces()).toHaveLength(1);
    expect(handshakes).toBe(1);
    // Side by side they need more connections, each kept for the next requests.
    await Promise.all(Array.from({ length: 4 }, () => kube.listNamespaces()));
    const afterBurst = handshakes;
    expect(afterBurst).toBeLessThanOrEqual(4);
    await Promise.all(Array.from({ length: 4 }, () => kube.listNamespaces()));
    expect(handshakes).toBe(afterBurst);
  });
});
