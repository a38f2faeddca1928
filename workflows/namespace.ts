// One namespace's move, as a child workflow with its own steps, gate and compensation:
// drift check → relabel → CA ready → rollout restart → proxies verified → traffic verified.
// In `rollback` mode it moves a migrated namespace back: restore labels → restart → verify.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  workflowInfo,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { BackupRef, TrafficRates } from '../activities/contract.js';
import type { Plan } from '../plan/schema.js';
import { WAIT_FOR_CANCELLED_ACTIVITIES_PATCH, activityProxies, type EngineOptions } from './activity-proxies.js';
import { AbortRequested, RollbackNeeded, Runbook, StepFailed, describeFailure, nowIso, type Compensation } from './engine/runbook.js';
import {
  namespaceAuditSignal,
  restartSlotFreedSignal,
  restartSlotSignal,
  type AuditEntry,
  type Phase,
  type RestartSlot,
} from './messages.js';
import { planIdentity } from './identity/decision.js';
import { RunObserver } from './observe.js';
import { FailureType } from '../activities/failures.js';
import { namespaceGateSummary } from './gate-summaries.js';
import { NamespaceStep, namespaceGateId } from './steps.js';

export interface NamespaceInput {
  /** The migration's workflow id: activities key their idempotency on it. */
  migrationId: string;
  /** The same, as children started before the rename carry it (their histories replay with it). */
  runId?: string;
  /** The plan trimmed to this namespace (keeps the parent's history small). */
  plan: Plan;
  namespace: string;
  wave: string;
  startedBy: string;
  /** Fingerprint of the key that signed the run's start (four-eyes by key). */
  starterKey?: string;
  mode: 'migrate' | 'rollback';
  /** rollback mode: the labels to put back. */
  previousLabels?: Record<string, string>;
  backup?: BackupRef;
  /** migrate mode: `pause` waits for an operator on a failed step; `rollback-namespace` undoes this namespace and reports failure. */
  onFailure: Plan['failurePolicy']['onNamespaceFailure'];
  options?: EngineOptions;
  /** How the control planes' own roots relate, as preflight found (absent in runs from before it was passed). */
  rootRelation?: 'same' | 'overlap' | 'different' | 'unknown';
  /** plan.analysis: this namespace's traffic before the first relabel (absent: it had none). */
  baseline?: TrafficRates;
  /** Upsert the Meshmove* search attributes (the run's input flag; absent in older runs). */
  searchAttributes?: boolean;
  /**
   * A wave with prepareAhead: `waiting`, launched ahead, relabels and checks the CA, then restarts
   * when the run signals a free slot; either way the run is told when the restart step is over.
   */
  restartSlot?: 'held' | 'waiting';
}

export type NamespaceOutcome =
  | { outcome: 'migrated'; previousLabels: Record<string, string> }
  | { outcome: 'rolled-back'; reason: string }
  /** The operator decided, inside this namespace, to roll back the whole run. */
  | { outcome: 'rollback-requested'; reason: string }
  | { outcome: 'failed'; error: string }
  | { outcome: 'aborted'; reason: string };

/** Inverses a namespace registers; executed newest first. */
type NamespaceUndo =
  { kind: 'restore-labels'; labels: Record<string, string> } | { kind: 'restart-back'; key: string } | { kind: 'verify-source' };

/** The plan with only this namespace planned (probes filtered by the activities). */
export function planForNamespace(plan: Plan, namespace: string, wave: string): Plan {
  return {
    ...plan,
    waves: [{ name: wave, concurrency: 1, namespaces: [namespace] }],
    verification: {
      ...plan.verification,
      crossNamespace: plan.verification.crossNamespace.filter((p) => p.from === namespace),
      gateway: plan.verification.gateway.filter((p) => p.namespace === namespace),
    },
  };
}

/**
 * The inverses of a relabel, registered so that they run as: restore the labels, restart the
 * workloads (new pods are injected by the source again), verify they are back on the source.
 */
