// Check 8, the pitfall guard, and the one definition of what decommission deletes (decommission
// calls `decommissionScope` too, so what preflight shows is exactly what will go).
//
// The rule: only objects that belong to the source revision — its injector
// MutatingWebhookConfiguration(s), its istiod Deployment and Service, its gateway Deployment and
// Service — and only when nothing marks them as belonging to someone else. Never CRDs, never
// namespaces, never shared cluster objects (ValidatingWebhookConfigurations, revision tags,
// ClusterRoles): nothing like `istioctl uninstall --purge` (facts §9), which would take the target
// down with the source.
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Finding } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { selectorMatches } from '../../mesh/labels.js';
import { IstioLabel, injectorWebhookConfigName, istiodHost, istiodServiceName, revisionOfIstiodService } from '../../mesh/naming.js';
import type { KubeAccess } from '../kube/types.js';
import { nameList } from './findings.js';

export type DecommissionKind = 'MutatingWebhookConfiguration' | 'Deployment' | 'Service';

export interface DecommissionItem {
  kind: DecommissionKind;
  /** Absent for cluster-scoped objects. */
  namespace?: string;
  name: string;
  /** Why it belongs to the source revision. */
  why: string;
}

export function itemId(i: Pick<DecommissionItem, 'kind' | 'namespace' | 'name'>): string {
  return i.namespace ? `${i.kind}/${i.namespace}/${i.name}` : `${i.kind}/${i.name}`;
}

export interface DecommissionScopeView {
  plan: Pick<Plan, 'source' | 'target'>;
  mwcs: V1MutatingWebhookConfiguration[];
  istiodDeployment?: V1Deployment;
  istiodService?: V1Service;
  gatewayDeployment?: V1Deployment;
  gatewayService?: V1Service;
  /** Pods of the target side (its gateway's, and injected ones) to find references to the source istiod. */
  targetPods: V1Pod[];
  /** Number of *.istio.io CRDs present: they all stay. */
  istioCrds: number;
}

export interface DecommissionScope {
  delete: DecommissionItem[];
  /** Objects that look like the source's but are kept, with the reason. */
  kept: { id: string; why: string }[];
  /** Reasons decommission must not run as things stand. */
  blockers: string[];
  /** Things a person should know. */
  notes: string[];
}

const rev = (labels: Record<string, string> | undefined): string | undefined => labels?.[IstioLabel.rev];

/** Env values of a pod that name the source istiod's host (e.g. CA_ADDR defaulting to istio-system). */
export function sourceIstiodReferences(pod: V1Pod, sourceHosts: readonly string[]): string[] {
  const found: string[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.value && sourceHosts.some((h) => e.value!.includes(h))) found.push(`${c.name}.${e.name}=${e.value}`);
    }
  }
  return found;
}

