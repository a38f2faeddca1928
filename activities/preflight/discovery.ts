// Check 4: discoverySelectors. The target must discover every planned namespace once the plan's
// labels are applied (else its gateway answers 503 for that namespace's hosts: the field report's
// pitfall), and should not discover one before it is migrated. It must also see the namespaces it
// needs that the plan does not relabel: its gateway's, and those of the Gateways the planned
// namespaces' VirtualServices bind to (`gateways: [ns/name]`) that select the target gateway's
// pods. A current istiod ignores the Istio config of unselected namespaces: on a real cluster the
// target's own namespace, holding its Gateway, was not selected and the new gateway would have
// served no host at all while this check passed. Istio before 1.22 (without enhanced scoping)
// reads config everywhere: there it is a warning (shared/control-plane-scope.ts). The source must
// keep discovering migrated namespaces: its gateway serves traffic until DNS moves, and its proxies
// still call them.
import type { Finding } from '../contract.js';
import type { SelectorLike } from '../../mesh/injection.js';
import { discovers } from '../../mesh/discovery.js';
import { MESH_CONFIG_KEY, meshConfigMapName } from '../../mesh/naming.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import { selectorToString, type LabelSelector } from '../../mesh/labels.js';
import type { Plan } from '../../plan/schema.js';
import type { NamespaceView, PreflightContext, Side } from './context.js';
import { collapse, nameList } from './findings.js';
import { labelsAfterRelabel } from './relabel.js';
import type { KubeObject } from '../kube/types.js';
import { plannedNamespaces } from '../../plan/schema.js';
import type { ControlPlaneScope } from '../shared/control-plane-scope.js';

/** A namespace the target must see although the plan does not relabel it, and why. */
export interface RequiredNamespace {
  name: string;
  /** Its labels now; undefined when it does not exist. */
  labels: Record<string, string> | undefined;
  /** What lives there that the target needs, e.g. "the target gateway istio-1-16-5/istio-ingressgateway". */
  needs: string[];
}

export interface DiscoveryView {
  plan: Pick<Plan, 'target' | 'source'>;
  namespaces: NamespaceView[];
  missing: string[];
  target: SelectorLike[];
  source: SelectorLike[];
  /** Namespaces outside the plan the target must see (requiredNamespaces). */
  required?: RequiredNamespace[];
  /** Whether the target ignores Istio config of unselected namespaces (by its version). */
  targetScope?: Pick<ControlPlaneScope, 'scoped' | 'basis'>;
}

interface GatewayLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { selector?: Record<string, string> };
}
interface VirtualServiceLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { gateways?: string[] };
}

/** An Istio Gateway applies to the gateway pods whose labels include all of its selector (empty: every gateway). */
export function gatewaySelectsPods(gw: GatewayLike, podLabels: Record<string, string>): boolean {
  return Object.entries(gw.spec?.selector ?? {}).every(([k, v]) => podLabels[k] === v);
}

/**
 * The namespaces outside the plan the target must see (pure): the target gateway's, and those of
 * the Gateways that the planned namespaces' VirtualServices bind to and that select the target
 * gateway's pods (a Gateway for the old gateway only does not matter to the target).
 */
export function requiredNamespaces(
  plan: Pick<Plan, 'target' | 'waves'>,
  nsLabels: ReadonlyMap<string, Record<string, string>>,
  gateways: readonly GatewayLike[],
  virtualServices: readonly VirtualServiceLike[],
  targetGatewayPods: Record<string, string>,
): RequiredNamespace[] {
  const planned = new Set(plannedNamespaces(plan as Plan));
  const needs = new Map<string, string[]>();
  const add = (ns: string, what: string): void => {
    if (planned.has(ns)) return;
    const list = needs.get(ns) ?? [];
    if (!list.includes(what)) list.push(what);
    needs.set(ns, list);
  };
  const gw = plan.target.gateway;
  add(gw.namespace, `the target gateway ${gw.namespace}/${gw.service}`);
  const boundBy = new Map<string, string[]>();
  for (const vs of virtualServices) {
    const vsNs = vs.metadata?.namespace ?? '';
    if (!planned.has(vsNs)) continue;
    for (const ref of vs.spec?.gateways ?? []) {
      if (ref === 'mesh') continue;
      const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [vsNs, ref];
      const g = gateways.find((x) => x.metadata?.namespace === ns && x.metadata?.name === name);
      if (!g || !gatewaySelectsPods(g, targetGatewayPods)) continue;
      const key = `${ns}/${name}`;
      boundBy.set(key, [...(boundBy.get(key) ?? []), `${vsNs}/${vs.metadata?.name ?? '?'}`]);
    }
  }
  for (const [key, vss] of [...boundBy].sort(([a], [b]) => a.localeCompare(b))) {
    add(key.split('/')[0]!, `Gateway ${key} (bound by VirtualService ${nameList(vss, 4)})`);
  }
  return [...needs].map(([name, n]) => ({ name, labels: nsLabels.get(name), needs: n }));
}

