// How workloads and traffic reach the target, checked before anything moves.
// `target.gateway: in-place`: the source's gateway must take its revision from istio.io/rev (on its
// namespace or pod template), or there is nothing to move; on its namespace, other workloads there
// change with it at their next restart. `dns: none` with a second gateway: nothing moves the
// clients, and decommission removes the gateway they use. `target.tag`: the tag's configuration
// exists once and calls the source today; every namespace on the tag switches with it, so those
// outside the plan are named, and each must be one the target already discovers.
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Finding } from '../contract.js';
import { IN_PLACE, plannedNamespaces, type Plan } from '../../plan/schema.js';
import { discovers } from '../../mesh/discovery.js';
import { IstioLabel } from '../../mesh/naming.js';
import type { ControlPlaneScope } from '../shared/control-plane-scope.js';
import { webhooksPointAt } from '../shared/webhook-move.js';
import { decideTagPoint, revisionInjectorClientConfig, tagConfigs } from '../tag/point.js';
import { hasSidecar } from '../../mesh/syncz.js';
import { gatewayRevisionSource } from '../gateway/move.js';
import { podsOf } from '../namespace/rollout.js';
import type { NamespaceView, PreflightContext } from './context.js';
import { nameList } from './findings.js';
import { gatewayDeploymentName } from '../../plan/model.js';

export interface CutoverView {
  plan: Pick<Plan, 'source' | 'target' | 'dns'>;
  /** The gateway's namespace labels and Deployment (in-place only); undefined when absent. */
  namespaceLabels?: Record<string, string> | undefined;
  deploymentTemplateLabels?: Record<string, string> | undefined;
  /** Other Deployments in the gateway's namespace whose pods have a sidecar (in-place only). */
  othersWithSidecars?: string[];
}

