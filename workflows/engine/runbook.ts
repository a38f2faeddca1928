// The runbook engine: gates, steps that pause for an operator decision when they fail, compensations
// run in reverse order, and the audit trail. Pure workflow code with no Istio knowledge; the
// migration and namespace workflows are written with it.
import { ApplicationFailure, CancellationScope, condition, isCancellation, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  gateDecisionSignal,
  gateDecisionUpdate,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
  namespacesQuery,
  namespacesForStatus,
  NAMESPACE_PAGE_LIMIT,
  type AuditEntry,
  type DecisionKind,
  type GateDecisionRequest,
  type GateRecord,
  type GateSummary,
  type NamespaceStatus,
  type OperatorDecisionRequest,
  type PendingDecision,
  type Phase,
  type RollbackRequest,
  type RunStatus,
  type StepRecord,
} from '../messages.js';
import { summaryDigest } from './digest.js';
import {
  MAX_SKEW_MS,
  UNVERIFIED_WARNING,
  gateSummaryDigest,
  parseDecisionMessage,
  pausedStepDigest,
  verifyDecision,
  type DecisionKind as SignedKind,
  type IdentityPolicy,
  type SignedDecision,
} from '../identity/decision.js';
import { parseSignature } from '../identity/sshsig.js';
import { FailureType } from '../../activities/failures.js';
import { undoStepId } from '../steps.js';

/**
 * A registered inverse of a change. `Undo` is the owning workflow's union of inverses: the engine
 * stores and orders them, the workflow executes them (and the compiler checks both sides).
 */
export interface Compensation<Undo = unknown> {
  id: string;
  /**
   * What undoing it does, for people. May be left out where the owning workflow names it from
   * `data` when it compensates (`compensate`'s `titleOf`): the state is carried across continue-as-new, and a run of 2,000
   * namespaces registers 2,000 of them.
   */
  title?: string;
  data: Undo;
  done?: boolean;
}

/** The results the engine itself reads (status shows the backup); a workflow's own extend these. */
export interface RunbookResults {
  backup?: RunStatus['backup'];
}

/**
 * Everything the engine keeps; plain JSON, carried across continue-as-new. `Undo` types the
 * compensations and `Results` the small results later phases read, per workflow.
 */
export interface RunbookState<Undo = unknown, Results extends RunbookResults = RunbookResults> {
  phase: Phase;
  currentStep: string | null;
  steps: StepRecord[];
  gates: GateRecord[];
  compensations: Compensation<Undo>[];
  audit: AuditEntry[];
  namespaces: NamespaceStatus[];
  /** Small results later phases need (backup reference, preflight's findings); each set once its step ran. */
  results: Partial<Results>;
  outcome?: string;
  generation: number;
  /** Fingerprint of the key that signed the run's start (four-eyes by key). */
  starterKey?: string;
  /** Nonces of the signed decisions taken: each signature counts once. */
  nonces?: string[];
}

export interface RunbookConfig {
  kind: RunStatus['kind'];
  plan: string;
  startedBy: string;
  startedAt: string;
  approvers: readonly string[];
  fourEyes: boolean;
  gateExpiryMs: number;
  /** Signed decisions (absent for runs started before them: names only). */
  identity?: IdentityPolicy;
  /** The Kubernetes namespace of a namespace's workflow (it is in what a person signs there). */
  namespace?: string;
  /** Called with each entry this runbook adds to its audit trail (a namespace tells its run). */
  onAudit?: (entry: AuditEntry) => void;
  /** Told of the run's lifecycle (search attributes, notifications); the engine knows of neither. */
  observer?: RunbookObserver;
}

/**
 * What happens in a runbook that someone outside may want to know, as it happens: phase changes,
 * a gate opening and closing, a failed step starting and ending its wait for a decision. Called
 * synchronously from workflow code: an observer may issue workflow commands (upsert search
 * attributes, start an activity) but must not await or throw.
 */
export interface RunbookObserver {
  phaseChanged?(phase: Phase): void;
  gateOpened?(gate: GateRecord): void;
  gateClosed?(gate: GateRecord): void;
  decisionWaiting?(pending: PendingDecision & { attempt: number }): void;
  decisionEnded?(pending: PendingDecision, decided: OperatorDecisionRequest | undefined): void;
}

/** Thrown through the workflow when the run must roll back (a rejected or expired gate, a decision). */
export class RollbackNeeded extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'RollbackNeeded';
  }
}