function decideRequired(v: DiscoveryView): Finding[] {
  const out: Finding[] = [];
  const scope = v.targetScope ?? {
    scoped: true,
    basis: 'its version unknown: taken as current Istio, where discoverySelectors scope config',
  };
  for (const r of v.required ?? []) {
    if (r.labels === undefined || discovers(v.target, r.labels)) continue;
    const check = `discovery/${r.name}`;
    const sel = describeSelectors(v.target);
    const withLabels = { ...r.labels, ...v.plan.target.discoveryLabels };
    const fix = discovers(v.target, withLabels)
      ? `label it with the target's discovery labels: kubectl label namespace ${r.name} ${Object.entries(v.plan.target.discoveryLabels)
          .map(([k, val]) => `${k}=${val}`)
          .join(' ')}`
      : `make the target's discoverySelectors (${sel}) select namespace ${r.name}`;
    const holds = `which holds ${r.needs.join(' and ')}`;
    if (scope.scoped) {
      out.push({
        check,
        status: 'block',
        reason: `the target's discoverySelectors (${sel}) do not select ${r.name}, ${holds}: the target istiod (${scope.basis}) ignores the Istio config of ${r.name}, so the new gateway would have no Gateway for these routes and serve none of their hosts (404/503)`,
        fix,
      });
    } else {
      out.push({
        check,
        status: 'warn',
        reason: `the target's discoverySelectors (${sel}) do not select ${r.name}, ${holds}; the target (${scope.basis}) still reads Istio config of every namespace, so this works now, but on Istio 1.22+ (or with ENABLE_ENHANCED_RESOURCE_SCOPING) the new gateway would serve none of these hosts`,
        fix,
      });
    }
  }
  return out;
}

export function describeSelectors(sels: readonly SelectorLike[]): string {
  if (sels.length === 0) return 'no discoverySelectors: every namespace';
  return sels.map((s) => `{${selectorToString(s as LabelSelector)}}`).join(' OR ');
}

