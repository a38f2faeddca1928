// HTTPS for the twin: a throwaway CA and a serving certificate for the loopback address (twin/pki.ts).
import { isIP } from 'node:net';
import { issueCertificate } from '../pki.js';

export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export async function generateServingCertificate(host: string): Promise<ServingCertificate> {
  const caSubject = { commonName: 'meshmove-twin-ca' };
  const ca = await issueCertificate({ subject: caSubject, ca: true, validDays: 2 });
  const altNames = isIP(host) ? [host, 'localhost'] : [host, '127.0.0.1'];
  const serving = await issueCertificate({
    subject: { commonName: 'meshmove-twin-apiserver' },
    ca: false,
    validDays: 2,
    altNames,
    issuer: { subject: caSubject, privateKey: ca.privateKey },
  });
  return { caPem: ca.pem, certPem: serving.pem, keyPem: serving.keyPem };
}