/** Thrown through the workflow when an operator aborts: stop now, undo nothing. */
export class AbortRequested extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'AbortRequested';
  }
}

/** A step failed and the workflow asked not to pause for it (see StepOptions.pauseOnFailure). */
export class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly error: string,
  ) {
    super(`step "${step}" failed: ${error}`);
    this.name = 'StepFailed';
  }
}

export interface StepOptions<T, Undo = unknown> {
  /** Decisions offered when the step fails for good. */
  allowed?: DecisionKind[];
  /**
   * The inverse of what the step changed, registered when it succeeds. Several inverses are
   * registered in the order given and so run in the opposite order.
   */
  compensation?: (result: T) => Omit<Compensation<Undo>, 'done'>[] | undefined;
  /** False: a failure does not wait for a decision but throws StepFailed (automatic handling). */
  pauseOnFailure?: boolean;
  /** One line for the checklist. */
  summarize?: (result: T) => string;
}

export type StepResult<T> = { skipped: false; value: T } | { skipped: true };

const FORWARD_DECISIONS: readonly string[] = ['approve', 'retry', 'skip'];
const MAX_AUDIT = 5_000;

export function nowIso(): string {
  // Date is deterministic inside the workflow sandbox (it is the workflow task's time).
  return new Date().toISOString();
}

/** The message of a failure, down to the activity's own error. */
export function describeFailure(err: unknown): string {
  let e: unknown = err;
  const seen: string[] = [];
  while (e instanceof Error) {
    if (e.message && !seen.includes(e.message)) seen.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  // The innermost message is the activity's; outer ones are "Activity task failed".
  return seen.length > 0 ? seen[seen.length - 1]! : String(err);
}

/** The type of the innermost ApplicationFailure in a failure's cause chain (the activity's own), if any. */
export function failureTypeOf(err: unknown): string | undefined {
  let type: string | undefined;
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure && typeof e.type === 'string' && e.type) type = e.type;
  }
  return type;
}

export class Runbook<Undo = unknown, Results extends RunbookResults = RunbookResults> {
  readonly state: RunbookState<Undo, Results>;
  private pendingDecision: (PendingDecision & { decided?: OperatorDecisionRequest; pausedAt: number }) | null = null;
  private rollbackRequest: RollbackRequest | null = null;
  /** The scope of forward work; cancelled when someone asks for a rollback. */
  private forwardScope: CancellationScope | null = null;

  constructor(
    private readonly config: RunbookConfig,
    resume?: RunbookState<Undo, Results>,
  ) {
    this.state = resume ?? {
      phase: 'preflight',
      currentStep: null,
      steps: [],
      gates: [],
      compensations: [],
      audit: [],
      namespaces: [],
      results: {},
      generation: 0,
    };
  }

  /** Install the update, signal and query handlers. Call once, first thing in the workflow. */
  install(): void {
    setHandler(gateDecisionUpdate, (req) => this.applyGateDecision(req, 'update'), {
      validator: (req) => this.refuse(this.checkGateDecision(req)),
    });
    setHandler(gateDecisionSignal, (req) => {
      const why = this.checkGateDecision(req);
      if (why) this.audit(req.by, `${req.verdict} ${req.gate}`, false, why, 'signal');
      else this.applyGateDecision(req, 'signal');
    });
    setHandler(operatorDecisionUpdate, (req) => this.applyDecision(req, 'update'), {
      validator: (req) => this.refuse(this.checkDecision(req)),
    });
    setHandler(operatorDecisionSignal, (req) => {
      const why = this.checkDecision(req);
      if (why) this.audit(req.by, `decide ${req.decision} ${req.step}`, false, why, 'signal');
      else this.applyDecision(req, 'signal');
    });
    setHandler(rollbackUpdate, (req) => this.applyRollback(req, 'update'), {
      validator: (req) => this.refuse(this.checkRollback(req)),
    });
    setHandler(rollbackSignal, (req) => {
      const why = this.checkRollback(req);
      if (why) this.audit(req.by, 'rollback', false, why, 'signal');
      else this.applyRollback(req, 'signal');
    });
    setHandler(statusQuery, () => this.status());
    setHandler(namespacesQuery, ({ offset, limit }) => ({
      total: this.state.namespaces.length,
      offset,
      items: this.state.namespaces.slice(Math.max(0, offset), Math.max(0, offset) + Math.min(Math.max(1, limit), NAMESPACE_PAGE_LIMIT)),
    }));
  }

