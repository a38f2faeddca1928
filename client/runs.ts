// Migration runs as the CLI and the demo use them: start one, read its status and what waits for a
// person, answer a gate or a failed step, roll it back, list runs, read a run's history. A
// namespace's gate or failed step lives in that namespace's child workflow: the answer is routed
// there. Temporal's errors become CLI errors here (an unknown id, an id already taken, a refused
// decision), so that the commands only parse their options and print.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { describeWaitProgress } from '../activities/analysis/progress.js';
import type { LoadedPlan } from '../plan/load.js';
import { migrationWorkflow } from '../workflows/migration.js';
import {
  NAMESPACE_PAGE_LIMIT,
  TASK_QUEUE,
  TERMINAL_PHASES,
  gateDecisionSignal,
  gateDecisionUpdate,
  namespacesQuery,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
  type DecisionKind,
  type GateRecord,
  type NamespaceStatus,
  type PendingDecision,
  type PendingGate,
  type Phase,
  type RunStatus,
} from '../workflows/messages.js';
import type { DecisionFields, SignedDecision } from '../workflows/identity/decision.js';
import { CLUSTER_ATTRIBUTE, PENDING_ATTRIBUTE, PHASE_ATTRIBUTE, PLAN_ATTRIBUTE } from '../workflows/search-attributes.js';
import { CliError, ExitCode, K8S_NAMESPACE_FLAG } from './cli-kit.js';
import { signDecision, type DecisionSigner } from './signing.js';
import { searchAttributeStart, searchAttributeSupport } from './temporal.js';

/** Where a command's signing key comes from; asked only when the run signs its decisions. */
export type SignerSource = () => Promise<DecisionSigner>;

/** The signed form of a decision when the workflow asks for signed decisions; nothing otherwise. */
async function signedIfRequired(
  identity: RunStatus['identity'],
  signer: SignerSource | undefined,
  fields: Omit<DecisionFields, 'at' | 'nonce'>,
): Promise<{ signed?: SignedDecision }> {
  if (identity !== 'signed') return {};
  if (!signer) throw new CliError('this run requires signed decisions and no signing key was given', ExitCode.badInput);
  return { signed: await signDecision(await signer(), fields) };
}

