// Which namespaces a `select` wave takes: decided once, before the start gate, from one list of the
// cluster's namespaces and its injector webhooks. Pure, so the rules are table-tested
// (test/unit/waves.test.ts) and the activity around it only fetches.
//   - every criterion a select gives must hold (labels, injection by the source, name patterns);
//   - never: the control-plane namespaces (both istiods and gateways), the namespaces Istio never
//     injects (kube-system, kube-public), a namespace named by any wave, one taken by an earlier wave;
//   - `limit` caps what is left after that: a count, or a percentage rounded up;
//   - order is stable: by name.
import { injectingRevision, NEVER_INJECTED_NAMESPACES, type MutatingWebhookConfigurationLike } from '../../mesh/injection.js';
import { selectorMatches, type LabelSelector } from '../../mesh/labels.js';
import type { Plan, WaveSelect } from '../../plan/schema.js';
import type { WaveSelection } from '../contract.js';

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

export type { WaveSelection };

/** How many of the namespaces no wave takes are named (the count is always given). */
export const UNMATCHED_LISTED = 20;

/** `*` any run of characters, `?` exactly one; the rest literal. */
export function globMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(name);
}

/** How many of `matched` namespaces a limit allows: a count, or a percentage rounded up. */
export function limitCount(limit: WaveSelect['limit'], matched: number): number {
  if (limit === undefined) return matched;
  if (typeof limit === 'number') return Math.min(limit, matched);
  const pct = Number(limit.slice(0, -1));
  return Math.min(matched, Math.ceil((matched * pct) / 100));
}

/** Byte order of names, as kubectl lists them. */
const byName = (a: NamespaceInfo, b: NamespaceInfo): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The revision whose webhook would inject a new (unlabelled) pod of this namespace, or null. */
function injectedBy(configs: readonly MutatingWebhookConfigurationLike[], ns: NamespaceInfo): string | null {
  if (NEVER_INJECTED_NAMESPACES.includes(ns.name)) return null;
  return injectingRevision(configs, ns.labels, {}).revision;
}

function selects(select: WaveSelect, ns: NamespaceInfo, source: string, configs: readonly MutatingWebhookConfigurationLike[]): boolean {
  if (select.matchLabels !== undefined || select.matchExpressions !== undefined) {
    const sel: LabelSelector = {
      ...(select.matchLabels ? { matchLabels: select.matchLabels } : {}),
      ...(select.matchExpressions ? { matchExpressions: select.matchExpressions } : {}),
    };
    if (!selectorMatches(sel, ns.labels)) return false;
  }
  if (select.injectedBy === 'source' && injectedBy(configs, ns) !== source) return false;
  if (select.names !== undefined && !select.names.some((p) => globMatches(p, ns.name))) return false;
  if (select.exclude?.some((p) => globMatches(p, ns.name))) return false;
  return true;
}

/** The namespaces no select wave may take: both control planes' own namespaces and the never-injected ones. */
export function controlPlaneNamespaces(plan: Pick<Plan, 'source' | 'target'>): Set<string> {
  return new Set([
    plan.source.istiodNamespace,
    plan.target.istiodNamespace,
    plan.source.gateway.namespace,
    plan.target.gateway.namespace,
    ...NEVER_INJECTED_NAMESPACES,
  ]);
}

/**
 * Each wave's concrete namespaces. Name waves keep their list as written (whether or not the
 * namespaces exist: preflight says so); select waves take from `namespaces` by the rules above.
 */
export function resolveWaveSelection(
  plan: Pick<Plan, 'waves' | 'source' | 'target'>,
  namespaces: readonly NamespaceInfo[],
  webhooks: readonly MutatingWebhookConfigurationLike[] = [],
): WaveSelection {
  const named = new Set(plan.waves.flatMap((w) => (w.select ? [] : w.namespaces)));
  const never = controlPlaneNamespaces(plan);
  const taken = new Set<string>();
  const sorted = [...namespaces].sort(byName);
  const waves = plan.waves.map((w) => {
    if (!w.select) return { name: w.name, namespaces: [...w.namespaces] };
    const select = w.select;
    const matched = sorted.filter(
      (ns) => !never.has(ns.name) && !named.has(ns.name) && !taken.has(ns.name) && selects(select, ns, plan.source.revision, webhooks),
    );
    const chosen = matched.slice(0, limitCount(select.limit, matched.length)).map((ns) => ns.name);
    for (const n of chosen) taken.add(n);
    return { name: w.name, namespaces: chosen };
  });
  const left = sorted
    .filter((ns) => !never.has(ns.name) && !named.has(ns.name) && !taken.has(ns.name) && injectedBy(webhooks, ns) === plan.source.revision)
    .map((ns) => ns.name);
  return { waves, ...(left.length > 0 ? { unmatched: { count: left.length, names: left.slice(0, UNMATCHED_LISTED) } } : {}) };
}