  // ---- authorization (pure checks: validators must not change state) ----

  private refuse(why: string | null): void {
    if (why) throw ApplicationFailure.nonRetryable(why, FailureType.Refused);
  }

  private checkPerson(by: string, action: string): string | null {
    if (!by || !by.trim()) return 'who is deciding is missing: pass --by NAME or set MESHMOVE_USER';
    if (!this.config.approvers.includes(by)) {
      return `${by} is not an approver of this plan (approvers: ${this.config.approvers.join(', ') || 'none'})`;
    }
    if (this.config.fourEyes && by === this.config.startedBy && FORWARD_DECISIONS.includes(action)) {
      return `four-eyes: ${by} started this run and may not ${action} its gates or failed steps; ask another approver`;
    }
    return null;
  }

  /**
   * With signed decisions: is `signed` a fresh decision, signed by the key of `by`, for exactly this
   * workflow, kind, target, verdict, digest and reason, within `window`? Four-eyes by key: the key
   * that signed the start may not take a forward decision. Null when fine or when names are trusted.
   */
  private checkSigned(
    kind: SignedKind,
    target: string,
    verdict: string,
    digest: string,
    by: string,
    reason: string | undefined,
    signed: SignedDecision | undefined,
    window: { from: number; to: number; what: string },
  ): string | null {
    const policy = this.config.identity;
    if (policy?.mode !== 'signed') return null;
    const v = verifyDecision(policy, signed, {
      workflow: workflowInfo().workflowId,
      kind,
      target,
      namespace: this.config.namespace ?? '-',
      verdict,
      digest,
      by,
      reason: reason ?? '',
      window,
      now: Date.now(),
      usedNonces: this.state.nonces ?? [],
    });
    if (!v.ok) return v.why;
    if (this.config.fourEyes && FORWARD_DECISIONS.includes(verdict) && this.state.starterKey === v.signer.fingerprint) {
      return `four-eyes: the key ${v.signer.fingerprint} signed the start of this run and may not ${verdict} its gates or failed steps; ask another approver`;
    }
    return null;
  }

  checkGateDecision(req: GateDecisionRequest): string | null {
    const gate = this.state.gates.find((g) => g.id === req.gate);
    if (!gate) {
      const open = this.state.gates.filter((g) => g.state === 'open').map((g) => g.id);
      return `unknown gate "${req.gate}"${open.length ? `; open now: ${open.join(', ')}` : '; no gate is open'}`;
    }
    if (gate.state !== 'open') {
      return `gate "${req.gate}" is not open: it was ${gate.state}${gate.decidedBy ? ` by ${gate.decidedBy}` : ''}${gate.decidedAt ? ` at ${gate.decidedAt}` : ''}`;
    }
    if (req.verdict !== 'approve' && req.verdict !== 'reject') return `verdict must be approve or reject, not "${String(req.verdict)}"`;
    const window = { from: Date.parse(gate.openedAt), to: Date.parse(gate.expiresAt), what: `gate ${gate.id}'s open window` };
    const who =
      this.checkPerson(req.by, req.verdict) ??
      this.checkSigned('gate', gate.id, req.verdict, gate.digest, req.by, req.reason, req.signed, window);
    if (who) return who;
    if (req.verdict === 'reject' && !req.reason?.trim()) return 'a rejection needs a reason (--reason)';
    if (req.verdict === 'approve' && req.digest !== gate.digest) {
      return `stale approval: gate "${gate.id}" now shows summary ${gate.digest}, you approved ${req.digest || '(none)'}; read it again with \`meshmove status\` and approve that`;
    }
    return null;
  }

  checkDecision(req: OperatorDecisionRequest): string | null {
    const pending = this.pendingDecision;
    if (!pending || pending.decided) return 'nothing is waiting for a decision';
    if (req.step !== pending.step) return `the paused step is "${pending.step}", not "${req.step}"`;
    if (!pending.allowed.includes(req.decision)) {
      return `"${req.decision}" is not possible here; allowed: ${pending.allowed.join(', ')}`;
    }
    const window = { from: pending.pausedAt, to: Date.now() + MAX_SKEW_MS, what: `the pause of step ${pending.step}` };
    const who =
      this.checkPerson(req.by, req.decision) ??
      this.checkSigned('decision', pending.step, req.decision, pending.digest ?? '-', req.by, req.reason, req.signed, window);
    if (who) return who;
    if (req.decision !== 'retry' && !req.reason?.trim()) return `"${req.decision}" needs a reason (--reason)`;
    return null;
  }