export function decideDiscovery(v: DiscoveryView): Finding[] {
  const out: Finding[] = [];
  for (const name of v.missing) {
    out.push({
      check: `namespace/${name}`,
      status: 'block',
      reason: `planned namespace ${name} does not exist`,
      fix: "remove it from the plan's waves or create it",
    });
  }
  const perNs: Finding[] = [];
  const alreadyDiscovered: string[] = [];
  const sourceLoses: string[] = [];
  for (const ns of v.namespaces) {
    const after = labelsAfterRelabel(ns.labels, v.plan);
    if (!discovers(v.target, after)) {
      perNs.push({
        check: `discovery/${ns.name}`,
        status: 'block',
        reason: `after the relabel, the target's discoverySelectors (${describeSelectors(v.target)}) would not select ${ns.name}: the target istiod would not know its services and the new gateway would answer 503 for its hosts`,
        fix: `make plan.target.discoveryLabels match the target's discoverySelectors (currently ${describeSelectors(v.target)})`,
      });
      continue;
    }
    if (discovers(v.target, ns.labels) && v.target.length > 0) alreadyDiscovered.push(ns.name);
    if (!discovers(v.source, after)) sourceLoses.push(ns.name);
    perNs.push({ check: `discovery/${ns.name}`, status: 'pass', reason: '' });
  }
  out.push(
    ...collapse(
      'discovery',
      perNs,
      (passed) =>
        `the target discovers ${passed.length === v.namespaces.length ? 'every planned namespace' : nameList(passed)} once relabeled (${describeSelectors(v.target)})`,
    ),
  );
  out.push(...decideRequired(v));
  if (alreadyDiscovered.length > 0) {
    out.push({
      check: 'discovery/before-migration',
      status: 'warn',
      reason: `the target already discovers ${nameList(alreadyDiscovered)} before migrating: its routes (VirtualServices through the new gateway) take effect for them now, not at their wave`,
      fix: 'usually harmless; if unintended, remove the discovery labels from those namespaces until their wave',
    });
  }
  if (v.target.length === 0) {
    out.push({
      check: 'discovery/target-scope',
      status: 'warn',
      reason: 'the target has no discoverySelectors: it discovers every namespace from the start, so the migration is not scoped by labels',
      fix: 'set meshConfig.discoverySelectors on the target (e.g. matchLabels of plan.target.discoveryLabels) if you want a namespace-by-namespace migration',
    });
  }
  if (sourceLoses.length > 0) {
    out.push({
      check: 'discovery/source',
      status: 'block',
      reason: `after the relabel the source's discoverySelectors (${describeSelectors(v.source)}) would no longer select ${nameList(sourceLoses)}: the old gateway, which serves traffic until DNS moves, would answer 503 for them and old proxies could not reach them`,
      fix: "widen the source's discoverySelectors to keep selecting migrated namespaces (or use discovery labels the source also selects) until DNS is cut over",
    });
  } else if (v.namespaces.length > 0) {
    out.push({
      check: 'discovery/source',
      status: 'pass',
      reason: `the source keeps discovering migrated namespaces (${describeSelectors(v.source)})`,
    });
  }
  return out;
}

async function selectors(ctx: PreflightContext, side: Side): Promise<SelectorLike[] | Finding> {
  const cm = await ctx.meshConfigMap(side);
  const cp = ctx.plan[side];
  const where = `ConfigMap ${cp.istiodNamespace}/${meshConfigMapName(cp.revision)}`;
  if (!cm)
    return {
      check: `discovery/${side}-config`,
      status: 'block',
      reason: `the ${side}'s mesh config ${where} does not exist`,
      fix: `check plan.${side}.revision and istiodNamespace`,
    };
  try {
    return parseMeshConfig(cm.data?.[MESH_CONFIG_KEY]).discoverySelectors;
  } catch (err) {
    return {
      check: `discovery/${side}-config`,
      status: 'block',
      reason: `the ${side}'s mesh config in ${where} cannot be read: ${(err as Error).message}`,
      fix: `fix the "${MESH_CONFIG_KEY}" key of ${where}`,
    };
  }
}

export async function checkDiscovery(ctx: PreflightContext): Promise<Finding[]> {
  const [{ present, missing }, target, source] = await Promise.all([
    ctx.plannedNamespaces(),
    selectors(ctx, 'target'),
    selectors(ctx, 'source'),
  ]);
  if (!Array.isArray(target) || !Array.isArray(source)) {
    return [target, source].filter((x): x is Finding => !Array.isArray(x));
  }
  const [all, gateways, virtualServices, podLabels, targetScope] = await Promise.all([
    ctx.allNamespaces(),
    ctx.istioGateways(),
    ctx.virtualServices(),
    ctx.targetGatewayPodLabels(),
    ctx.scope('target'),
  ]);
  const labels = new Map(all.map((n) => [n.metadata?.name ?? '', { ...(n.metadata?.labels ?? {}) }]));
  const required = requiredNamespaces(
    ctx.plan,
    labels,
    gateways as KubeObject[] as GatewayLike[],
    virtualServices as VirtualServiceLike[],
    podLabels,
  );
  try {
    return decideDiscovery({ plan: ctx.plan, namespaces: present, missing, target, source, required, targetScope });
  } catch (err) {
    // An invalid selector operator makes istiod reject the config too.
    return [
      {
        check: 'discovery',
        status: 'block',
        reason: `a discoverySelector is invalid: ${(err as Error).message}`,
        fix: 'fix the selector in the mesh config',
      },
    ];
  }
}
