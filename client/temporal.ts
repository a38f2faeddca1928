// The Temporal client for CLI commands, and the routing of gates and decisions to the workflow
// that holds them (a namespace's gate or failed step lives in its own child workflow).
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { describeWaitProgress } from '../activities/analysis/progress.js';
import { temporalTarget } from '../worker/connection.js';
import {
  NAMESPACE_PAGE_LIMIT,
  namespacesQuery,
  statusQuery,
  type NamespaceStatus,
  type PendingDecision,
  type PendingGate,
  type RunStatus,
} from '../workflows/messages.js';
import { CliError, ExitCode } from './cli-kit.js';
import {
  CLUSTER_ATTRIBUTE,
  PHASE_ATTRIBUTE,
  PLAN_ATTRIBUTE,
  SEARCH_ATTRIBUTES,
  clusterAttribute,
  registerSearchAttributesCommand,
} from '../workflows/search-attributes.js';
import type { Plan } from '../plan/schema.js';

export interface ConnectOptions {
  address?: string;
  namespace?: string;
}

export async function connectClient(opts: ConnectOptions = {}): Promise<Client> {
  const target = temporalTarget(opts);
  try {
    const connection = await Connection.connect({ ...target.connectionOptions, connectTimeout: '5s' } as Parameters<
      typeof Connection.connect
    >[0]);
    return new Client({ connection, namespace: target.namespace });
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${target.connectionOptions.address}: ${(err as Error).message}\n` +
        'Start one with `meshmove dev`, or point TEMPORAL_ADDRESS / --address at your Temporal service.',
      ExitCode.failed,
    );
  }
}

/**
 * The status of a run with every namespace: a big run's status query lists only the namespaces
 * that need looking at, the rest are read page by page. An unknown id is bad input (exit 2).
 */
export async function runStatus(client: Client, workflowId: string): Promise<RunStatus> {
  try {
    const handle = client.workflow.getHandle(workflowId);
    const s = await handle.query(statusQuery);
    if (!s.namespacesOmitted) return s;
    const all: NamespaceStatus[] = [];
    for (let total = Infinity; all.length < total;) {
      const page = await handle.query(namespacesQuery, { offset: all.length, limit: NAMESPACE_PAGE_LIMIT });
      total = page.total;
      if (page.items.length === 0) break;
      all.push(...page.items);
    }
    const { namespacesOmitted: _omitted, ...rest } = s;
    return { ...rest, namespaces: all };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new CliError(`no meshmove run with id "${workflowId}" (see \`meshmove list\`)`, ExitCode.badInput);
    }
    throw err;
  }
}

export interface Attention {
  gates: PendingGate[];
  decisions: (PendingDecision & { namespace?: string })[];
  /** Child statuses read on the way, by namespace (for rendering). */
  children: Map<string, RunStatus>;
}

/** Everything of a run that waits for a person: its own gate/decision and those of running namespaces. */
/**
 * What the analysis waits of these workflows report in their heartbeats (last rate, run of zeros,
 * deadline): one line each. Anything unreadable is left out; this is a view, not a verdict.
 */
export async function waitProgress(client: Client, workflowIds: readonly string[], now = Date.now()): Promise<string[]> {
  const lines = await Promise.all(
    workflowIds.map(async (id) => {
      const d = await client.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined);
      return (d?.raw.pendingActivities ?? []).flatMap((pa) => {
        const payload = pa.heartbeatDetails?.payloads?.[0];
        if (!payload) return [];
        try {
          const line = describeWaitProgress(defaultPayloadConverter.fromPayload(payload), now);
          return line ? [line] : [];
        } catch {
          return [];
        }
      });
    }),
  );
  return lines.flat();
}

export async function whatWaits(client: Client, status: RunStatus): Promise<Attention> {
  const gates: PendingGate[] = status.pendingGate ? [status.pendingGate] : [];
  const decisions: Attention['decisions'] = status.pendingDecision ? [status.pendingDecision] : [];
  const children = new Map<string, RunStatus>();
  const active = status.namespaces.filter((n) => (n.state === 'migrating' || n.state === 'rolling-back') && n.workflowId);
  await Promise.all(
    active.map(async (n) => {
      try {
        const s = await client.workflow.getHandle(n.workflowId!).query(statusQuery);
        children.set(n.name, s);
        if (s.pendingGate) gates.push(s.pendingGate);
        if (s.pendingDecision) decisions.push({ ...s.pendingDecision, namespace: n.name });
      } catch {
        // The child may be starting or just ended; the next look will see it.
      }
    }),
  );
  return { gates, decisions, children };
}

/** Whether the client's namespace has the Meshmove* search attributes registered (as Keyword). */
export interface SearchAttributeSupport {
  ok: boolean;
  /** Those not registered (all of them when the check itself failed). */
  missing: string[];
  /** Why not, and the exact command that registers them; absent when ok. */
  hint?: string;
}

/**
 * Ask the namespace which custom search attributes it has (the operator service). A run upserts its
 * attributes only when all are there: an upsert of an unregistered one fails the workflow task.
 */
export async function searchAttributeSupport(client: Client): Promise<SearchAttributeSupport> {
  const namespace = client.options.namespace;
  const names = SEARCH_ATTRIBUTES.map((k) => k.name);
  const register = registerSearchAttributesCommand(namespace);
  try {
    const res = await client.connection.operatorService.listSearchAttributes({ namespace });
    const have = res.customAttributes ?? {};
    const missing = names.filter((n) => !(n in have));
    if (missing.length === 0) return { ok: true, missing };
    return {
      ok: false,
      missing,
      hint:
        `the Temporal namespace "${namespace}" has no search attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: ` +
        `runs are not findable by plan, phase or what waits (meshmove list --waiting, the UI).\n  register them once: ${registerSearchAttributesCommand(namespace, missing)}`,
    };
  } catch (err) {
    return {
      ok: false,
      missing: names,
      hint:
        `could not read the search attributes of the Temporal namespace "${namespace}" (${(err as Error).message}); ` +
        `if they are not registered, register them once: ${register}`,
    };
  }
}

/**
 * What a run's start carries when the namespace has the search attributes: the input flag that lets
 * the workflow upsert them, and their first values (findable before its first workflow task).
 */
export function searchAttributeStart(
  plan: Plan,
  support: SearchAttributeSupport,
): {
  input: { searchAttributes?: true };
  options: { typedSearchAttributes?: { key: typeof PLAN_ATTRIBUTE; value: string }[] };
} {
  if (!support.ok) return { input: {}, options: {} };
  return {
    input: { searchAttributes: true },
    options: {
      typedSearchAttributes: [
        { key: PLAN_ATTRIBUTE, value: plan.metadata.name },
        { key: CLUSTER_ATTRIBUTE, value: clusterAttribute(plan.cluster.context) },
        { key: PHASE_ATTRIBUTE, value: 'preflight' },
      ],
    },
  };
}