  checkRollback(req: RollbackRequest): string | null {
    const phase = this.state.phase;
    if (phase === 'completed' || phase === 'rolled-back' || phase === 'aborted') return `the run has ended (${phase})`;
    if (phase === 'rolling-back' || this.rollbackRequest) return 'the run is already rolling back';
    if (phase === 'decommissioning') return 'the source control plane is being removed; a rollback is no longer possible';
    const window = { from: Date.parse(this.config.startedAt), to: Date.now() + MAX_SKEW_MS, what: 'the run' };
    const who =
      this.checkPerson(req.by, 'rollback') ?? this.checkSigned('rollback', '-', 'rollback', '-', req.by, req.reason, req.signed, window);
    if (who) return who;
    if (!req.reason?.trim()) return 'a rollback needs a reason (--reason)';
    return null;
  }

  // ---- applying decisions ----

  private applyGateDecision(req: GateDecisionRequest, via: AuditEntry['via']): GateRecord {
    const gate = this.state.gates.find((g) => g.id === req.gate)!;
    gate.state = req.verdict === 'approve' ? 'approved' : 'rejected';
    gate.decidedBy = req.by;
    gate.decidedAt = nowIso();
    if (req.reason) gate.reason = req.reason;
    this.audit(req.by, `${req.verdict} ${req.gate}`, true, req.reason, via, this.takeSigned(req.signed));
    return gate;
  }

  private applyDecision(req: OperatorDecisionRequest, via: AuditEntry['via']): AuditEntry {
    this.pendingDecision!.decided = req;
    return this.audit(req.by, `decide ${req.decision} ${req.step}`, true, req.reason, via, this.takeSigned(req.signed));
  }

  private applyRollback(req: RollbackRequest, via: AuditEntry['via']): AuditEntry {
    this.rollbackRequest = req;
    this.forwardScope?.cancel();
    return this.audit(req.by, 'rollback', true, req.reason, via, this.takeSigned(req.signed));
  }

  /** A verified decision is taken: its nonce is spent, and the evidence goes into the audit trail. */
  private takeSigned(signed: SignedDecision | undefined): AuditEntry['signed'] {
    if (this.config.identity?.mode !== 'signed' || !signed) return undefined;
    (this.state.nonces ??= []).push(parseDecisionMessage(signed.message).nonce);
    return { message: signed.message, signature: signed.signature, key: parseSignature(signed.signature).key.fingerprint };
  }

  audit(
    by: string,
    action: string,
    accepted: boolean,
    reason: string | undefined,
    via: AuditEntry['via'],
    signed?: AuditEntry['signed'],
  ): AuditEntry {
    const entry: AuditEntry = { at: nowIso(), by, action, accepted, via, ...(reason ? { reason } : {}), ...(signed ? { signed } : {}) };
    this.appendAudit(entry);
    this.config.onAudit?.(entry);
    return entry;
  }

  /** Add an entry recorded elsewhere (a namespace's decision, with its time) to this trail. */
  appendAudit(entry: AuditEntry): void {
    this.state.audit.push(entry);
    // Keep the state bounded for very long runs: the oldest refusals go first, decisions stay.
    if (this.state.audit.length > MAX_AUDIT) {
      const idx = this.state.audit.findIndex((a) => !a.accepted);
      this.state.audit.splice(idx >= 0 ? idx : 0, 1);
    }
  }

  // ---- the forward path ----

  setPhase(phase: Phase): void {
    const changed = this.state.phase !== phase;
    this.state.phase = phase;
    if (changed) this.config.observer?.phaseChanged?.(phase);
  }

  /** Interrupt the forward work from inside (an operator decided to roll back in a child). */
  cancelForward(): void {
    this.forwardScope?.cancel();
  }

  get rollbackRequested(): RollbackRequest | null {
    return this.rollbackRequest;
  }

  /**
   * Run forward work so that a rollback request (update, signal or workflow cancellation) interrupts
   * it: the running activity is cancelled (it learns through its heartbeat), waits end, and
   * RollbackNeeded is thrown.
   */
  async forward<T>(fn: () => Promise<T>): Promise<T> {
    const scope = new CancellationScope();
    this.forwardScope = scope;
    try {
      return await scope.run(fn);
    } catch (err) {
      if (isCancellation(err)) {
        const req = this.rollbackRequest;
        throw new RollbackNeeded(req ? `rollback requested by ${req.by}: ${req.reason}` : 'the workflow was cancelled');
      }
      throw err;
    } finally {
      this.forwardScope = null;
    }
  }

