// Check 6: do the two control planes share a root CA?
//
// Where each side's root is read: ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in that
// istiod's OWN namespace. Every istiod's namespace controller publishes its root there (facts §4),
// the ConfigMap is public (no Secret access, no private key on the wire), and it exists the same
// way on a real cluster whatever the CA setup (self-signed `istio-ca-secret`, plugged-in `cacerts`,
// an external CA), which reading a CA Secret would not.
//
// The trap (seen on the twin, and what Istio does before enhanced resource scoping): with
// different roots BOTH namespace controllers write EVERY namespace, the other istiod's included,
// so at any instant the two istiod namespaces can hold the same (last written) root, and one read
// says "same". Two more observations close that gap, both valid on a real cluster:
//   1. every `istio-ca-root-cert` in the cluster is listed (one call, field selector) and the
//      distinct roots counted: more than one anywhere means two CAs are publishing;
//   2. the ConfigMaps in both istiod namespaces are sampled over a short window: two writers with
//      different roots keep overwriting each other (each rewrites what differs from its own root),
//      so the content changes within seconds. Equal roots are never rewritten.
import { X509Certificate } from 'node:crypto';
import type { Finding } from '../contract.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP } from '../../mesh/naming.js';
import { pemCertificates, rootFingerprint } from '../namespace/ca-root.js';
import type { KubeAccess } from '../kube/types.js';
import type { Plan } from '../../plan/schema.js';
import type { PreflightContext } from './context.js';
import { nameList } from './findings.js';

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
export function rootOwner(pem: string | undefined, roots: { source?: string; target?: string; sourceRevision: string; targetRevision: string }): string {
  if (pem === undefined) return 'none (no istio-ca-root-cert)';
  const s = compareRoots(pem, roots.source);
  const t = compareRoots(pem, roots.target);
  if (s === 'same' && t === 'same') return `both (shared root)`;
  if (t === 'same') return `target (${roots.targetRevision})`;
  if (s === 'same') return `source (${roots.sourceRevision})`;
  if (t === 'overlap' || s === 'overlap') return `a bundle overlapping ${t === 'overlap' ? 'the target' : 'the source'}'s root`;
  return 'neither control plane';
}

export interface RootCaView {
  sourceNamespace: string;
  targetNamespace: string;
  sourceRoot: string | undefined;
  targetRoot: string | undefined;
  /** Distinct roots found in istio-ca-root-cert across the cluster → namespaces holding each. */
  distinct: { root: string; namespaces: string[] }[];
  acceptDifferentRoots: boolean;
}

const CONSEQUENCE =
  'both istiods\' namespace controllers write istio-ca-root-cert into every namespace and overwrite each other, and a proxy holding one root cannot verify the other istiod on :15012 (the field report\'s certificate mismatch)';

export function decideRootCa(v: RootCaView): Finding {
  const check = 'root-ca';
  if (v.sourceRoot === undefined || v.targetRoot === undefined) {
    const missing = [v.sourceRoot === undefined ? `${v.sourceNamespace} (source)` : '', v.targetRoot === undefined ? `${v.targetNamespace} (target)` : ''].filter(Boolean).join(' and ');
    return { check, status: 'block', reason: `cannot compare the roots: no ${CA_ROOT_CONFIGMAP}/${CA_ROOT_CERT_KEY} in ${missing}`, fix: 'check that the istiod of that side runs (its namespace controller publishes the root) and plan.*.istiodNamespace' };
  }
  const rel = compareRoots(v.sourceRoot, v.targetRoot);
  const accepted = v.acceptDifferentRoots;
  const blockOrWarn = accepted ? 'warn' : 'block';
  const fix = accepted
    ? 'accepted by plan.rootCA.acceptDifferentRoots: expect istio-ca-root-cert to flip and cross-control-plane mTLS to fail until every namespace is migrated'
    : 'give both control planes the same root (plug the same CA into the target as `cacerts`), or set plan.rootCA.acceptDifferentRoots: true if you accept the consequence';
  if (rel === 'different' || rel === 'unknown') {
    return { check, status: blockOrWarn, reason: `the roots differ: source ${describeRoot(v.sourceRoot)}, target ${describeRoot(v.targetRoot)}; ${CONSEQUENCE}`, fix };
  }
  if (v.distinct.length > 1) {
    const where = v.distinct.map((d) => `${describeRoot(d.root)} in ${nameList(d.namespaces, 4)}`).join('; ');
    return { check, status: blockOrWarn, reason: `the istiod namespaces hold the same root, but ${v.distinct.length} different roots were seen in istio-ca-root-cert across the cluster (${where}): two CAs are writing it; ${CONSEQUENCE}`, fix };
  }
  if (rel === 'overlap') {
    return { check, status: 'warn', reason: `the roots are bundles sharing a certificate (a CA rotation?): source ${describeRoot(v.sourceRoot)}, target ${describeRoot(v.targetRoot)}`, fix: 'finish the rotation before migrating, or confirm both bundles trust the same root' };
  }
  return { check, status: 'pass', reason: `both control planes publish the same root ${describeRoot(v.targetRoot)}` };
}

/** Both sides' roots as published in their istiod namespaces. */
export async function readControlPlaneRoots(kube: KubeAccess, plan: Pick<Plan, 'source' | 'target'>): Promise<{ source?: string; target?: string }> {
  const [s, t] = await Promise.all([
    kube.getConfigMap(plan.source.istiodNamespace, CA_ROOT_CONFIGMAP),
    kube.getConfigMap(plan.target.istiodNamespace, CA_ROOT_CONFIGMAP),
  ]);
  return { source: s?.data?.[CA_ROOT_CERT_KEY], target: t?.data?.[CA_ROOT_CERT_KEY] };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function checkRootCa(ctx: PreflightContext): Promise<Finding[]> {
  const [roots, all] = await Promise.all([
    readControlPlaneRoots(ctx.kube, ctx.plan),
    ctx.kube.listConfigMaps(undefined, { fieldSelector: `metadata.name=${CA_ROOT_CONFIGMAP}` }),
  ]);
  const byRoot = new Map<string, { root: string; namespaces: string[] }>();
  const seen = (pem: string | undefined, where: string): void => {
    if (!pem || pemCertificates(pem).length === 0) return;
    const key = [...new Set(pemCertificates(pem))].sort().join('|');
    const entry = byRoot.get(key) ?? { root: pem, namespaces: [] };
    if (!entry.namespaces.includes(where)) entry.namespaces.push(where);
    byRoot.set(key, entry);
  };
  for (const cm of all) seen(cm.data?.[CA_ROOT_CERT_KEY], cm.metadata?.namespace ?? '?');
  // Watch the two istiod namespaces for a while (see the top of this file), unless the roots
  // already differ (then the answer is known).
  if (compareRoots(roots.source, roots.target) === 'same' && byRoot.size <= 1) {
    const end = Date.now() + ctx.tuning.rootObservationMs;
    while (Date.now() < end && byRoot.size <= 1) {
      await sleep(ctx.tuning.rootSampleMs);
      const again = await readControlPlaneRoots(ctx.kube, ctx.plan);
      seen(again.source, `${ctx.plan.source.istiodNamespace} (later)`);
      seen(again.target, `${ctx.plan.target.istiodNamespace} (later)`);
    }
  }
  return [decideRootCa({
    sourceNamespace: ctx.plan.source.istiodNamespace,
    targetNamespace: ctx.plan.target.istiodNamespace,
    sourceRoot: roots.source,
    targetRoot: roots.target,
    distinct: [...byRoot.values()],
    acceptDifferentRoots: ctx.plan.rootCA.acceptDifferentRoots,
  })];
}
