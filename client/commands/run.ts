// Commands on runs: start, status, approve, reject, decide, rollback, list, history.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import { migrationWorkflow } from '../../workflows/migration.js';
import {
  TASK_QUEUE,
  TERMINAL_PHASES,
  gateDecisionSignal,
  gateDecisionUpdate,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  rollbackSignal,
  rollbackUpdate,
  type DecisionKind,
  type GateRecord,
  type RunStatus,
} from '../../workflows/messages.js';
import { CliError, ExitCode, K8S_NAMESPACE_FLAG, actingIdentity, emit } from '../cli-kit.js';
import { renderStatus } from '../render.js';
import { loadSigner, signDecision, type DecisionSigner } from '../signing.js';
import type { DecisionFields, SignedDecision } from '../../workflows/identity/decision.js';
import {
  connectClient,
  runStatus,
  searchAttributeStart,
  searchAttributeSupport,
  waitProgress,
  whatWaits,
  type Attention,
  type ConnectOptions,
} from '../temporal.js';
import { CLUSTER_ATTRIBUTE, PENDING_ATTRIBUTE, PHASE_ATTRIBUTE, PLAN_ATTRIBUTE } from '../../workflows/search-attributes.js';
import type { Phase } from '../../workflows/messages.js';

interface GlobalOpts extends ConnectOptions {
  json?: boolean;
  by?: string;
  key?: string;
}

/** Where a command's signing key comes from; asked only when the run signs its decisions. */
export type SignerSource = () => Promise<DecisionSigner>;

function signerFrom(g: GlobalOpts): SignerSource {
  let signer: Promise<DecisionSigner> | undefined;
  return () => (signer ??= loadSigner(g.key));
}

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

function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals() as GlobalOpts;
}

/** The run's status as scripts see it: the first thing waiting for a person, anywhere in the run. */
export function statusJson(s: RunStatus, a: Attention): Record<string, unknown> {
  return {
    ...s,
    pendingGate: a.gates[0] ?? null,
    pendingDecision: a.decisions[0] ?? null,
    pendingGates: a.gates,
    pendingDecisions: a.decisions,
    namespaceSteps: Object.fromEntries([...a.children].map(([ns, c]) => [ns, { currentStep: c.currentStep, steps: c.steps }])),
  };
}

