// HTTPS for the twin: a throwaway CA and a serving certificate for the loopback address, made with
// the openssl binary (Node has no X.509 generator and we add no dependency for it).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ServingCertificate { caPem: string; certPem: string; keyPem: string }

export async function generateServingCertificate(host: string): Promise<ServingCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'twin-tls-'));
  try {
    const p = (f: string): string => join(dir, f);
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=meshmove-twin-ca']);
    await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('tls.key'), '-out', p('tls.csr'), '-subj', '/CN=meshmove-twin-apiserver']);
    const san = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? `IP:${host},DNS:localhost` : `DNS:${host},IP:127.0.0.1`;
    await writeFile(p('ext.cnf'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`);
    await run('openssl', ['x509', '-req', '-in', p('tls.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('tls.crt'), '-days', '2', '-extfile', p('ext.cnf')]);
    return { caPem: await readFile(p('ca.crt'), 'utf8'), certPem: await readFile(p('tls.crt'), 'utf8'), keyPem: await readFile(p('tls.key'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