export function defaultRunId(planName: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${planName}-${stamp}`;
}

export interface StartRequest {
  by: string;
  /** The run (workflow) id; default: PLAN-NAME-YYYYMMDD-HHMMSS. */
  id?: string;
  options?: { heartbeatTimeoutMs?: number };
  signer?: SignerSource;
}

export async function startRun(
  client: Client,
  { plan, digest }: Pick<LoadedPlan, 'plan' | 'digest'>,
  { by, id, options, signer }: StartRequest,
): Promise<{ workflowId: string; planDigest: string; searchAttributes: boolean; searchAttributesHint?: string }> {
  const workflowId = id ?? defaultRunId(plan.metadata.name);
  const { signed } = await signedIfRequired(plan.identity, signer, {
    workflow: workflowId,
    kind: 'start',
    target: '-',
    namespace: '-',
    verdict: 'start',
    digest,
    by,
    reason: '',
  });
  // Search attributes only where the namespace has them: an unregistered one would fail the run's workflow tasks.
  const sa = await searchAttributeSupport(client);
  const withAttributes = searchAttributeStart(plan, sa);
  try {
    await client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [
        {
          plan,
          planDigest: digest,
          startedBy: by,
          ...(signed ? { start: signed } : {}),
          ...(options ? { options } : {}),
          ...withAttributes.input,
        },
      ],
      memo: { plan: plan.metadata.name, startedBy: by },
      ...withAttributes.options,
      // A run id names one migration, forever: a finished run is never started again under it.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw await alreadyExists(client, workflowId);
    throw err;
  }
  return { workflowId, planDigest: digest, searchAttributes: sa.ok, ...(sa.hint ? { searchAttributesHint: sa.hint } : {}) };
}

/** The refusal of a start under the id of a run that exists: its state, and how to look at it. */
async function alreadyExists(client: Client, workflowId: string): Promise<CliError> {
  const d = await describeRun(client, workflowId).catch(() => undefined);
  const s = await runStatus(client, workflowId).catch(() => undefined);
  const state = [d?.status.name, s ? `phase ${s.phase}` : undefined, s ? `started by ${s.startedBy} at ${s.startedAt}` : undefined]
    .filter(Boolean)
    .join(', ');
  return new CliError(
    `refused: a run with id "${workflowId}" already exists (${state || 'state unknown'}); nothing was started.\n` +
      `  see it:  meshmove status ${workflowId}    its record: meshmove history ${workflowId}\n` +
      '  start a new run under another id (--id), or without --id for a fresh one',
    ExitCode.failed,
  );
}

/** The run's workflow execution as Temporal describes it, or undefined when no workflow has this id. */
export async function describeRun(client: Client, workflowId: string): Promise<WorkflowExecutionDescription | undefined> {
  return client.workflow
    .getHandle(workflowId)
    .describe()
    .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err)));
}

/**
 * The run's status query as the run answers it: a big run lists only the namespaces that need
 * looking at, with counts of all (what a view redrawn several times a second wants).
 */
export async function queryStatus(client: Client, workflowId: string): Promise<RunStatus> {
  return client.workflow.getHandle(workflowId).query(statusQuery);
}

/**
 * The status of a run with every namespace: a big run's status query lists only the namespaces
 * that need looking at, the rest are read page by page. An unknown id is bad input (exit 2).
 */
export async function runStatus(client: Client, workflowId: string): Promise<RunStatus> {
  try {
    const s = await queryStatus(client, workflowId);
    if (!s.namespacesOmitted) return s;
    const handle = client.workflow.getHandle(workflowId);
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
export async function whatWaits(client: Client, status: RunStatus): Promise<Attention> {
  const gates: PendingGate[] = status.pendingGate ? [status.pendingGate] : [];
  const decisions: Attention['decisions'] = status.pendingDecision ? [status.pendingDecision] : [];
  const children = new Map<string, RunStatus>();
  const active = status.namespaces.filter((n) => (n.state === 'migrating' || n.state === 'rolling-back') && n.workflowId);
  await Promise.all(
    active.map(async (n) => {
      try {
        const s = await queryStatus(client, n.workflowId!);
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

/** A run's status (with every namespace) and everything of it that waits for a person. */
export async function readRun(client: Client, workflowId: string): Promise<{ status: RunStatus; attention: Attention }> {
  const status = await runStatus(client, workflowId);
  return { status, attention: await whatWaits(client, status) };
}

/**
 * What the analysis waits of the run and its running namespaces report in their heartbeats (last
 * rate, run of zeros, deadline): one line each. Anything unreadable is left out; this is a view,
 * not a verdict.
 */
export async function waitProgress(client: Client, workflowId: string, attention: Attention, now = Date.now()): Promise<string[]> {
  const workflowIds = [workflowId, ...[...attention.children.values()].map((c) => c.workflowId)];
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

/**
 * Send a decision as an Update. A refusal comes back with the workflow's reason; the same request
 * then goes as a Signal so that the workflow records the refused attempt in its audit trail.
 */
async function decideOrExplain<T>(update: () => Promise<T>, auditRefusal: () => Promise<void>): Promise<T> {
  try {
    return await update();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      await auditRefusal().catch(() => undefined);
      throw new CliError(`refused: ${(err.cause as Error | undefined)?.message ?? err.message}`, ExitCode.failed);
    }
    if (err instanceof WorkflowNotFoundError) throw new CliError(`refused: the workflow has ended (${err.message})`, ExitCode.failed);
    throw err;
  }
}

function pickGate(a: Attention, gate: string) {
  const found = a.gates.find((g) => g.id === gate);
  if (!found) {
    const open = a.gates.map((g) => g.id);
    // Let the workflow itself say why (unknown, or not open any more): it also audits the attempt.
    return { id: gate, digest: '', workflowId: undefined, open };
  }
  return { id: found.id, digest: found.digest, workflowId: found.workflowId, open: [] };
}

/** Approve or reject a gate of a run, wherever it lives (the run or a namespace's workflow). */
export async function sendGateVerdict(
  client: Client,
  migrationId: string,
  gate: string,
  req: { verdict: 'approve' | 'reject'; by: string; reason?: string; digest?: string; signer?: SignerSource },
): Promise<{ workflowId: string; gate: GateRecord }> {
  const { status, attention } = await readRun(client, migrationId);
  const target = pickGate(attention, gate);
  // A namespace gate lives in that namespace's workflow; an unknown gate goes to the run (which refuses it).
  const handle = client.workflow.getHandle(target.workflowId ?? migrationId);
  const digest = req.digest ?? target.digest;
  const namespace = status.namespaces.find((n) => n.workflowId === handle.workflowId)?.name ?? '-';
  const signed = await signedIfRequired(status.identity, req.signer, {
    workflow: handle.workflowId,
    kind: 'gate',
    target: gate,
    namespace,
    verdict: req.verdict,
    digest,
    by: req.by,
    reason: req.reason ?? '',
  });
  const full = { gate, verdict: req.verdict, by: req.by, digest, ...(req.reason ? { reason: req.reason } : {}), ...signed };
  const rec = await decideOrExplain(
    () => handle.executeUpdate(gateDecisionUpdate, { args: [full] }),
    () => handle.signal(gateDecisionSignal, full),
  );
  return { workflowId: handle.workflowId, gate: rec };
}

/** Answer a paused step in the workflow that holds it. */
export async function sendDecision(
  client: Client,
  pending: { workflowId: string; step: string; digest?: string; namespace?: string },
  req: {
    decision: DecisionKind;
    by: string;
    reason?: string;
    signer?: SignerSource;
    /** The run's identity policy (status.identity): whether and how the decision must be signed. */
    identity?: RunStatus['identity'];
  },
): Promise<void> {
  const { decision, by, reason } = req;
  const handle = client.workflow.getHandle(pending.workflowId);
  const fields = {
    workflow: pending.workflowId,
    kind: 'decision' as const,
    target: pending.step,
    namespace: pending.namespace ?? '-',
    verdict: decision,
    digest: pending.digest ?? '-',
    by,
    reason: reason ?? '',
  };
  const full = {
    step: pending.step,
    decision,
    by,
    ...(reason ? { reason } : {}),
    ...(await signedIfRequired(req.identity, req.signer, fields)),
  };
  await decideOrExplain(
    () => handle.executeUpdate(operatorDecisionUpdate, { args: [full] }),
    () => handle.signal(operatorDecisionSignal, full),
  );
}

/** The one failed step of the run that the decision is for (by Kubernetes namespace and step, when several wait). */
function pickDecision(migrationId: string, decisions: Attention['decisions'], which: { namespace?: string; step?: string }) {
  const ns = which.namespace;
  const matching = decisions.filter((d) => (!ns || d.namespace === ns) && (!which.step || d.step === which.step));
  if (matching.length === 0)
    throw new CliError(`nothing in ${migrationId} is waiting for a decision${ns ? ` in ${ns}` : ''}`, ExitCode.failed);
  if (matching.length > 1) {
    throw new CliError(
      `${matching.length} steps wait for a decision: ${matching.map((d) => `${d.step}${d.namespace ? ` (${K8S_NAMESPACE_FLAG} ${d.namespace})` : ''}`).join(', ')}; say which`,
      ExitCode.badInput,
    );
  }
  return matching[0]!;
}

/** Answer the failed step of a run that waits for a decision, wherever it waits; returns that step. */
export async function answerFailedStep(
  client: Client,
  migrationId: string,
  decision: DecisionKind,
  req: { by: string; reason?: string; namespace?: string; step?: string; signer?: SignerSource },
): Promise<Attention['decisions'][number]> {
  const { status, attention } = await readRun(client, migrationId);
  const d = pickDecision(migrationId, attention.decisions, req);
  await sendDecision(client, d, { ...req, decision, identity: status.identity });
  return d;
}

/** Roll a run back now (undo everything done so far, newest first); refused once the run has ended. */
export async function rollBack(
  client: Client,
  migrationId: string,
  req: { by: string; reason: string; signer?: SignerSource },
): Promise<void> {
  const status = await runStatus(client, migrationId);
  if (TERMINAL_PHASES.includes(status.phase)) throw new CliError(`refused: the run has ended (${status.phase})`, ExitCode.failed);
  const handle = client.workflow.getHandle(migrationId);
  const fields = {
    workflow: migrationId,
    kind: 'rollback' as const,
    target: '-',
    namespace: '-',
    verdict: 'rollback',
    digest: '-',
    by: req.by,
    reason: req.reason,
  };
  const request = { by: req.by, reason: req.reason, ...(await signedIfRequired(status.identity, req.signer, fields)) };
  await decideOrExplain(
    () => handle.executeUpdate(rollbackUpdate, { args: [request] }),
    () => handle.signal(rollbackSignal, request),
  );
}

/** The run's event history as JSON (for audits and replay tests). An unknown id is bad input. */
export async function runHistoryJson(client: Client, migrationId: string): Promise<string> {
  await runStatus(client, migrationId);
  return historyToJSON(await client.workflow.getHandle(migrationId).fetchHistory());
}

/** The run's history and those of its namespaces' workflows (their gates and decisions live there). */
export async function runHistories(client: Client, migrationId: string): Promise<{ workflowId: string; json: unknown }[]> {
  await runStatus(client, migrationId);
  const out: { workflowId: string; json: unknown }[] = [];
  const queue = [migrationId];
  while (queue.length > 0) {
    const wf = queue.shift()!;
    const history = await client.workflow.getHandle(wf).fetchHistory();
    out.push({ workflowId: wf, json: JSON.parse(historyToJSON(history)) });
    for (const e of history.events ?? []) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child && !out.some((o) => o.workflowId === child) && !queue.includes(child)) queue.push(child);
    }
  }
  return out;
}

export interface RunRow {
  workflowId: string;
  status: string;
  startTime: string;
  plan?: unknown;
  phase?: string;
  cluster?: string;
  /** What waits for a person: a gate id (`start`, `namespace:NS`, ...) or `decision:STEP`. */
  waiting?: string;
  /** The Kubernetes namespace whose workflow waits (its gate or failed step), and that workflow. */
  namespace?: string;
  waitingIn?: string;
}

/**
 * Runs, newest first, from the visibility store. `waiting`: those with MeshmovePendingGate set (an
 * open gate, or `decision:STEP`), in the run itself or in one of its namespace workflows (shown
 * under the run's id); `phase`: MeshmovePhase. Both need the search attributes registered.
 */
export async function listRuns(client: Client, opts: { limit: number; waiting?: boolean; phase?: Phase }): Promise<RunRow[]> {
  if (opts.waiting || opts.phase) {
    const sa = await searchAttributeSupport(client);
    if (!sa.ok)
      throw new CliError(
        `cannot filter by ${opts.waiting ? 'what waits' : 'phase'}: ${sa.hint ?? 'the search attributes are not registered'}\n  runs started before that are not findable this way; \`meshmove list\` lists them all`,
        ExitCode.failed,
      );
  }
  const clauses = [
    opts.waiting ? `(WorkflowType = 'migrationWorkflow' OR WorkflowType = 'namespaceWorkflow')` : `WorkflowType = 'migrationWorkflow'`,
  ];
  if (opts.waiting) clauses.push(`ExecutionStatus = 'Running'`, `${PENDING_ATTRIBUTE.name} IS NOT NULL`);
  if (opts.phase) clauses.push(`${PHASE_ATTRIBUTE.name} = '${opts.phase}'`);
  const rows: RunRow[] = [];
  const seen = new Map<string, RunRow>();
  for await (const w of client.workflow.list({ query: clauses.join(' AND ') })) {
    const child = w.type === 'namespaceWorkflow';
    const migrationId = child ? (w.parentExecution?.workflowId ?? w.workflowId.replace(/\/ns\/.*$/, '')) : w.workflowId;
    const waiting = w.typedSearchAttributes.get(PENDING_ATTRIBUTE);
    const row: RunRow = {
      workflowId: migrationId,
      status: w.status.name,
      startTime: w.startTime.toISOString(),
      plan: w.typedSearchAttributes.get(PLAN_ATTRIBUTE) ?? w.memo?.plan,
      ...(w.typedSearchAttributes.get(PHASE_ATTRIBUTE) ? { phase: w.typedSearchAttributes.get(PHASE_ATTRIBUTE) } : {}),
      ...(w.typedSearchAttributes.get(CLUSTER_ATTRIBUTE) ? { cluster: w.typedSearchAttributes.get(CLUSTER_ATTRIBUTE) } : {}),
      ...(waiting ? { waiting } : {}),
      ...(child ? { namespace: /\/ns\/([^/]+)/.exec(w.workflowId)?.[1] ?? '', waitingIn: w.workflowId } : {}),
    };
    // A run shows once: its own wait, else its first namespace's (the rest: meshmove status RUN).
    if (seen.has(migrationId)) continue;
    seen.set(migrationId, row);
    rows.push(row);
    if (rows.length >= opts.limit) break;
  }
  return rows;
}