  private stepRecord(id: string, title: string): StepRecord {
    let rec = this.state.steps.find((s) => s.id === id);
    if (!rec) {
      rec = { id, title, state: 'pending', attempts: 0 };
      this.state.steps.push(rec);
    }
    return rec;
  }

  /** Whether a step already finished (a continued-as-new run skips it). */
  finished(id: string): boolean {
    const rec = this.state.steps.find((s) => s.id === id);
    return rec?.state === 'succeeded' || rec?.state === 'skipped';
  }

  /**
   * Run one step. When it fails for good the run does not fail: it records the error and waits for
   * an operator decision (retry, skip, rollback, abort).
   */
  async step<T>(id: string, title: string, run: () => Promise<T>, opts: StepOptions<T, Undo> = {}): Promise<StepResult<T>> {
    const rec = this.stepRecord(id, title);
    for (;;) {
      rec.state = 'running';
      rec.attempts += 1;
      delete rec.skippedBy;
      rec.startedAt ??= nowIso();
      this.state.currentStep = id;
      try {
        const value = await run();
        rec.state = 'succeeded';
        rec.endedAt = nowIso();
        delete rec.lastError;
        if (opts.summarize) rec.summary = opts.summarize(value);
        for (const comp of opts.compensation?.(value) ?? []) this.state.compensations.push({ ...comp });
        this.state.currentStep = null;
        return { skipped: false, value };
      } catch (err) {
        if (isCancellation(err)) {
          rec.state = 'failed';
          rec.lastError = 'interrupted by a rollback';
          throw err;
        }
        rec.state = 'failed';
        rec.lastError = describeFailure(err);
        if (opts.pauseOnFailure === false) throw new StepFailed(id, rec.lastError);
        const decision = await this.awaitDecision(
          id,
          rec.lastError,
          opts.allowed ?? ['retry', 'skip', 'rollback', 'abort'],
          rec.attempts,
          failureTypeOf(err),
        );
        switch (decision.decision) {
          case 'retry':
            continue;
          case 'skip':
            rec.state = 'skipped';
            rec.endedAt = nowIso();
            rec.skippedBy = { by: decision.by, at: rec.endedAt, ...(decision.reason ? { reason: decision.reason } : {}) };
            this.state.currentStep = null;
            return { skipped: true };
          case 'rollback':
            throw new RollbackNeeded(`${decision.by} decided to roll back at step "${id}": ${decision.reason ?? ''}`.trim());
          case 'abort':
            throw new AbortRequested(`${decision.by} aborted at step "${id}": ${decision.reason ?? ''}`.trim());
        }
      }
    }
  }

  private async awaitDecision(
    step: string,
    error: string,
    allowed: DecisionKind[],
    attempt: number,
    errorType?: string,
  ): Promise<OperatorDecisionRequest> {
    const workflowId = workflowInfo().workflowId;
    const pending: PendingDecision & { decided?: OperatorDecisionRequest; pausedAt: number } = {
      step,
      error,
      ...(errorType ? { errorType } : {}),
      allowed,
      workflowId,
      pausedAt: Date.now(),
      // What a signed decision commits to (runs without signed decisions keep the older shape).
      ...(this.config.identity ? { digest: pausedStepDigest(workflowId, step, attempt, error) } : {}),
    };
    this.pendingDecision = pending;
    const { decided: _d, pausedAt: _p, ...shown } = pending;
    this.config.observer?.decisionWaiting?.({ ...shown, attempt });
    try {
      await condition(() => pending.decided !== undefined);
      return pending.decided!;
    } finally {
      this.pendingDecision = null;
      this.config.observer?.decisionEnded?.(shown, pending.decided);
    }
  }