export function decommissionScope(v: DecommissionScopeView): DecommissionScope {
  const { source, target } = v.plan;
  const out: DecommissionScope = { delete: [], kept: [], blockers: [], notes: [] };
  const sourceIstiod = istiodServiceName(source.revision);
  const expectedMwc = injectorWebhookConfigName(source.revision, source.istiodNamespace);
  const targetMwc = injectorWebhookConfigName(target.revision, target.istiodNamespace);

  // Injector webhook configurations of the source revision.
  for (const cfg of v.mwcs) {
    const name = cfg.metadata?.name ?? '';
    const labelRev = rev(cfg.metadata?.labels);
    const named = name === expectedMwc;
    if (!named && labelRev !== source.revision) continue;
    const id = itemId({ kind: 'MutatingWebhookConfiguration', name });
    if (name === targetMwc || labelRev === target.revision) { out.kept.push({ id, why: `it belongs to the target revision ${target.revision}` }); continue; }
    if (labelRev !== undefined && labelRev !== source.revision) { out.kept.push({ id, why: `it is labeled istio.io/rev=${labelRev}, not ${source.revision}` }); continue; }
    const tag = cfg.metadata?.labels?.[IstioLabel.tag];
    if (tag !== undefined) {
      out.kept.push({ id, why: `it is revision tag "${tag}" (shared by name with whatever namespaces use the tag)` });
      out.notes.push(`revision tag "${tag}" (${name}) still points at the source revision ${source.revision}: namespaces labeled istio.io/rev=${tag} keep getting the source's sidecar; move the tag to ${target.revision} (istioctl tag set ${tag} --revision ${target.revision} --overwrite) before decommission`);
      continue;
    }
    const elsewhere = (cfg.webhooks ?? [])
      .map((w) => w.clientConfig?.service)
      .filter((s): s is NonNullable<typeof s> => s !== undefined)
      .filter((s) => s.namespace !== source.istiodNamespace || revisionOfIstiodService(s.name) !== source.revision);
    if (elsewhere.length > 0) {
      out.kept.push({ id, why: `its webhooks call ${elsewhere.map((s) => `${s.namespace}/${s.name}`).join(', ')}, not the source istiod` });
      continue;
    }
    out.delete.push({ kind: 'MutatingWebhookConfiguration', name, why: named ? `the source revision's injector (chart name ${expectedMwc})` : `labeled istio.io/rev=${source.revision}` });
  }

  // istiod Deployment and Service.
  const istiodOwned = (labels: Record<string, string> | undefined): string | undefined => {
    const r = rev(labels);
    return r !== undefined && r !== source.revision ? `it is labeled istio.io/rev=${r}` : undefined;
  };
  if (v.istiodDeployment) {
    const id = itemId({ kind: 'Deployment', namespace: source.istiodNamespace, name: sourceIstiod });
    const other = istiodOwned(v.istiodDeployment.metadata?.labels);
    if (other) out.kept.push({ id, why: other });
    else out.delete.push({ kind: 'Deployment', namespace: source.istiodNamespace, name: sourceIstiod, why: `the source revision's istiod` });
  }
  if (v.istiodService) {
    const id = itemId({ kind: 'Service', namespace: source.istiodNamespace, name: sourceIstiod });
    const selRev = v.istiodService.spec?.selector?.[IstioLabel.rev];
    const other = istiodOwned(v.istiodService.metadata?.labels) ?? (selRev !== undefined && selRev !== source.revision ? `it selects istiod pods of revision ${selRev}` : undefined);
    if (other) out.kept.push({ id, why: other });
    else out.delete.push({ kind: 'Service', namespace: source.istiodNamespace, name: sourceIstiod, why: `the source revision's istiod Service` });
  }

  // The source gateway, unless it is (or selects) the target's.
  const gw = source.gateway;
  const gwDeployment = gw.deployment ?? gw.service;
  const sameObject = gw.namespace === target.gateway.namespace && (gw.service === target.gateway.service || gwDeployment === (target.gateway.deployment ?? target.gateway.service));
  if (sameObject) {
    out.blockers.push(`the source and target gateways are the same object (${gw.namespace}/${gw.service}): decommission would remove the gateway serving the migrated traffic`);
  } else {
    if (v.gatewayService) {
      const id = itemId({ kind: 'Service', namespace: gw.namespace, name: gw.service });
      const sel = v.gatewayService.spec?.selector;
      if (sel && Object.keys(sel).length > 0 && gw.namespace === target.gateway.namespace && selectorMatches({ matchLabels: sel }, target.gateway.selector)) {
        out.kept.push({ id, why: `its selector also selects the target gateway's pods (${Object.entries(sel).map(([k, val]) => `${k}=${val}`).join(',')})` });
        out.blockers.push(`the source gateway Service ${gw.namespace}/${gw.service} also selects the target gateway's pods; deleting it could take traffic the target serves: give the gateways distinct selectors first`);
      } else out.delete.push({ kind: 'Service', namespace: gw.namespace, name: gw.service, why: 'the source gateway Service (plan.source.gateway)' });
    }
    if (v.gatewayDeployment) {
      const id = itemId({ kind: 'Deployment', namespace: gw.namespace, name: gwDeployment });
      const other = istiodOwned(v.gatewayDeployment.metadata?.labels);
      if (other) out.kept.push({ id, why: other });
      else out.delete.push({ kind: 'Deployment', namespace: gw.namespace, name: gwDeployment, why: 'the source gateway Deployment (plan.source.gateway)' });
    }
  }

  // Target-side pods still pointing at the source istiod (CA_ADDR defaults to istiod.istio-system,
  // facts §5): deleting the source istiod Service would break their certificate renewal.
  const hosts = [istiodHost(source.istiodNamespace, source.revision)];
  for (const pod of v.targetPods) {
    const refs = sourceIstiodReferences(pod, hosts);
    if (refs.length > 0) {
      out.blockers.push(`target-side pod ${pod.metadata?.namespace}/${pod.metadata?.name} still refers to the source istiod (${refs.slice(0, 2).join('; ')}): set global.istioNamespace / CA_ADDR of the target to its own istiod before decommission`);
    }
  }
  out.notes.push(`kept: every CustomResourceDefinition (${v.istioCrds} *.istio.io), every namespace, ValidatingWebhookConfigurations, RBAC and everything of revision ${target.revision}`);
  return out;
}