export function decideCutover(v: CutoverView): Finding[] {
  const { source, target, dns } = v.plan;
  const gw = source.gateway;
  const name = gatewayDeploymentName(gw);
  if (target.gatewayMove !== IN_PLACE) {
    if (dns !== undefined) return [];
    return [
      {
        check: 'cutover/dns',
        status: 'warn',
        reason: `no DNS cutover (dns: none) although a second gateway ${target.gateway.namespace}/${target.gateway.service} is planned: nothing moves clients off the old gateway ${gw.namespace}/${name}, which decommission removes`,
        fix: 'point the clients at the new gateway yourself before approving decommission, or give the plan a dns section',
      },
    ];
  }
  if (v.namespaceLabels === undefined)
    return [
      {
        check: 'cutover/gateway',
        status: 'block',
        reason: `the gateway's namespace ${gw.namespace} does not exist`,
        fix: 'fix plan.source.gateway',
      },
    ];
  if (v.deploymentTemplateLabels === undefined)
    return [
      {
        check: 'cutover/gateway',
        status: 'block',
        reason: `the gateway Deployment ${gw.namespace}/${name} does not exist`,
        fix: 'fix plan.source.gateway (deployment defaults to the service name)',
      },
    ];
  const from = gatewayRevisionSource(v.namespaceLabels, v.deploymentTemplateLabels);
  if (from.where === 'none')
    return [{ check: 'cutover/gateway', status: 'block', reason: `the gateway ${gw.namespace}/${name} cannot move in place: ${from.why}` }];
  const findings: Finding[] = [
    {
      check: 'cutover/gateway',
      status: from.revision === source.revision ? 'pass' : 'warn',
      reason: `the gateway ${gw.namespace}/${name} takes its revision from istio.io/rev=${from.revision} on ${from.where === 'namespace' ? `its namespace` : 'its pod template'}: moved there to ${target.revision}, then rolled${from.revision === source.revision ? '' : ` (it is not the plan's source revision ${source.revision})`}`,
    },
  ];
  const others = v.othersWithSidecars ?? [];
  if (from.where === 'namespace' && others.length > 0)
    findings.push({
      check: 'cutover/gateway-namespace',
      status: 'warn',
      reason: `relabelling namespace ${gw.namespace} for the gateway also gives ${others.length} other workload(s) there the target's sidecar at their next restart, and only the gateway is restarted: ${nameList(others)}`,
      fix: 'put the gateway in a namespace of its own, or label its pod template with istio.io/rev instead of the namespace',
    });
  return findings;
}

export interface TagView {
  plan: Pick<Plan, 'source' | 'target' | 'waves'>;
  mwcs: readonly V1MutatingWebhookConfiguration[];
  /** Every namespace of the cluster on the tag (istio.io/rev=<tag>), with its labels. */
  onTag: NamespaceView[];
  /** Planned namespaces not on the tag now (their relabel sets it). */
  plannedOffTag: string[];
  /** The target's discovery scope. */
  targetScope: ControlPlaneScope;
}

export function decideTag(v: TagView): Finding[] {
  const { source, target } = v.plan;
  const tag = target.tag;
  if (tag === undefined) return [];
  const d = decideTagPoint(v.mwcs, v.plan, 'target');
  if ('error' in d) return [{ check: 'cutover/tag', status: 'block', reason: d.error }];
  const cfg = tagConfigs(v.mwcs, tag)[0]!;
  const fromSource = revisionInjectorClientConfig(v.mwcs, source.revision, source.istiodNamespace);
  const out: Finding[] = [];
  if (!d.patch)
    out.push({
      check: 'cutover/tag',
      status: 'warn',
      reason: `revision tag ${tag} (${d.name}) already calls ${target.revision}: nothing to switch`,
    });
  else if (fromSource && webhooksPointAt(cfg, fromSource, source.revision))
    out.push({
      check: 'cutover/tag',
      status: 'pass',
      reason: `revision tag ${tag} (${d.name}) calls ${source.revision} today; pointed at ${target.revision} once before the first wave`,
    });
  else
    out.push({
      check: 'cutover/tag',
      status: 'block',
      reason: `revision tag ${tag} (${d.name}) calls neither ${source.revision} nor ${target.revision} (labeled istio.io/rev=${cfg.metadata?.labels?.[IstioLabel.rev] ?? 'none'})`,
      fix: `point it at the source first (istioctl tag set ${tag} --revision ${source.revision} --overwrite), or fix plan.source`,
    });
  const planned = new Set(plannedNamespaces(v.plan));
  const outside = v.onTag.filter((n) => !planned.has(n.name)).map((n) => n.name);
  if (outside.length > 0)
    out.push({
      check: 'cutover/tag-namespaces',
      status: 'warn',
      reason: `${outside.length} namespace(s) on revision tag ${tag} are not in the plan: they get ${target.revision}'s sidecar at their next restart after the switch, and this run neither restarts nor verifies them: ${nameList(outside)}`,
      fix: 'add them to a wave, or move them off the tag first',
    });
  if (v.plannedOffTag.length > 0)
    out.push({
      check: 'cutover/tag-namespaces',
      status: 'pass',
      reason: `${nameList(v.plannedOffTag)} not on the tag yet: their relabel sets istio.io/rev=${tag}`,
    });
  // Between the switch and its wave, a pod restarted in a namespace on the tag already gets the target's sidecar.
  const unseen = v.onTag.filter((n) => !discovers(v.targetScope.discoverySelectors, n.labels)).map((n) => n.name);
  if (unseen.length > 0)
    out.push({
      check: 'cutover/tag-discovery',
      status: v.targetScope.scoped ? 'block' : 'warn',
      reason: `the target's discoverySelectors do not select ${nameList(unseen)} yet, though their pods restarted after the tag switch (before their wave) get its sidecar (${v.targetScope.basis})`,
      fix: `label them with the discovery labels (${Object.entries(target.discoveryLabels)
        .map(([k, val]) => `${k}=${val}`)
        .join(',')}) before the run, or widen the target's discoverySelectors`,
    });
  return out;
}

async function checkTag(ctx: PreflightContext): Promise<Finding[]> {
  const tag = ctx.plan.target.tag;
  if (tag === undefined) return [];
  const [mwcs, all, { present }, targetScope] = await Promise.all([
    ctx.mutatingWebhookConfigurations(),
    ctx.allNamespaces(),
    ctx.plannedNamespaces(),
    ctx.scope('target'),
  ]);
  const onTag = all
    .filter((n) => n.metadata?.labels?.[IstioLabel.rev] === tag)
    .map((n): NamespaceView => ({ name: n.metadata?.name ?? '', labels: { ...(n.metadata?.labels ?? {}) } }));
  const plannedOffTag = present.filter((n) => n.labels[IstioLabel.rev] !== tag).map((n) => n.name);
  return decideTag({ plan: ctx.plan, mwcs, onTag, plannedOffTag, targetScope });
}

export async function checkCutover(ctx: PreflightContext): Promise<Finding[]> {
  return [...(await checkTag(ctx)), ...(await checkGatewayCutover(ctx))];
}

async function checkGatewayCutover(ctx: PreflightContext): Promise<Finding[]> {
  const { plan } = ctx;
  if (plan.target.gatewayMove !== IN_PLACE) return decideCutover({ plan });
  const gw = plan.source.gateway;
  const name = gatewayDeploymentName(gw);
  const [ns, d, deployments, pods] = await Promise.all([
    ctx.kube.getNamespace(gw.namespace),
    ctx.kube.getWorkload('Deployment', gw.namespace, name),
    ctx.kube.listWorkloads('Deployment', gw.namespace),
    ctx.kube.listPods(gw.namespace),
  ]);
  const others = deployments
    .filter((x) => x.metadata?.name !== name && podsOf('Deployment', x, pods).some(hasSidecar))
    .map((x) => x.metadata?.name ?? '');
  return decideCutover({
    plan,
    namespaceLabels: ns ? { ...(ns.metadata?.labels ?? {}) } : undefined,
    deploymentTemplateLabels: d ? { ...(d.spec?.template?.metadata?.labels ?? {}) } : undefined,
    othersWithSidecars: others,
  });
}
