// Check 6: do the two control planes share a root CA?
//
// Each side's root is read where it is really its own (shared/own-root.ts): the caBundle istiod
// patches into its injector webhook configuration — not istio-ca-root-cert in its namespace, which
// a control plane whose discoverySelectors do not select its own namespace never writes (the other
// control plane's root sits there: two different roots looked "the same" on a real cluster). The
// finding says which source was used for each side.
//
// Besides, every istio-ca-root-cert in the cluster is listed (one call, field selector) and the
// distinct roots counted: a root in the cluster that is neither control plane's, or two roots where
// the control planes agree, means another writer.
import type { Finding } from '../contract.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP } from '../../mesh/naming.js';
import { compareRoots, describeRoot, pemCertificates } from '../shared/ca-roots.js';
import { readControlPlaneRoots, type OwnRoot } from '../shared/own-root.js';
import type { ControlPlaneScope } from '../shared/control-plane-scope.js';
import type { PreflightContext } from './context.js';
import { nameList } from './findings.js';

export interface RootCaView {
  sourceRevision: string;
  targetRevision: string;
  sourceRoot: OwnRoot;
  targetRoot: OwnRoot;
  /** Distinct roots found in istio-ca-root-cert across the cluster → namespaces holding each. */
  distinct: { root: string; namespaces: string[] }[];
  acceptDifferentRoots: boolean;
  /** How far the target's CA writer reaches (by its version), when known. */
  targetScope?: ControlPlaneScope;
}

function consequence(targetScope: ControlPlaneScope | undefined): string {
  const where =
    targetScope === undefined
      ? 'into the namespaces they select (every namespace for Istio before 1.22 without enhanced scoping)'
      : targetScope.scoped
        ? `into the namespaces their discoverySelectors select — the target's (${targetScope.basis}) from each namespace's relabel on, while the source keeps writing its own root there`
        : `into every namespace (the target: ${targetScope.basis}), so already now`;
  return `both istiods' namespace controllers write istio-ca-root-cert ${where}, and where both write they overwrite each other; a proxy holding one root cannot verify the other istiod on :15012 (the field report's certificate mismatch)`;
}

const side = (name: 'source' | 'target', rev: string, r: OwnRoot): string => `${name} ${rev} ${describeRoot(r.pem)} (read from ${r.from})`;

export function decideRootCa(v: RootCaView): Finding {
  const check = 'root-ca';
  const accepted = v.acceptDifferentRoots;
  const blockOrWarn = accepted ? 'warn' : 'block';
  const fix = accepted
    ? 'accepted by plan.rootCA.acceptDifferentRoots: expect istio-ca-root-cert to flip and cross-control-plane mTLS to fail until every namespace is migrated'
    : 'give both control planes the same root (plug the same CA into the target as `cacerts`), or set plan.rootCA.acceptDifferentRoots: true if you accept the consequence';
  const unknown = [
    v.sourceRoot.pem === undefined ? `the source ${v.sourceRevision}'s own root is unknown (${v.sourceRoot.from})` : '',
    v.targetRoot.pem === undefined ? `the target ${v.targetRevision}'s own root is unknown (${v.targetRoot.from})` : '',
  ].filter(Boolean);
  if (unknown.length > 0) {
    return {
      check,
      status: 'block',
      reason: `cannot compare the roots: ${unknown.join('; ')}`,
      fix: "check that that side's istiod runs: it patches its root into its injector webhook configuration's caBundle; check plan.*.revision and istiodNamespace",
    };
  }
  const rel = compareRoots(v.sourceRoot.pem, v.targetRoot.pem);
  const both = `${side('source', v.sourceRevision, v.sourceRoot)}, ${side('target', v.targetRevision, v.targetRoot)}`;
  if (rel === 'different' || rel === 'unknown') {
    return { check, status: blockOrWarn, reason: `the roots differ: ${both}; ${consequence(v.targetScope)}`, fix };
  }
  if (v.distinct.length > 1) {
    const where = v.distinct.map((d) => `${describeRoot(d.root)} in ${nameList(d.namespaces, 4)}`).join('; ');
    return {
      check,
      status: blockOrWarn,
      reason: `the control planes' own roots agree (${both}), but ${v.distinct.length} different roots were seen in istio-ca-root-cert across the cluster (${where}): another CA is writing it; ${consequence(v.targetScope)}`,
      fix,
    };
  }
  if (rel === 'overlap') {
    return {
      check,
      status: 'warn',
      reason: `the roots are bundles sharing a certificate (a CA rotation?): ${both}`,
      fix: 'finish the rotation before migrating, or confirm both bundles trust the same root',
    };
  }
  return {
    check,
    status: 'pass',
    reason: `both control planes have the same root ${describeRoot(v.targetRoot.pem)} (the source's read from ${v.sourceRoot.from}; the target's from ${v.targetRoot.from})`,
  };
}

export async function checkRootCa(ctx: PreflightContext): Promise<Finding[]> {
  const [roots, all, targetScope] = await Promise.all([
    readControlPlaneRoots(ctx.kube, ctx.plan),
    ctx.kube.listConfigMaps(undefined, { fieldSelector: `metadata.name=${CA_ROOT_CONFIGMAP}` }),
    ctx.scope('target').catch(() => undefined),
  ]);
  ctx.rootRelation = compareRoots(roots.source.pem, roots.target.pem);
  const byRoot = new Map<string, { root: string; namespaces: string[] }>();
  for (const cm of all) {
    const pem = cm.data?.[CA_ROOT_CERT_KEY];
    if (!pem || pemCertificates(pem).length === 0) continue;
    const key = [...new Set(pemCertificates(pem))].sort().join('|');
    const entry = byRoot.get(key) ?? { root: pem, namespaces: [] };
    entry.namespaces.push(cm.metadata?.namespace ?? '?');
    byRoot.set(key, entry);
  }
  return [
    decideRootCa({
      sourceRevision: ctx.plan.source.revision,
      targetRevision: ctx.plan.target.revision,
      sourceRoot: roots.source,
      targetRoot: roots.target,
      distinct: [...byRoot.values()],
      acceptDifferentRoots: ctx.plan.rootCA.acceptDifferentRoots,
      ...(targetScope ? { targetScope } : {}),
    }),
  ];
}
