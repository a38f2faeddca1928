// The search attributes a run keeps up to date, so that `temporal workflow list --query ...`, the
// Temporal UI and `meshmove list --waiting/--phase` find runs by plan, phase, cluster and what waits
// for a person. Shared by the workflows (which upsert them) and the client (which starts runs with
// them, registers them in its dev servers and queries them).
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

/** metadata.name of the plan. */
export const PLAN_ATTRIBUTE = defineSearchAttributeKey('MeshmovePlan', SearchAttributeType.KEYWORD);
/** The run's phase (messages.ts Phase): preflight, awaiting-start, namespaces, ..., completed. */
export const PHASE_ATTRIBUTE = defineSearchAttributeKey('MeshmovePhase', SearchAttributeType.KEYWORD);
/**
 * What waits for a person in this workflow, unset when nothing does: the gate's id (`start`,
 * `dns-cutover`, `decommission`, `namespace:NS`, ...) while a gate is open, or `decision:STEP`
 * while a failed step waits for a decision (retry, skip, rollback, abort). A namespace's gate or
 * failed step is set on that namespace's child workflow (`RUN/ns/NS`), whose parent is the run.
 */
export const PENDING_ATTRIBUTE = defineSearchAttributeKey('MeshmovePendingGate', SearchAttributeType.KEYWORD);
/** plan.cluster.context (the kubeconfig context), or `current-context` when the plan names none. */
export const CLUSTER_ATTRIBUTE = defineSearchAttributeKey('MeshmoveCluster', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [PLAN_ATTRIBUTE, PHASE_ATTRIBUTE, PENDING_ATTRIBUTE, CLUSTER_ATTRIBUTE] as const;

/** The prefix of a pending decision's value in MeshmovePendingGate. */
export const DECISION_PENDING_PREFIX = 'decision:';

/** The value of MeshmoveCluster for a plan. */
export function clusterAttribute(context: string | undefined): string {
  return context ?? 'current-context';
}

/**
 * The Temporal CLI command that registers every attribute in a namespace (all Keyword). A --type per
 * --name: with one --type for several names the CLI registers only the first (seen with the CLI of
 * Server 1.29.1), so the command is spelled the way that registers all of them.
 */
export function registerSearchAttributesCommand(
  namespace: string,
  names: readonly string[] = SEARCH_ATTRIBUTES.map((k) => k.name),
): string {
  return `temporal operator search-attribute create --namespace ${namespace} ${names.map((n) => `--name ${n} --type Keyword`).join(' ')}`;
}

/** `temporal server start-dev` flags that register them in a dev server. */
export function devServerSearchAttributeArgs(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]);
}