function undoRelabel(migrationId: string, namespace: string, labels: Record<string, string>): Compensation<NamespaceUndo>[] {
  return [
    { id: NamespaceStep.verifySource, title: `verify ${namespace}'s proxies are back on the source`, data: { kind: 'verify-source' } },
    {
      id: NamespaceStep.restartBack,
      title: `restart ${namespace}'s workloads onto the source sidecar`,
      data: { kind: 'restart-back', key: `${migrationId}/${namespace}/rollback` },
    },
    { id: NamespaceStep.restoreLabels, title: `restore ${namespace}'s labels`, data: { kind: 'restore-labels', labels } },
  ];
}

/** The migration's workflow id, from this input or from one written before the rename (`runId`). */
function migrationIdOf(input: NamespaceInput): string {
  return input.migrationId ?? input.runId ?? '';
}

/** patched() id of telling the run about each decision (runs recorded before it replay without the signals). */
const AUDIT_TO_RUN_PATCH = 'namespace-audit-to-run';

export async function namespaceWorkflow(input: NamespaceInput): Promise<NamespaceOutcome> {
  // Each decision made here (this namespace's gate, its failed steps) also goes into the run's audit
  // trail, which is the one `meshmove status` shows and continue-as-new carries.
  const runWorkflowId = workflowInfo().parent?.workflowId;
  const tellRun = runWorkflowId !== undefined && patched(AUDIT_TO_RUN_PATCH);
  const told: Promise<void>[] = [];
  /**
   * Signal the run, awaited before this workflow ends. Not cancellable: a rollback of the run cancels
   * this workflow, and what it reports still counts. A failure is logged with `what` and `fields`.
   */
  const signalRun = <Arg>(signal: SignalDefinition<[Arg]>, arg: Arg, what: string, fields: Record<string, unknown> = {}): void => {
    if (runWorkflowId === undefined) return;
    const run = getExternalWorkflowHandle(runWorkflowId);
    told.push(
      CancellationScope.nonCancellable(() => run.signal(signal, arg)).catch((err: unknown) => {
        log.warn(what, { ...fields, error: describeFailure(err) });
      }),
    );
  };
  const onAudit = (entry: AuditEntry): void => {
    if (!tellRun) return;
    const tagged: AuditEntry = { ...entry, namespace: input.namespace, workflowId: workflowInfo().workflowId };
    signalRun(namespaceAuditSignal, tagged, "a decision could not be added to the run's audit trail", {
      action: entry.action,
      by: entry.by,
    });
  };
  // If the run is not told, it frees the slot when this workflow ends anyway.
  const freeSlot = (): void =>
    signalRun(restartSlotFreedSignal, { namespace: input.namespace }, 'the run could not be told that a restart slot is free');
  try {
    return await moveNamespace(input, { onAudit, freeSlot });
  } finally {
    // The run has every decision before it learns that this namespace ended.
    await Promise.all(told);
  }
}

/** What a namespace's workflow tells the run while it works. */
interface ToRun {
  /** A decision recorded here, for the run's audit trail. */
  onAudit: (entry: AuditEntry) => void;
  /** The restart step is over: its slot is free (waves with prepareAhead). */
  freeSlot: () => void;
}

async function moveNamespace(input: NamespaceInput, { onAudit, freeSlot }: ToRun): Promise<NamespaceOutcome> {
  const { plan, namespace } = input;
  const migrationId = migrationIdOf(input);
  const identity = planIdentity(plan);
  // This namespace's gate and failed steps wait here: its own search attributes and notifications.
  const observer: RunObserver = new RunObserver({
    searchAttributes: input.searchAttributes === true,
    plan,
    migrationId,
    namespace,
    options: input.options,
    phase: (): Phase => rb.state.phase,
    onNotifyFailed: (what, why) => rb.audit('meshmove', what, false, why, 'workflow'),
  });
  const rb = new Runbook<NamespaceUndo>({
    kind: 'namespace',
    plan: plan.metadata.name,
    startedBy: input.startedBy,
    startedAt: nowIso(),
    approvers: identity.names,
    fourEyes: plan.fourEyes,
    gateExpiryMs: plan.gates.expiresAfter,
    ...(identity.policy ? { identity: identity.policy, namespace } : {}),
    onAudit,
    observer,
  });
  if (input.starterKey) rb.state.starterKey = input.starterKey;
  rb.install();
  observer.started();
  try {
    return await moveNamespaceWith(input, rb, freeSlot);
  } finally {
    // The run, not each namespace, tells the webhooks that it ended.
    observer.ended(rb.state.phase, rb.state.phase, false);
    await observer.settle();
  }
}

