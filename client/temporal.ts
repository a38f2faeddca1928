// The Temporal client for CLI commands, and the routing of gates and decisions to the workflow
// that holds them (a namespace's gate or failed step lives in its own child workflow).
import { Client, Connection, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { describeWaitProgress } from '../activities/analysis/progress.js';
import { temporalTarget } from '../worker/connection.js';
import { NAMESPACE_PAGE_LIMIT, namespacesQuery, statusQuery, type NamespaceStatus, type PendingDecision, type PendingGate, type RunStatus } from '../workflows/messages.js';
import { CliError, ExitCode } from './cli-kit.js';

export interface ConnectOptions {
  address?: string;
  namespace?: string;
}

export async function connectClient(opts: ConnectOptions = {}): Promise<Client> {
  const target = temporalTarget(opts);
  try {
    const connection = await Connection.connect({ ...target.connectionOptions, connectTimeout: '5s' } as Parameters<typeof Connection.connect>[0]);
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
    if (err instanceof WorkflowNotFoundError || /not found/i.test((err as Error).message)) {
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
  const lines = await Promise.all(workflowIds.map(async (id) => {
    const d = await client.workflow.getHandle(id).describe().catch(() => undefined);
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
  }));
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

export function handleFor(client: Client, workflowId: string): WorkflowHandle {
  return client.workflow.getHandle(workflowId);
}
