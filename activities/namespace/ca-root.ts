// Comparing CA roots as PEM text: the same certificate may differ in line wrapping, trailing
// whitespace or CRLF, and a ConfigMap may carry a bundle (during a CA rotation). Pure.
import { createHash } from 'node:crypto';

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

/** The namespace holds the target root when every certificate of the target's root is in its bundle. */
export function holdsRoot(namespaceBundle: string | undefined, targetRoot: string): boolean {
  if (namespaceBundle === undefined) return false;
  const have = new Set(pemCertificates(namespaceBundle));
  const want = pemCertificates(targetRoot);
  return want.length > 0 && want.every((c) => have.has(c));
}

export interface CaWaitView {
  namespace: string;
  /** root-cert.pem now in the namespace, undefined when the ConfigMap (or key) is missing. */
  current: string | undefined;
  targetRoot: string;
  /** The source control plane's root, when it could be read. */
  sourceRoot?: string;
  targetRevision: string;
  sourceRevision: string;
  /** Whether the target's discoverySelectors select the namespace now. */
  targetDiscovers?: boolean;
  /** How many times the ConfigMap's root changed while waiting. */
  changes?: number;
}

/** The likely cause of a CA that never arrives (facts §4), for the failure message. */
export function explainCaTimeout(v: CaWaitView): string {
  const seen = `istio-ca-root-cert in ${v.namespace} holds ${rootFingerprint(v.current)}, the target ${v.targetRevision}'s root is ${rootFingerprint(v.targetRoot)}`;
  if (v.targetDiscovers === false) {
    return `${seen}. The target istiod does not discover ${v.namespace} (its discoverySelectors do not match the namespace labels), so its namespace controller may not write there: check the discovery labels of the relabel.`;
  }
  if ((v.changes ?? 0) >= 2) {
    return `${seen}; it changed ${v.changes} times while waiting: two namespace controllers with different roots keep overwriting it (both control planes write istio-ca-root-cert; Istio 1.16 without ENABLE_ENHANCED_RESOURCE_SCOPING ignores discoverySelectors there). Pods restarted now could mount either root and fail to verify their istiod. Plug the same root CA into both control planes (cacerts), then retry.`;
  }
  if (v.current !== undefined && v.sourceRoot !== undefined && holdsRoot(v.current, v.sourceRoot) && !holdsRoot(v.sourceRoot, v.targetRoot)) {
    return `${seen}, which is the source ${v.sourceRevision}'s root. The two control planes have different root CAs and both namespace controllers write istio-ca-root-cert (Istio 1.16 without ENABLE_ENHANCED_RESOURCE_SCOPING ignores discoverySelectors there), so the source keeps overwriting it: pods restarted now could not verify the target istiod. Plug the same root CA into both control planes (cacerts), then retry.`;
  }
  if (v.current === undefined) {
    return `${seen}. The ConfigMap is missing: the target istiod's namespace controller has not written it; check that istiod-${v.targetRevision} is running and its logs.`;
  }
  return `${seen}. Another writer keeps a different root there, or the target istiod is not running: check the ConfigMap's managedFields and istiod-${v.targetRevision}'s logs.`;
}
