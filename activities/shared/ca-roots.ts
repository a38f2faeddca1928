// Root CAs as PEM text, the knowledge preflight's root-CA check, the namespace's CA wait and
// inspect share: the same certificate may differ in line wrapping, trailing whitespace or CRLF, and
// a ConfigMap or caBundle may carry a bundle (during a CA rotation), so roots are compared as sets
// of certificates, never as strings. Pure.
import { createHash, X509Certificate } from 'node:crypto';

/** Base64 bodies of the CERTIFICATE blocks, whitespace removed, in order. */
export function pemCertificates(pem: string): string[] {
  const out: string[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(m[1]!.replace(/\s+/g, ''));
  return out;
}

/** Short fingerprint for messages: sha256 of the first certificate's DER, 16 hex chars. */
export function rootFingerprint(pem: string | undefined): string {
  const first = pem === undefined ? undefined : pemCertificates(pem)[0];
  if (first === undefined) return pem === undefined || pem.trim() === '' ? 'none' : 'unreadable';
  return `sha256:${createHash('sha256').update(Buffer.from(first, 'base64')).digest('hex').slice(0, 16)}`;
}

/** A bundle (a namespace's istio-ca-root-cert) holds a root when every certificate of the root is in it. */
export function holdsRoot(namespaceBundle: string | undefined, targetRoot: string): boolean {
  if (namespaceBundle === undefined) return false;
  const have = new Set(pemCertificates(namespaceBundle));
  const want = pemCertificates(targetRoot);
  return want.length > 0 && want.every((c) => have.has(c));
}

export type RootRelation = 'same' | 'overlap' | 'different' | 'unknown';

/** Same set of certificates; overlapping (a bundle during rotation); disjoint; or unreadable. */
export function compareRoots(a: string | undefined, b: string | undefined): RootRelation {
  if (a === undefined || b === undefined) return 'unknown';
  const ca = pemCertificates(a);
  const cb = pemCertificates(b);
  if (ca.length === 0 || cb.length === 0) return 'unknown';
  const sa = new Set(ca);
  const sb = new Set(cb);
  const common = [...sa].filter((c) => sb.has(c)).length;
  if (common === sa.size && common === sb.size) return 'same';
  return common > 0 ? 'overlap' : 'different';
}

/** `sha256:… (CN=…)` for messages; the subject helps a person recognise which CA it is. */
export function describeRoot(pem: string | undefined): string {
  if (pem === undefined) return 'none';
  const fp = rootFingerprint(pem);
  const first = pemCertificates(pem)[0];
  if (!first) return fp;
  try {
    const subject = new X509Certificate(Buffer.from(first, 'base64')).subject.replace(/\n/g, ', ');
    return `${fp} (${subject})`;
  } catch {
    return fp;
  }
}

/** Which side a namespace's root belongs to. */
export function rootOwner(
  pem: string | undefined,
  roots: { source?: string; target?: string; sourceRevision: string; targetRevision: string },
): string {
  if (pem === undefined) return 'none (no istio-ca-root-cert)';
  const s = compareRoots(pem, roots.source);
  const t = compareRoots(pem, roots.target);
  if (s === 'same' && t === 'same') return `both (shared root)`;
  if (t === 'same') return `target (${roots.targetRevision})`;
  if (s === 'same') return `source (${roots.sourceRevision})`;
  if (t === 'overlap' || s === 'overlap') return `a bundle overlapping ${t === 'overlap' ? 'the target' : 'the source'}'s root`;
  return 'neither control plane';
}
