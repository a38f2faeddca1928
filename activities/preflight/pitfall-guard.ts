// Check 8, the pitfall guard, and the one definition of what decommission changes (decommission
// calls `decommissionScope` too, so what preflight shows is exactly what will happen).
//
// The rule: delete only objects that belong to the source revision — its injector
// MutatingWebhookConfiguration(s), its istiod Deployment and Service, its gateway Deployment and
// Service — and only when nothing marks them as belonging to someone else. Never CRDs, never
// namespaces, never shared cluster objects (revision tags, ClusterRoles): nothing like
// `istioctl uninstall --purge` (docs/istio-facts.md §9), which would take the target down with the source.
//
// One shared object must change: istiod-default-validator, the default revision's validating
// webhook. It has no objectSelector (every Istio object in the cluster), is fail-closed once istiod
// has validated once, and calls the source istiod: with the source gone, every Istio config write in
// the cluster would be refused. Decommission moves it to the target before deleting anything, as
// `istioctl tag set default --revision <target>` does: its webhooks call what the target's own
// validator calls (clientConfig and caBundle copied from it) and it is labeled istio.io/rev=<target>,
// so the target istiod keeps its caBundle patched. It is backed up first, like every deleted object.
// (Removing it instead would leave unlabeled Istio objects unvalidated.)
//
// Everything else of the source install stays, and the scope says what: the other validator, the
// ConfigMaps, the Gateway objects, and what meshmove's RBAC does not let it see (HPA, PDB,
// ServiceAccounts, RBAC, the CA Secret).
import type {
  V1ConfigMap,
  V1Deployment,
  V1MutatingWebhookConfiguration,
  V1Pod,
  V1Service,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { Finding } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { IN_PLACE } from '../../plan/schema.js';
import { selectorMatches } from '../../mesh/labels.js';
import {
  DEFAULT_VALIDATOR_CONFIG,
  IstioLabel,
  VALIDATE_PATH,
  injectorWebhookConfigName,
  istiodHost,
  istiodServiceName,
  revisionOfIstiodService,
  validatorWebhookConfigName,
} from '../../mesh/naming.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import { ISTIO_RESOURCES } from '../kube/istio-resources.js';
import { nameList } from './findings.js';
import { labelSelectorOf } from '../shared/pods.js';
import { pointWebhooksPatch, webhooksPointAt, type WebhookClientConfig } from '../shared/webhook-move.js';
import { gatewayDeploymentName } from '../../plan/model.js';

export type { WebhookClientConfig } from '../shared/webhook-move.js';

export type DecommissionKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration' | 'Deployment' | 'Service';

/** The default validator moved to the target: what its webhooks will call. */
export interface ValidatorMove {
  name: string;
  why: string;
  /** Where the webhooks point now (for messages). */
  from: string;
  to: WebhookClientConfig;
  /** Where `to` was copied from. */
  toFrom: string;
}

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
  vwcs: V1ValidatingWebhookConfiguration[];
  /** ConfigMaps in the source istiod's namespace (what stays behind). */
  sourceConfigMaps?: Pick<V1ConfigMap, 'metadata'>[];
  /** networking.istio.io Gateways in the source istiod's and source gateway's namespaces. */
  sourceGateways?: Pick<KubeObject, 'metadata'>[];
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
  /** Shared objects repointed to the target before anything is deleted (the default validator). */
  move: ValidatorMove[];
  /** What of the source install decommission leaves in place, with why it matters. */
  leftBehind: string[];
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

function describeClientConfig(c: WebhookClientConfig | undefined): string {
  if (c?.service) return `${c.service.name}.${c.service.namespace}.svc${c.service.path ?? ''}`;
  return c?.url ?? 'nothing';
}

const callsIstiod = (c: WebhookClientConfig | undefined, namespace: string, revision: string): boolean =>
  c?.service !== undefined && c.service.namespace === namespace && revisionOfIstiodService(c.service.name) === revision;

/**
 * What the target's validation webhook is called with (pure): its own validator's clientConfig
 * (`istio-validator-<rev>-<ns>`, or another labeled with its revision), else its injector's with
 * the validation path. Undefined when the target has neither.
 */
export function targetValidationClientConfig(
  plan: Pick<Plan, 'target'>,
  vwcs: readonly V1ValidatingWebhookConfiguration[],
  mwcs: readonly V1MutatingWebhookConfiguration[],
): { config: WebhookClientConfig; from: string } | undefined {
  const t = plan.target;
  const own =
    vwcs.find((c) => c.metadata?.name === validatorWebhookConfigName(t.revision, t.istiodNamespace)) ??
    vwcs.find((c) => c.metadata?.name !== DEFAULT_VALIDATOR_CONFIG && c.metadata?.labels?.[IstioLabel.rev] === t.revision);
  const fromVwc = own?.webhooks?.[0]?.clientConfig as WebhookClientConfig | undefined;
  if (fromVwc && (fromVwc.service || fromVwc.url))
    return { config: structuredClone(fromVwc), from: `ValidatingWebhookConfiguration ${own!.metadata?.name ?? '?'}` };
  const inj = mwcs.find((c) => c.metadata?.name === injectorWebhookConfigName(t.revision, t.istiodNamespace));
  const c = inj?.webhooks?.[0]?.clientConfig as WebhookClientConfig | undefined;
  if (!c || !(c.service || c.url)) return undefined;
  const config: WebhookClientConfig = { ...(c.caBundle ? { caBundle: c.caBundle } : {}) };
  if (c.service) config.service = { ...c.service, path: VALIDATE_PATH };
  else {
    const u = new URL(c.url!);
    u.pathname = VALIDATE_PATH;
    config.url = u.toString();
  }
  return { config, from: `the injector MutatingWebhookConfiguration ${inj!.metadata?.name ?? '?'} (path ${VALIDATE_PATH})` };
}

/** Whether a validator already calls `to` (caBundle aside: the target istiod re-patches it) and is labeled for the revision. */
export function validatorPointsAt(vwc: V1ValidatingWebhookConfiguration, to: WebhookClientConfig, revision: string): boolean {
  return webhooksPointAt(vwc, to, revision);
}

/** The merge patch that moves a validator to the target (every webhook; labels), or undefined when it is there. */
export function validatorMovePatch(vwc: V1ValidatingWebhookConfiguration, to: WebhookClientConfig, revision: string): object | undefined {
  return pointWebhooksPatch(vwc, to, revision);
}

export function decommissionScope(v: DecommissionScopeView): DecommissionScope {
  const { source, target } = v.plan;
  const out: DecommissionScope = { delete: [], move: [], leftBehind: [], kept: [], blockers: [], notes: [] };
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
    if (name === targetMwc || labelRev === target.revision) {
      out.kept.push({ id, why: `it belongs to the target revision ${target.revision}` });
      continue;
    }
    if (labelRev !== undefined && labelRev !== source.revision) {
      out.kept.push({ id, why: `it is labeled istio.io/rev=${labelRev}, not ${source.revision}` });
      continue;
    }
    const tag = cfg.metadata?.labels?.[IstioLabel.tag];
    if (tag !== undefined && tag === target.tag) {
      out.kept.push({ id, why: `it is the plan's revision tag "${tag}", pointed at ${target.revision} before the first wave` });
      continue;
    }
    if (tag !== undefined) {
      out.kept.push({ id, why: `it is revision tag "${tag}" (shared by name with whatever namespaces use the tag)` });
      out.notes.push(
        `revision tag "${tag}" (${name}) still points at the source revision ${source.revision}: namespaces labeled istio.io/rev=${tag} keep getting the source's sidecar; move the tag to ${target.revision} (istioctl tag set ${tag} --revision ${target.revision} --overwrite) before decommission`,
      );
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
    out.delete.push({
      kind: 'MutatingWebhookConfiguration',
      name,
      why: named ? `the source revision's injector (chart name ${expectedMwc})` : `labeled istio.io/rev=${source.revision}`,
    });
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
    else
      out.delete.push({ kind: 'Deployment', namespace: source.istiodNamespace, name: sourceIstiod, why: `the source revision's istiod` });
  }
  if (v.istiodService) {
    const id = itemId({ kind: 'Service', namespace: source.istiodNamespace, name: sourceIstiod });
    const selRev = v.istiodService.spec?.selector?.[IstioLabel.rev];
    const other =
      istiodOwned(v.istiodService.metadata?.labels) ??
      (selRev !== undefined && selRev !== source.revision ? `it selects istiod pods of revision ${selRev}` : undefined);
    if (other) out.kept.push({ id, why: other });
    else
      out.delete.push({
        kind: 'Service',
        namespace: source.istiodNamespace,
        name: sourceIstiod,
        why: `the source revision's istiod Service`,
      });
  }

  // The source gateway, unless it is (or selects) the target's.
  const gw = source.gateway;
  const gwDeployment = gatewayDeploymentName(gw);
  const sameObject =
    gw.namespace === target.gateway.namespace &&
    (gw.service === target.gateway.service || gwDeployment === gatewayDeploymentName(target.gateway));
  if (target.gatewayMove === IN_PLACE) {
    // target.gateway: in-place: the one gateway moves to the target revision before decommission.
    const why = `the gateway moves in place to ${target.revision} (target.gateway: in-place)`;
    if (v.gatewayService) out.kept.push({ id: itemId({ kind: 'Service', namespace: gw.namespace, name: gw.service }), why });
    if (v.gatewayDeployment) out.kept.push({ id: itemId({ kind: 'Deployment', namespace: gw.namespace, name: gwDeployment }), why });
  } else if (sameObject) {
    out.blockers.push(
      `the source and target gateways are the same object (${gw.namespace}/${gw.service}): decommission would remove the gateway serving the migrated traffic`,
    );
  } else {
    if (v.gatewayService) {
      const id = itemId({ kind: 'Service', namespace: gw.namespace, name: gw.service });
      const sel = v.gatewayService.spec?.selector;
      if (
        sel &&
        Object.keys(sel).length > 0 &&
        gw.namespace === target.gateway.namespace &&
        selectorMatches({ matchLabels: sel }, target.gateway.selector)
      ) {
        out.kept.push({
          id,
          why: `its selector also selects the target gateway's pods (${Object.entries(sel)
            .map(([k, val]) => `${k}=${val}`)
            .join(',')})`,
        });
        out.blockers.push(
          `the source gateway Service ${gw.namespace}/${gw.service} also selects the target gateway's pods; deleting it could take traffic the target serves: give the gateways distinct selectors first`,
        );
      } else
        out.delete.push({
          kind: 'Service',
          namespace: gw.namespace,
          name: gw.service,
          why: 'the source gateway Service (plan.source.gateway)',
        });
    }
    if (v.gatewayDeployment) {
      const id = itemId({ kind: 'Deployment', namespace: gw.namespace, name: gwDeployment });
      const other = istiodOwned(v.gatewayDeployment.metadata?.labels);
      if (other) out.kept.push({ id, why: other });
      else
        out.delete.push({
          kind: 'Deployment',
          namespace: gw.namespace,
          name: gwDeployment,
          why: 'the source gateway Deployment (plan.source.gateway)',
        });
    }
  }

  // Target-side pods still pointing at the source istiod (CA_ADDR defaults to istiod.istio-system,
  // docs/istio-facts.md §5): deleting the source istiod Service would break their certificate renewal.
  const hosts = [istiodHost(source.istiodNamespace, source.revision)];
  for (const pod of v.targetPods) {
    const refs = sourceIstiodReferences(pod, hosts);
    if (refs.length > 0) {
      out.blockers.push(
        `target-side pod ${pod.metadata?.namespace}/${pod.metadata?.name} still refers to the source istiod (${refs.slice(0, 2).join('; ')}): set global.istioNamespace / CA_ADDR of the target to its own istiod before decommission`,
      );
    }
  }
  // Validating webhook configurations that call the source istiod (or carry its revision).
  for (const cfg of v.vwcs) {
    const name = cfg.metadata?.name ?? '';
    const hooks = cfg.webhooks ?? [];
    const calls = hooks.some((w) => callsIstiod(w.clientConfig as WebhookClientConfig, source.istiodNamespace, source.revision));
    if (!calls && rev(cfg.metadata?.labels) !== source.revision) continue;
    const id = itemId({ kind: 'ValidatingWebhookConfiguration', name });
    const failClosed = hooks.some((w) => (w.failurePolicy ?? 'Fail') === 'Fail');
    if (name === DEFAULT_VALIDATOR_CONFIG) {
      const to = targetValidationClientConfig(v.plan, v.vwcs, v.mwcs);
      const from = describeClientConfig(hooks[0]?.clientConfig as WebhookClientConfig);
      if (!to) {
        out.blockers.push(
          `${id} validates every Istio object${failClosed ? ' and is fail-closed' : ''} and calls the source istiod ${from}, and the target ${target.revision} has no validating webhook (nor injector) to repoint it to: with the source istiod gone every Istio config write would be refused; install the target's validator (istioctl tag set default --revision ${target.revision}) first`,
        );
        continue;
      }
      out.move.push({
        name,
        from,
        to: to.config,
        toFrom: to.from,
        why: `the default validator (no objectSelector: every Istio object in the cluster; failurePolicy ${failClosed ? 'Fail: fail-closed' : 'Ignore, until istiod turns it to Fail'})`,
      });
      continue;
    }
    const sel = hooks[0]?.objectSelector?.matchExpressions?.find((e) => e.key === IstioLabel.rev)?.values?.join(',');
    out.leftBehind.push(
      `${id} (${sel ? `validates only Istio objects labeled istio.io/rev=${sel}` : 'calls the source istiod'}${failClosed ? '; fail-closed: once the source istiod is gone, writes of such objects are refused until it is deleted' : ''})`,
    );
  }

  // What else of the source install stays.
  const cms = (v.sourceConfigMaps ?? [])
    .map((c) => c.metadata?.name ?? '')
    .filter(Boolean)
    .sort();
  if (cms.length > 0) out.leftBehind.push(`ConfigMaps ${source.istiodNamespace}/{${nameList(cms, 8)}}`);
  for (const g of v.sourceGateways ?? [])
    out.leftBehind.push(`Gateway ${g.metadata?.namespace ?? '?'}/${g.metadata?.name ?? '?'} (networking.istio.io)`);
  const istiodRef = `${source.istiodNamespace}/${sourceIstiod}`;
  out.leftBehind.push(
    `not visible to meshmove's RBAC, as Istio's chart installs them: HorizontalPodAutoscaler and PodDisruptionBudget ${istiodRef} (orphaned once the Deployment is gone), ServiceAccounts in ${source.istiodNamespace}, the revision's ClusterRoles/ClusterRoleBindings and Roles/RoleBindings, and Secret ${source.istiodNamespace}/istio-ca-secret (or cacerts): the source CA's private key`,
    `namespace ${source.istiodNamespace} and every CustomResourceDefinition`,
  );
  out.notes.push(
    `kept: every CustomResourceDefinition (${v.istioCrds} *.istio.io), every namespace, RBAC and everything of revision ${target.revision}`,
  );
  return out;
}

/** The decommission in one sentence set: what it moves, deletes and leaves behind (the gate shows it). */
export function describeDecommission(scope: DecommissionScope, sourceRevision: string, targetRevision: string): string {
  const list = scope.delete.map((i) => itemId(i));
  const moves = scope.move.map(
    (m) =>
      `repoint ValidatingWebhookConfiguration/${m.name} from ${m.from} to the target istiod ${describeClientConfig(m.to)} (copied from ${m.toFrom}; labeled istio.io/rev=${targetRevision}), so Istio config writes keep being validated`,
  );
  return [
    `decommission of revision ${sourceRevision} would ${moves.length ? `first ${moves.join('; ')}; then ` : ''}delete only these ${list.length} objects: ${list.join(', ')}`,
    `It leaves behind: ${scope.leftBehind.join('; ')}`,
  ].join('. ');
}

export function decideDecommissionScope(scope: DecommissionScope, sourceRevision: string, targetRevision = 'the target'): Finding[] {
  const list = scope.delete.map((i) => itemId(i));
  const out: Finding[] = [];
  // `decommission/...`: the run's decommission gate shows this finding's reason as its summary.
  out.push({
    check: 'decommission/scope',
    status: scope.blockers.length > 0 ? 'block' : list.length === 0 ? 'warn' : 'pass',
    reason:
      scope.blockers.length > 0
        ? `decommission of revision ${sourceRevision} would not be safe: ${scope.blockers.join('; ')}`
        : list.length === 0
          ? `nothing of the source revision ${sourceRevision} was found to decommission (check plan.source)`
          : describeDecommission(scope, sourceRevision, targetRevision),
    ...(scope.blockers.length > 0
      ? { fix: 'fix the listed problems; meshmove never deletes shared objects, so decommission would stop here' }
      : list.length === 0
        ? { fix: 'check plan.source.revision, istiodNamespace and gateway' }
        : {}),
  });
  out.push({
    check: 'pitfall/never-deleted',
    status: scope.notes.some((n) => n.startsWith('revision tag')) ? 'warn' : 'pass',
    reason: [
      ...scope.notes,
      ...(scope.kept.length
        ? [
            `also kept: ${nameList(
              scope.kept.map((k) => `${k.id} (${k.why})`),
              6,
            )}`,
          ]
        : []),
    ].join('; '),
    ...(scope.notes.some((n) => n.startsWith('revision tag')) ? { fix: 'move revision tags that point at the source to the target' } : {}),
  });
  for (const m of scope.move) {
    out.push({
      check: 'pitfall/default-validator',
      status: 'pass',
      reason: `${m.name} is ${m.why} and calls the source istiod ${m.from}: once that istiod is gone, every Istio config write in the cluster would be refused. Decommission will repoint it to the target istiod ${describeClientConfig(m.to)} (clientConfig and caBundle from ${m.toFrom}, label istio.io/rev=${targetRevision}), as \`istioctl tag set default --revision ${targetRevision}\` does, before it deletes anything; the original is kept in the decommission backup`,
    });
  }
  return out;
}

/** Fetch what the scope is decided from (a handful of GETs and two lists). */
export async function readDecommissionScope(kube: KubeAccess, plan: Pick<Plan, 'source' | 'target'>): Promise<DecommissionScope> {
  const s = plan.source;
  const gwDeployment = gatewayDeploymentName(s.gateway);
  const gatewayRef = ISTIO_RESOURCES.find((r) => r.kind === 'Gateway')!;
  const gatewayNamespaces = [...new Set([s.istiodNamespace, s.gateway.namespace])];
  const [
    mwcs,
    vwcs,
    sourceConfigMaps,
    sourceGateways,
    istiodDeployment,
    istiodService,
    gatewayDeployment,
    gatewayService,
    targetPods,
    crds,
  ] = await Promise.all([
    kube.listMutatingWebhookConfigurations(),
    kube.listValidatingWebhookConfigurations(),
    kube.listConfigMaps(s.istiodNamespace),
    Promise.all(gatewayNamespaces.map((ns) => kube.listCustomObjects(gatewayRef, ns))).then((l) => l.flat()),
    kube.getWorkload('Deployment', s.istiodNamespace, istiodServiceName(s.revision)),
    kube.getService(s.istiodNamespace, istiodServiceName(s.revision)),
    kube.getWorkload('Deployment', s.gateway.namespace, gwDeployment),
    kube.getService(s.gateway.namespace, s.gateway.service),
    kube.listPods(plan.target.gateway.namespace, {
      labelSelector: labelSelectorOf(plan.target.gateway.selector),
    }),
    kube.listCustomResourceDefinitions(),
  ]);
  return decommissionScope({
    plan,
    mwcs,
    vwcs,
    sourceConfigMaps,
    sourceGateways,
    istiodDeployment,
    istiodService,
    gatewayDeployment,
    gatewayService,
    targetPods,
    istioCrds: crds.filter((c) => (c.spec?.group ?? '').endsWith('istio.io')).length,
  });
}
