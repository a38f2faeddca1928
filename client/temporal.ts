// The Temporal client for CLI commands, and whether its namespace has meshmove's search attributes.
// What the commands do with runs is client/runs.ts.
import { Client, Connection } from '@temporalio/client';
import { temporalTarget } from '../worker/connection.js';
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
