// Commands on runs: start, status, approve, reject, decide, rollback, list, history. Each parses its
// options, calls the run service (client/runs.ts) and prints, for people or (--json) for scripts.
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import { TERMINAL_PHASES, type DecisionKind, type Phase, type RunStatus } from '../../workflows/messages.js';
import { CliError, ExitCode, K8S_NAMESPACE_FLAG, actingIdentity, emit } from '../cli-kit.js';
import { renderStatus } from '../render.js';
import {
  answerFailedStep,
  listRuns,
  readRun,
  rollBack,
  runHistoryJson,
  sendGateVerdict,
  startRun,
  waitProgress,
  type Attention,
  type RunRow,
  type SignerSource,
} from '../runs.js';
import { loadSigner, type DecisionSigner } from '../signing.js';
import { connectClient, type ConnectOptions } from '../temporal.js';

interface GlobalOpts extends ConnectOptions {
  json?: boolean;
  by?: string;
  key?: string;
}

function signerFrom(g: GlobalOpts): SignerSource {
  let signer: Promise<DecisionSigner> | undefined;
  return () => (signer ??= loadSigner(g.key));
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
      const loaded = await loadPlan(file);
      const client = await connectClient(g);
      const { workflowId, searchAttributes, searchAttributesHint } = await startRun(client, loaded, {
        by,
        id: opts.id,
        signer: signerFrom(g),
      });
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
        const { status: s, attention: a } = await readRun(client, id);
        if (g.json) emit(g, statusJson(s, a), () => '');
        else {
          if (opts.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          process.stdout.write(`${renderStatus(s, a)}\n`);
          if (!TERMINAL_PHASES.includes(s.phase)) {
            for (const line of await waitProgress(client, id, a)) process.stdout.write(`  waiting: ${line}\n`);
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
      const d = await answerFailedStep(client, id, decision as DecisionKind, {
        by,
        reason: opts.reason,
        namespace: opts.k8sNamespace,
        step: opts.step,
        signer: signerFrom(g),
      });
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
      await rollBack(client, id, { by, reason: opts.reason, signer: signerFrom(g) });
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
      process.stdout.write(`${await runHistoryJson(client, id)}\n`);
    });
}

const PHASES: readonly Phase[] = [
  'preflight',
  'awaiting-start',
  'namespaces',
  'dns-cutover',
  'gateway-move',
  'verifying',
  'decommissioning',
  'rolling-back',
  'completed',
  'rolled-back',
  'aborted',
];

function listLine(r: RunRow): string {
  const waits = r.waiting
    ? `  waiting: ${r.waiting}${r.namespace && !r.waiting.endsWith(`:${r.namespace}`) ? ` in ${r.namespace}` : ''}`
    : '';
  return `${r.workflowId}  ${r.status}  ${r.phase ?? '-'}  ${r.startTime}${waits}`;
}