export function defaultRunId(planName: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${planName}-${stamp}`;
}

export async function startRun(
  client: Client,
  file: string,
  by: string,
  id?: string,
  options?: { heartbeatTimeoutMs?: number },
  signer?: SignerSource,
): Promise<{ workflowId: string; planDigest: string; searchAttributes: boolean; searchAttributesHint?: string }> {
  const { plan, digest } = await loadPlan(file);
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
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe().catch(() => undefined);
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
  runId: string,
  gate: string,
  req: { verdict: 'approve' | 'reject'; by: string; reason?: string; digest?: string; signer?: SignerSource },
): Promise<{ workflowId: string; gate: GateRecord }> {
  const status = await runStatus(client, runId);
  const target = pickGate(await whatWaits(client, status), gate);
  // A namespace gate lives in that namespace's workflow; an unknown gate goes to the run (which refuses it).
  const handle = client.workflow.getHandle(target.workflowId ?? runId);
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
  decision: DecisionKind,
  by: string,
  reason?: string,
  signer?: SignerSource,
  identity?: RunStatus['identity'],
): Promise<void> {
  const handle: WorkflowHandle = client.workflow.getHandle(pending.workflowId);
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
  const req = { step: pending.step, decision, by, ...(reason ? { reason } : {}), ...(await signedIfRequired(identity, signer, fields)) };
  await decideOrExplain(
    () => handle.executeUpdate(operatorDecisionUpdate, { args: [req] }),
    () => handle.signal(operatorDecisionSignal, req),
  );
}

async function gateVerdict(
  cmd: Command,
  id: string,
  gate: string,
  verdict: 'approve' | 'reject',
  reason: string | undefined,
  digest?: string,
): Promise<void> {
  const g = globals(cmd);
  const by = actingIdentity(g.by);
  const client = await connectClient(g);
  const res = await sendGateVerdict(client, id, gate, {
    verdict,
    by,
    ...(reason ? { reason } : {}),
    ...(digest ? { digest } : {}),
    signer: signerFrom(g),
  });
  emit(g, res, () => `${verdict === 'approve' ? '✓ approved' : '✗ rejected'} gate ${gate} of ${id} as ${by}`);
}

/**
 * `--namespace` is the Temporal namespace (a global option, as in the Temporal CLI), and commander
 * takes it wherever it appears. After `decide`, which also names a Kubernetes namespace, it reads as
 * kubectl's `--namespace`: taken as Temporal's, the run was looked up in a Temporal namespace named
 * after the Kubernetes one (issue 8). Guessing which was meant could answer the wrong step, so the
 * form is refused as bad input, before anything is looked up.
 */
export function refuseNamespaceAfterCommand(cmd: Command, value: string | undefined): void {
  const program = cmd.parent;
  if (!program) return;
  // The arguments as given: commander keeps them, but not in its typings.
  const args = (program as unknown as { rawArgs?: string[] }).rawArgs ?? [];
  const takesValue = (c: Command, arg: string) => c.options.some((o) => (o.long === arg || o.short === arg) && (o.required || o.optional));
  // Skip the global options (and their values) that precede the command; the first operand is it.
  let i = 0;
  while (i < args.length && args[i] !== '--' && args[i]!.startsWith('-')) i += takesValue(program, args[i]!) ? 2 : 1;
  for (let j = i + 1; j < args.length && args[j] !== '--'; j++) {
    const arg = args[j]!;
    if (arg === '--namespace' || arg.startsWith('--namespace=')) {
      const ns = value ?? 'NS';
      throw new CliError(
        `--namespace after "${cmd.name()}" is ambiguous: it names the Temporal namespace, not a Kubernetes one. ` +
          `For the Kubernetes namespace of a failed step use ${K8S_NAMESPACE_FLAG} ${ns}; ` +
          `for the Temporal namespace put it before the command (meshmove --namespace ${ns} ${cmd.name()} ...) or set TEMPORAL_NAMESPACE.`,
        ExitCode.badInput,
      );
    }
    if (takesValue(cmd, arg) || takesValue(program, arg)) j++; // its value is not an option
  }
}

export function registerRunCommands(program: Command): void {
  program
    .command('start')
    .description('validate a plan and start its migration run; prints the run id')
    .argument('<plan>', 'the migration plan (YAML or JSON)')
    .option('--id <id>', 'the run (workflow) id; default: PLAN-NAME-YYYYMMDD-HHMMSS')
    .action(async (file: string, opts: { id?: string }, cmd: Command) => {
      const g = globals(cmd);
      const by = actingIdentity(g.by);
      // Validate before connecting: a bad plan never reaches Temporal.
      await loadPlan(file);
      const client = await connectClient(g);
      const { workflowId, searchAttributes, searchAttributesHint } = await startRun(client, file, by, opts.id, undefined, signerFrom(g));
      if (searchAttributesHint)
        process.stderr.write(
          `note: ${searchAttributesHint}\n  this run was started without search attributes; it works the same otherwise.\n`,
        );
      emit(g, { workflowId, searchAttributes }, () => `started ${workflowId}\n  follow it:  meshmove status ${workflowId} --watch`);
    });

  program
    .command('status')
    .description('the run as a checklist; --json for scripts')
    .argument('<id>', 'run id')
    .option('-w, --watch', 'redraw every 2 seconds until the run ends')
    .action(async (id: string, opts: { watch?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const client = await connectClient(g);
      for (;;) {
        const s = await runStatus(client, id);
        const a = await whatWaits(client, s);
        if (g.json) emit(g, statusJson(s, a), () => '');
        else {
          if (opts.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          process.stdout.write(`${renderStatus(s, a)}\n`);
          if (!TERMINAL_PHASES.includes(s.phase)) {
            const ids = [id, ...[...a.children.values()].map((c) => c.workflowId)];
            for (const line of await waitProgress(client, ids)) process.stdout.write(`  waiting: ${line}\n`);
          }
        }
        if (!opts.watch || TERMINAL_PHASES.includes(s.phase)) return;
        await new Promise((r) => setTimeout(r, 2000));
      }
    });

  program
    .command('approve')
    .description(
      'approve an open gate (as --by, $MESHMOVE_USER or your OS user; signed with --key FILE, $MESHMOVE_SIGNING_KEY or ssh-agent)',
    )
    .argument('<id>', 'run id')
    .argument('<gate>', 'gate id, e.g. start, dns-cutover, decommission, namespace:NS')
    .option('--comment <text>', 'recorded with the approval')
    .option('--digest <digest>', 'the summary digest you reviewed (default: the one shown now)')
    .action((id: string, gate: string, opts: { comment?: string; digest?: string }, cmd: Command) =>
      gateVerdict(cmd, id, gate, 'approve', opts.comment, opts.digest),
    );

  program
    .command('reject')
    .description('reject an open gate: the run rolls back everything done so far')
    .argument('<id>', 'run id')
    .argument('<gate>', 'gate id')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .action((id: string, gate: string, opts: { reason: string }, cmd: Command) => gateVerdict(cmd, id, gate, 'reject', opts.reason));

  program
    .command('decide')
    .description('answer a failed step: retry (after fixing the cause), skip, rollback or abort')
    .argument('<id>', 'run id')
    .argument('<decision>', 'retry | skip | rollback | abort')
    .option('--reason <text>', 'why (required for skip, rollback and abort)')
    .option(`${K8S_NAMESPACE_FLAG} <ns>`, 'which Kubernetes namespace, when failed steps wait in several (see `meshmove status ID`)')
    .option('--step <step>', 'which step, when several are waiting')
    .addHelpText(
      'after',
      `\n--namespace is the Temporal namespace, as for every command (put it before the command:\n` +
        `meshmove --namespace T decide ...); the Kubernetes namespace of a failed step is ${K8S_NAMESPACE_FLAG}.`,
    )
    .action(async (id: string, decision: string, opts: { reason?: string; k8sNamespace?: string; step?: string }, cmd: Command) => {
      const g = globals(cmd);
      refuseNamespaceAfterCommand(cmd, g.namespace);
      if (!['retry', 'skip', 'rollback', 'abort'].includes(decision)) {
        throw new CliError(`decision must be retry, skip, rollback or abort (got "${decision}")`, ExitCode.badInput);
      }
      const by = actingIdentity(g.by);
      const client = await connectClient(g);
      const status = await runStatus(client, id);
      const { decisions } = await whatWaits(client, status);
      const ns = opts.k8sNamespace;
      const matching = decisions.filter((d) => (!ns || d.namespace === ns) && (!opts.step || d.step === opts.step));
      if (matching.length === 0) throw new CliError(`nothing in ${id} is waiting for a decision${ns ? ` in ${ns}` : ''}`, ExitCode.failed);
      if (matching.length > 1) {
        throw new CliError(
          `${matching.length} steps wait for a decision: ${matching.map((d) => `${d.step}${d.namespace ? ` (${K8S_NAMESPACE_FLAG} ${d.namespace})` : ''}`).join(', ')}; say which`,
          ExitCode.badInput,
        );
      }
      const d = matching[0]!;
      await sendDecision(client, d, decision as DecisionKind, by, opts.reason, signerFrom(g), status.identity);
      emit(
        g,
        { workflowId: d.workflowId, step: d.step, decision },
        () => `✓ ${decision} for step ${d.step}${d.namespace ? ` in ${d.namespace}` : ''} as ${by}`,
      );
    });

  program
    .command('rollback')
    .description('roll the run back now: undo everything done so far, newest first')
    .argument('<id>', 'run id')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .action(async (id: string, opts: { reason: string }, cmd: Command) => {
      const g = globals(cmd);
      const by = actingIdentity(g.by);
      const client = await connectClient(g);
      const status = await runStatus(client, id);
      if (TERMINAL_PHASES.includes(status.phase)) throw new CliError(`refused: the run has ended (${status.phase})`, ExitCode.failed);
      const handle = client.workflow.getHandle(id);
      const fields = {
        workflow: id,
        kind: 'rollback' as const,
        target: '-',
        namespace: '-',
        verdict: 'rollback',
        digest: '-',
        by,
        reason: opts.reason,
      };
      const req = { by, reason: opts.reason, ...(await signedIfRequired(status.identity, signerFrom(g), fields)) };
      await decideOrExplain(
        () => handle.executeUpdate(rollbackUpdate, { args: [req] }),
        () => handle.signal(rollbackSignal, req),
      );
      emit(
        g,
        { workflowId: id, rollback: true },
        () => `↶ rolling back ${id} (requested by ${by}); follow it: meshmove status ${id} --watch`,
      );
    });

  program
    .command('list')
    .description('migration runs, newest first; --waiting: those waiting for a person (a gate or a failed step)')
    .option('--limit <n>', 'at most this many', '20')
    .option(
      '--waiting',
      'only runs waiting for a person: an open gate, or a failed step waiting for a decision (in the run or one of its namespaces)',
    )
    .option('--phase <phase>', `only runs in this phase (${PHASES.join(', ')})`)
    .action(async (opts: { limit: string; waiting?: boolean; phase?: string }, cmd: Command) => {
      const g = globals(cmd);
      if (opts.phase !== undefined && !PHASES.includes(opts.phase as Phase)) {
        throw new CliError(`--phase must be one of ${PHASES.join(', ')} (got "${opts.phase}")`, ExitCode.badInput);
      }
      const client = await connectClient(g);
      const rows = await listRuns(client, {
        limit: Number(opts.limit),
        ...(opts.waiting ? { waiting: true } : {}),
        ...(opts.phase ? { phase: opts.phase as Phase } : {}),
      });
      const what = opts.waiting ? 'no run waits for a person' : 'no migration runs';
      emit(g, rows, () => (rows.length ? rows.map(listLine).join('\n') : `${what}${opts.phase ? ` in phase ${opts.phase}` : ''}`));
    });

  program
    .command('history')
    .description("the run's event history as JSON (for audits and replay tests)")
    .argument('<id>', 'run id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const client = await connectClient(g);
      await runStatus(client, id);
      const history = await client.workflow.getHandle(id).fetchHistory();
      const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
      process.stdout.write(`${historyToJSON(history)}\n`);
    });
}

const PHASES: readonly Phase[] = [
  'preflight',
  'awaiting-start',
  'namespaces',
  'dns-cutover',
  'verifying',
  'decommissioning',
  'rolling-back',
  'completed',
  'rolled-back',
  'aborted',
];

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

function listLine(r: RunRow): string {
  const waits = r.waiting
    ? `  waiting: ${r.waiting}${r.namespace && !r.waiting.endsWith(`:${r.namespace}`) ? ` in ${r.namespace}` : ''}`
    : '';
  return `${r.workflowId}  ${r.status}  ${r.phase ?? '-'}  ${r.startTime}${waits}`;
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
    const runId = child ? (w.parentExecution?.workflowId ?? w.workflowId.replace(/\/ns\/.*$/, '')) : w.workflowId;
    const waiting = w.typedSearchAttributes.get(PENDING_ATTRIBUTE);
    const row: RunRow = {
      workflowId: runId,
      status: w.status.name,
      startTime: w.startTime.toISOString(),
      plan: w.typedSearchAttributes.get(PLAN_ATTRIBUTE) ?? w.memo?.plan,
      ...(w.typedSearchAttributes.get(PHASE_ATTRIBUTE) ? { phase: w.typedSearchAttributes.get(PHASE_ATTRIBUTE) } : {}),
      ...(w.typedSearchAttributes.get(CLUSTER_ATTRIBUTE) ? { cluster: w.typedSearchAttributes.get(CLUSTER_ATTRIBUTE) } : {}),
      ...(waiting ? { waiting } : {}),
      ...(child ? { namespace: /\/ns\/([^/]+)/.exec(w.workflowId)?.[1] ?? '', waitingIn: w.workflowId } : {}),
    };
    // A run shows once: its own wait, else its first namespace's (the rest: meshmove status RUN).
    if (seen.has(runId)) continue;
    seen.set(runId, row);
    rows.push(row);
    if (rows.length >= opts.limit) break;
  }
  return rows;
}
