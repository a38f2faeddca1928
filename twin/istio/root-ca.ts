// A control plane's root CA: a real self-signed X.509 certificate (ECDSA P-256) issued by twin/pki.ts.
// Istio's own self-signed root looks like this (O=cluster.local, CA:true), so anything reading
// `istio-ca-root-cert` can parse it with `new X509Certificate(pem)` and compare fingerprints.
import { X509Certificate } from 'node:crypto';
import { issueCertificate } from '../pki.js';

export interface RootCa {
  /** Scenario id: control planes with the same id share this root. */
  id: string;
  pem: string;
  /** SHA-256 fingerprint as node's X509Certificate prints it (AA:BB:...). */
  fingerprint256: string;
}

/** Creates a fresh self-signed root, valid for ten years from now. */
export async function createRootCa(id: string, trustDomain = 'cluster.local'): Promise<RootCa> {
  const root = await issueCertificate({ subject: { organization: trustDomain, commonName: `twin root ${id}` }, ca: true, validDays: 3650 });
  return { id, pem: root.pem, fingerprint256: root.certificate.fingerprint256 };
}

/** The fingerprint of a PEM root, or null when it does not parse (for display and comparison). */
export function rootFingerprint(pem: string | undefined): string | null {
  if (!pem) return null;
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return null;
  }
}

/** A root saved by a twin snapshot (the certificate only: nothing is signed with its key afterwards). */
export function rootCaFromPem(id: string, pem: string): RootCa {
  return { id, pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
}