  /**
   * Open a gate and wait for a person. Approved → returns. Rejected or expired → RollbackNeeded.
   * An already approved gate (a continued-as-new run) returns at once.
   */
  async gate(id: string, summary: GateSummary): Promise<void> {
    const existing = this.state.gates.find((g) => g.id === id);
    if (existing?.state === 'approved') return;
    const openedAt = nowIso();
    const reopenCount = this.state.gates.filter((g) => g.id === id).length;
    const workflowId = workflowInfo().workflowId;
    const shown = this.config.identity?.mode === 'unverified' ? { ...summary, details: [...summary.details, UNVERIFIED_WARNING] } : summary;
    const gate: GateRecord = {
      id,
      state: 'open',
      summary: shown,
      // Runs started before signed decisions keep the digest their approvers were shown.
      digest: this.config.identity
        ? gateSummaryDigest(workflowId, id, reopenCount, shown)
        : summaryDigest(`${workflowId}\n${id}\n${reopenCount}\n${JSON.stringify(summary)}`),
      openedAt,
      expiresAt: new Date(Date.now() + this.config.gateExpiryMs).toISOString(),
    };
    // A re-opened gate replaces the old record so validators look at the current one.
    this.state.gates = this.state.gates.filter((g) => g.id !== id || g.state !== 'open');
    this.state.gates.push(gate);
    this.config.observer?.gateOpened?.(gate);
    let answered: boolean;
    try {
      answered = await condition(() => gate.state !== 'open', this.config.gateExpiryMs);
    } catch (err) {
      if (isCancellation(err) && gate.state === 'open') {
        gate.state = 'rejected';
        gate.decidedAt = nowIso();
        gate.reason = 'closed: the run is rolling back';
      }
      this.config.observer?.gateClosed?.(gate);
      throw err;
    }
    if (!answered) {
      gate.state = 'expired';
      gate.decidedAt = nowIso();
      gate.reason = `no decision within ${Math.round(this.config.gateExpiryMs / 1000)}s`;
      this.audit('meshmove', `expire ${id}`, true, 'an expired gate counts as rejected', 'workflow');
    }
    this.config.observer?.gateClosed?.(gate);
    if (!answered) throw new RollbackNeeded(`gate "${id}" expired without a decision`);
    if (gate.state === 'rejected') throw new RollbackNeeded(`gate "${id}" rejected by ${gate.decidedBy}: ${gate.reason ?? ''}`);
  }

  // ---- rollback ----

  /**
   * Run every registered compensation not yet done, newest first, where nothing can cancel it. A
   * failing compensation waits for `retry` or `skip`: it is never swallowed.
   */
  async compensate(execute: (c: Compensation<Undo>) => Promise<void>, titleOf?: (undo: Undo) => string | undefined): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (let i = this.state.compensations.length - 1; i >= 0; i--) {
        const c = this.state.compensations[i]!;
        if (c.done) continue;
        // The forward step shows it is being undone while its undo runs (or waits for a decision).
        const fwd = this.state.steps.find((s) => s.id === c.id);
        const before = fwd?.state;
        if (fwd) fwd.state = 'compensating';
        const undoId = undoStepId(c.id);
        const title = c.title ?? titleOf?.(c.data) ?? c.id;
        const result = await this.step(undoId, `Undo: ${title}`, () => execute(c), { allowed: ['retry', 'skip'] });
        c.done = true;
        const rec = this.state.steps.find((s) => s.id === undoId)!;
        // The forward step is now compensated (or its undo skipped, as the record of the undo says).
        if (!result.skipped) {
          if (fwd) fwd.state = 'compensated';
          rec.state = 'succeeded';
        } else if (fwd && before) fwd.state = before;
      }
    });
  }

  // ---- status ----

  private pendingGate(): RunStatus['pendingGate'] {
    const g = this.state.gates.find((x) => x.state === 'open');
    return g ? { id: g.id, summary: g.summary, digest: g.digest, expiresAt: g.expiresAt, workflowId: workflowInfo().workflowId } : null;
  }

  status(): RunStatus {
    const pd = this.pendingDecision;
    return {
      workflowId: workflowInfo().workflowId,
      kind: this.config.kind,
      plan: this.config.plan,
      startedBy: this.config.startedBy,
      startedAt: this.config.startedAt,
      phase: this.state.phase,
      currentStep: this.state.currentStep,
      steps: this.state.steps,
      gates: this.state.gates,
      pendingGate: this.pendingGate(),
      pendingDecision:
        pd && !pd.decided
          ? {
              step: pd.step,
              error: pd.error,
              ...(pd.errorType ? { errorType: pd.errorType } : {}),
              allowed: pd.allowed,
              workflowId: pd.workflowId,
              ...(pd.digest ? { digest: pd.digest } : {}),
            }
          : null,
      ...namespacesForStatus(this.state.namespaces),
      audit: this.state.audit,
      backup: this.state.results.backup,
      ...(this.state.outcome ? { outcome: this.state.outcome } : {}),
      generation: this.state.generation,
      ...(this.config.identity ? { identity: this.config.identity.mode } : {}),
    };
  }
}