export function decideDecommissionScope(scope: DecommissionScope, sourceRevision: string): Finding[] {
  const list = scope.delete.map((i) => itemId(i));
  const out: Finding[] = [];
  out.push({
    check: 'pitfall/decommission-scope',
    status: scope.blockers.length > 0 ? 'block' : list.length === 0 ? 'warn' : 'pass',
    reason: scope.blockers.length > 0
      ? `decommission of revision ${sourceRevision} would not be safe: ${scope.blockers.join('; ')}`
      : list.length === 0
        ? `nothing of the source revision ${sourceRevision} was found to decommission (check plan.source)`
        : `decommission would delete only these ${list.length} objects of revision ${sourceRevision}: ${list.join(', ')}`,
    ...(scope.blockers.length > 0 ? { fix: 'fix the listed problems; meshmove never deletes shared objects, so decommission would stop here' } : list.length === 0 ? { fix: 'check plan.source.revision, istiodNamespace and gateway' } : {}),
  });
  out.push({
    check: 'pitfall/never-deleted',
    status: scope.notes.some((n) => n.startsWith('revision tag')) ? 'warn' : 'pass',
    reason: [...scope.notes, ...(scope.kept.length ? [`also kept: ${nameList(scope.kept.map((k) => `${k.id} (${k.why})`), 6)}`] : [])].join('; '),
    ...(scope.notes.some((n) => n.startsWith('revision tag')) ? { fix: 'move revision tags that point at the source to the target' } : {}),
  });
  return out;
}

/** Fetch what the scope is decided from (a handful of GETs and two lists). */
export async function readDecommissionScope(kube: KubeAccess, plan: Pick<Plan, 'source' | 'target'>): Promise<DecommissionScope> {
  const s = plan.source;
  const gwDeployment = s.gateway.deployment ?? s.gateway.service;
  const [mwcs, istiodDeployment, istiodService, gatewayDeployment, gatewayService, targetPods, crds] = await Promise.all([
    kube.listMutatingWebhookConfigurations(),
    kube.getWorkload('Deployment', s.istiodNamespace, istiodServiceName(s.revision)),
    kube.getService(s.istiodNamespace, istiodServiceName(s.revision)),
    kube.getWorkload('Deployment', s.gateway.namespace, gwDeployment),
    kube.getService(s.gateway.namespace, s.gateway.service),
    kube.listPods(plan.target.gateway.namespace, { labelSelector: Object.entries(plan.target.gateway.selector).map(([k, v]) => `${k}=${v}`).join(',') }),
    kube.listCustomResourceDefinitions(),
  ]);
  return decommissionScope({
    plan,
    mwcs,
    istiodDeployment,
    istiodService,
    gatewayDeployment,
    gatewayService,
    targetPods,
    istioCrds: crds.filter((c) => (c.spec?.group ?? '').endsWith('istio.io')).length,
  });
}
