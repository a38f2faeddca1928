// What a validated plan means, in plain functions over its normalized form: the namespaces it
// moves, the labels it sets, its cutover choices. No zod here: the workflows import this module,
// and the workflow sandbox loads its modules again for every workflow it starts, so a schema built
// at import time would be built again for every namespace's workflow.
import type { GatewayRef, Plan, WaveSelect } from './schema.js';

/** `dns: none`: no DNS cutover, for moves where clients keep the address they use (e.g. the gateway moves in place). */
export const NO_DNS = 'none';
/** `target.gateway: in-place`: no second gateway; the source's gateway Deployment moves to the target revision. */
export const IN_PLACE = 'in-place';

/** A gateway's Deployment: the one the plan names, else the one named like its Service. */
export function gatewayDeploymentName(gw: Pick<GatewayRef, 'service' | 'deployment'>): string {
  return gw.deployment ?? gw.service;
}

/** Where a plan's backups go, for people: the directory, or `cluster:<namespace>`. */
export function backupTarget(b: { location?: string; cluster?: { namespace: string } }): string {
  return b.cluster ? `cluster:${b.cluster.namespace}` : (b.location ?? '');
}

/**
 * Every planned namespace in migration order. A plan with `select` waves lists only its named
 * namespaces until resolved: the run works on `resolvedPlan(plan, resolution)`.
 */
export function plannedNamespaces(plan: Pick<Plan, 'waves'>): string[] {
  return plan.waves.flatMap((w) => w.namespaces);
}

/** Whether some wave chooses its namespaces from the cluster (and so must be resolved before the run moves anything). */
export function hasSelectWaves(plan: Pick<Plan, 'waves'>): boolean {
  return plan.waves.some((w) => w.select !== undefined);
}

/** How a select wave chooses, in one line for the start gate, e.g. `names inv*; injected by the source; at most 10%`. */
export function describeSelect(select: WaveSelect): string {
  const parts: string[] = [];
  if (select.matchLabels)
    parts.push(
      `labels ${Object.entries(select.matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
  for (const e of select.matchExpressions ?? []) parts.push(`${e.key} ${e.operator}${e.values?.length ? ` (${e.values.join(',')})` : ''}`);
  if (select.injectedBy) parts.push('injected by the source');
  if (select.names) parts.push(`names ${select.names.join(',')}`);
  if (select.exclude) parts.push(`except ${select.exclude.join(',')}`);
  if (select.limit !== undefined) parts.push(`at most ${select.limit}`);
  return parts.join('; ');
}

/** Each wave's concrete namespaces, as resolved once before the start gate. */
export interface WaveResolution {
  waves: { name: string; namespaces: string[] }[];
}

/**
 * The plan the run works on: each `select` wave replaced by the namespaces it resolved to (a name
 * wave like any other). Name waves are kept as written.
 */
export function resolvedPlan<P extends Pick<Plan, 'waves'>>(plan: P, resolution: WaveResolution): P {
  const found = new Map(resolution.waves.map((w) => [w.name, w.namespaces]));
  return {
    ...plan,
    waves: plan.waves.map((w) =>
      w.select === undefined
        ? w
        : {
            name: w.name,
            concurrency: w.concurrency,
            ...(w.prepareAhead !== undefined ? { prepareAhead: w.prepareAhead } : {}),
            namespaces: [...(found.get(w.name) ?? [])],
          },
    ),
  };
}

/**
 * The exact label change a namespace gets: set the revision (or the revision tag, which points at
 * it) and the discovery labels, drop istio-injection.
 */
export function relabelFor(plan: Pick<Plan, 'target'>): { set: Record<string, string>; remove: string[] } {
  return { set: { 'istio.io/rev': plan.target.tag ?? plan.target.revision, ...plan.target.discoveryLabels }, remove: ['istio-injection'] };
}