async function moveNamespaceWith(
  input: NamespaceInput,
  rb: Runbook<NamespaceUndo>,
  freeSlot: ToRun['freeSlot'],
): Promise<NamespaceOutcome> {
  const { plan, namespace } = input;
  const migrationId = migrationIdOf(input);
  rb.state.namespaces = [
    {
      name: namespace,
      wave: input.wave,
      state: input.mode === 'migrate' ? 'migrating' : 'rolling-back',
      workflowId: workflowInfo().workflowId,
    },
  ];
  const longestWait = plan.analysis ? Math.max(plan.restart.timeout, plan.analysis.namespace.window + 60_000) : plan.restart.timeout;
  const { quick, waiting } = activityProxies(input.options, longestWait, patched(WAIT_FOR_CANCELLED_ACTIVITIES_PATCH));
  const ref = { plan, migrationId, namespace };

  const undo = async (c: Compensation<NamespaceUndo>): Promise<void> => {
    const d = c.data;
    switch (d.kind) {
      case 'restore-labels':
        await quick.restoreNamespaceLabels({ ...ref, labels: d.labels });
        return;
      case 'restart-back':
        await waiting.restartWorkloads({ ...ref, key: d.key, expectRevision: plan.source.revision });
        return;
      case 'verify-source': {
        const report = await waiting.verifyProxies({ ...ref, revision: plan.source.revision });
        if (report.problems.length > 0) {
          // The field report's failed rollback: say which webhook still intercepts, if one does.
          const why = await quick.explainInjection(ref);
          throw ApplicationFailure.nonRetryable(
            `${report.pods - report.synced} of ${report.pods} pods are not back on ${plan.source.revision}: ${report.problems.join('; ')}. ${why.message}`,
            FailureType.CheckFailed,
          );
        }
        return;
      }
    }
  };
  const setNamespaceState = (state: 'migrated' | 'failed' | 'rolled-back', error?: string) => {
    rb.state.namespaces[0] = { ...rb.state.namespaces[0]!, state, ...(error ? { error } : {}) };
  };

  if (input.mode === 'rollback') {
    rb.setPhase('rolling-back');
    rb.state.compensations.push(...undoRelabel(migrationId, namespace, input.previousLabels ?? {}));
    await rb.compensate(undo);
    rb.setPhase('rolled-back');
    setNamespaceState('rolled-back');
    return { outcome: 'rolled-back', reason: 'rolled back by the migration' };
  }

  const pauseOnFailure = input.onFailure === 'pause';
  let previousLabels: Record<string, string> = {};
  // The run's word on a restart slot (it may come before this namespace is ready for it).
  let slotSaid: RestartSlot | undefined;
  setHandler(restartSlotSignal, (said) => {
    // Anyone may signal: only the run's two answers count (a throwing handler would fail every
    // workflow task of this namespace from then on).
    const slot = said as unknown as { restart?: unknown; why?: unknown } | null;
    if (slot?.restart === true) slotSaid ??= { restart: true };
    else if (slot?.restart === false) slotSaid ??= { restart: false, why: String(slot.why ?? 'the run stopped') };
  });

  try {
    await rb.forward(async () => {
      rb.setPhase('namespaces');
      if (plan.gates.namespace) await rb.gate(namespaceGateId(namespace), namespaceGateSummary(plan, namespace));
      if (input.backup) {
        const backup = input.backup;
        await rb.step(
          NamespaceStep.driftCheck,
          'Labels and workloads are as backed up',
          async () => {
            const r = await quick.driftCheck({ ...ref, backup });
            if (r.drifted)
              throw ApplicationFailure.nonRetryable(
                `${namespace} changed since the backup: ${r.details.join('; ')}`,
                FailureType.CheckFailed,
              );
            return r;
          },
          { pauseOnFailure: true },
        );
      }
      const relabel = await rb.step(
        NamespaceStep.relabel,
        `Set istio.io/rev=${plan.target.revision} and discovery labels`,
        () => quick.relabelNamespace(ref),
        {
          compensation: (r) => undoRelabel(migrationId, namespace, r.previousLabels),
          summarize: (r) => (r.changed ? 'labels changed' : 'labels were already as planned'),
          pauseOnFailure,
        },
      );
      if (!relabel.skipped) previousLabels = relabel.value.previousLabels;
      await rb.step(
        NamespaceStep.caReady,
        `istio-ca-root-cert holds ${plan.target.revision}'s root`,
        () => waiting.waitCaReady(input.rootRelation ? { ...ref, rootRelation: input.rootRelation } : ref),
        { pauseOnFailure },
      );
      if (input.restartSlot === 'waiting') {
        // Inside the forward scope: a rollback cancels this wait like any step.
        const slot = await condition(() => slotSaid !== undefined).then(() => slotSaid!);
        if (!slot.restart) throw new AbortRequested(slot.why);
      }
      await rb.step(
        NamespaceStep.restart,
        'Rollout-restart workloads with a sidecar',
        () => waiting.restartWorkloads({ ...ref, key: `${migrationId}/${namespace}/migrate`, expectRevision: plan.target.revision }),
        {
          summarize: (r) => `${r.workloads.length} workload(s) restarted${r.alreadyRestarted ? ` (${r.alreadyRestarted} resumed)` : ''}`,
          pauseOnFailure,
        },
      );
      // The next namespace may restart while this one's proxies and traffic are checked.
      if (input.restartSlot) freeSlot();
      await rb.step(
        NamespaceStep.verifyProxies,
        `Proxies SYNCED on ${plan.target.revision}, none on ${plan.source.revision}`,
        async () => {
          const r = await waiting.verifyProxies({ ...ref, revision: plan.target.revision });
          if (r.problems.length > 0)
            throw ApplicationFailure.nonRetryable(
              `${r.pods - r.synced} of ${r.pods} proxies not SYNCED on ${plan.target.revision}: ${r.problems.join('; ')}`,
              FailureType.CheckFailed,
            );
          return r;
        },
        { summarize: (r) => `${r.synced}/${r.pods} proxies SYNCED`, pauseOnFailure },
      );
      await rb.step(
        NamespaceStep.verifyTraffic,
        'Cross-namespace calls and the new gateway answer',
        async () => {
          const r = await waiting.verifyTraffic(ref);
          if (r.failed > 0)
            throw ApplicationFailure.nonRetryable(
              `${r.failed} of ${r.probes} probes failed: ${r.failures.join('; ')}`,
              FailureType.CheckFailed,
            );
          return r;
        },
        { summarize: (r) => `${r.probes} probe(s) passed`, pauseOnFailure },
      );
      const analysis = plan.analysis;
      if (analysis) {
        // Plans without an analysis block never had this step, so their histories replay unchanged.
        await rb.step(
          NamespaceStep.verifyMetrics,
          `Error rate within the baseline + ${(analysis.namespace.maxErrorRateIncrease * 100).toFixed(2)}% (Prometheus)`,
          () => waiting.checkNamespaceTraffic({ ...ref, ...(input.baseline ? { baseline: input.baseline } : {}) }),
          { summarize: (r) => r.summary, pauseOnFailure },
        );
      }
    });
    setNamespaceState('migrated');
    rb.setPhase('completed');
    return { outcome: 'migrated', previousLabels };
  } catch (err) {
    if (err instanceof AbortRequested) {
      rb.setPhase('aborted');
      return { outcome: 'aborted', reason: err.why };
    }
    if (err instanceof RollbackNeeded || err instanceof StepFailed) {
      rb.setPhase('rolling-back');
      await rb.compensate(undo);
      rb.setPhase('rolled-back');
      if (err instanceof StepFailed) {
        setNamespaceState('failed', err.error);
        return { outcome: 'failed', error: err.message };
      }
      setNamespaceState('rolled-back');
      // Cancelled by the parent (its rollback) vs. an operator's rollback decision here.
      return rb.rollbackRequested || err.why === 'the workflow was cancelled'
        ? { outcome: 'rolled-back', reason: err.why }
        : { outcome: 'rollback-requested', reason: err.why };
    }
    throw err;
  }
}
