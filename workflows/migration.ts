// The migration: the field report's checklist as one durable run.
//   before migration (preflight, backup) → gate start → namespaces, wave by wave (child workflows)
//   → the cutover → after migration (verify) → gate decommission → decommission → completed.
// The cutover is the plan's: gate dns-cutover, DNS moved to the second gateway and a durable wait of
// one TTL (the field report's way); or gate gateway-move, the source's gateway relabelled, rolled
// and checked on the target revision (target.gateway: in-place); or nothing (dns: none).
// A rejected or expired gate, an operator's rollback, or cancelling the workflow undoes everything
// done so far, newest first: the gateway or DNS back (and a TTL for clients to follow), then the
// namespaces in reverse order of migration.
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { BackupRef, DnsChange, PreflightReport, TrafficBaseline, WaveSelection } from '../activities/contract.js';
import type { Plan } from '../plan/schema.js';
import { IN_PLACE, backupTarget, hasSelectWaves, resolvedPlan } from '../plan/model.js';
import { WAIT_FOR_CANCELLED_ACTIVITIES_PATCH, activityProxies, type EngineOptions } from './activity-proxies.js';
import { AbortRequested, RollbackNeeded, Runbook, nowIso, type Compensation, type RunbookState } from './engine/runbook.js';
import {
  baselineSummary,
  blockingLines,
  decommissionGateSummary,
  dnsCutoverGateSummary,
  gatewayMoveGateSummary,
  gatewayWorkload,
  manualDnsGateSummary,
  nothingSelectedError,
  resolvedWavesSummary,
  skippedPreflightLine,
  startGateSummary,
  type PreflightResults,
} from './gate-summaries.js';
import { MigrationGate, MigrationStep } from './steps.js';
import { RestartSlots, budgetSpent, failedNamespacesMessage, launchable, stopAfter, wavePending } from './wave-schedule.js';
import {
  namespaceAuditSignal,
  restartSlotFreedSignal,
  restartSlotSignal,
  type AuditEntry,
  type NamespaceStatus,
  type Phase,
  type RestartSlot,
  type RunStatus,
} from './messages.js';
import { MAX_AGE_MS, MAX_SKEW_MS, planIdentity, sha256Hex, verifyDecision, type SignedDecision } from './identity/decision.js';
import { namespaceWorkflow, planForNamespace, type NamespaceOutcome } from './namespace.js';
import { RunObserver } from './observe.js';
import { FailureType } from '../activities/failures.js';

export interface MigrationInput {
  plan: Plan;
  /** sha256 of the normalized plan, computed by the client that validated it. */
  planDigest: string;
  startedBy: string;
  /** The starter's signed start (plans with signed identity): the plan digest, signed. */
  start?: SignedDecision;
  options?: EngineOptions;
  /** Set by continue-as-new: where the previous run left off. */
  resume?: { state: RunbookState<MigrationUndo, MigrationResults>; startedAt: string };
  /**
   * Upsert the Meshmove* search attributes (workflows/search-attributes.ts). Set by a client that
   * found them registered in the namespace: upserting an unregistered one fails the workflow task.
   * Absent in runs recorded before them, which replay without the upserts.
   */
  searchAttributes?: boolean;
}

export interface MigrationResult {
  phase: RunStatus['phase'];
  outcome: string;
  namespaces: NamespaceStatus[];
}

/**
 * The inverses the migration registers: a migrated namespace (moved back by its own workflow), the
 * DNS switch, the gateway moved in place (back to the revision it had).
 */
type MigrationUndo =
  | { kind: 'namespace'; namespace: string; wave: string; previousLabels: Record<string, string> }
  | { kind: 'dns' }
  | { kind: 'gateway'; previous: string }
  | { kind: 'tag' };

/** What the migration's steps leave for later ones (and for status); each set once its step ran. */
interface MigrationResults {
  waves: WaveSelection;
  preflight: PreflightResults;
  backup: BackupRef;
  trafficBaseline: TrafficBaseline;
}

const DEFAULT_MAX_HISTORY = 8_000;
/** patched() id of naming a skipped preflight in the start gate (older runs replay the old summary). */
const START_GATE_SKIPPED_PREFLIGHT_PATCH = 'start-gate-names-skipped-preflight';

/** patched() id of handing preflight's root relation to each namespace (its CA wait skips the stability window for one shared root). */
const ROOT_RELATION_TO_NAMESPACES_PATCH = 'root-relation-to-namespaces';

/** patched() id of passing a restart slot only to a namespace whose workflow has started (older runs replay the signal sent at once). */
const SLOT_AFTER_CHILD_START_PATCH = 'slot-after-child-start';

export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  const { startedBy } = input;
  // The plan as written stays the input (replay, continue-as-new); once its `select` waves are
  // resolved, everything from preflight on works on the resolved plan (waves with namespaces only).
  let plan = input.plan;
  const migrationId = workflowInfo().workflowId;
  const startedAt = input.resume?.startedAt ?? nowIso();
  const identity = planIdentity(plan);
  // Search attributes and notifications follow the runbook's lifecycle (off for older runs: see observe.ts).
  const observer: RunObserver = new RunObserver({
    searchAttributes: input.searchAttributes === true,
    plan: input.plan,
    migrationId,
    options: input.options,
    phase: (): Phase => rb.state.phase,
    onNotifyFailed: (what, why) => rb.audit('meshmove', what, false, why, 'workflow'),
  });
  const rb = new Runbook<MigrationUndo, MigrationResults>(
    {
      kind: 'migration',
      plan: plan.metadata.name,
      startedBy,
      startedAt,
      approvers: identity.names,
      fourEyes: plan.fourEyes,
      gateExpiryMs: plan.gates.expiresAfter,
      ...(identity.policy ? { identity: identity.policy } : {}),
      observer,
    },
    input.resume?.state,
  );
  if (identity.policy?.mode === 'signed' && !input.resume) {
    // A start is a decision too: signed by an approver, for this run and exactly this plan. Whoever
    // starts a run without such a signature (a raw client, the UI) gets a failed run, not a migration.
    const now = Date.now();
    const digest = sha256Hex(JSON.stringify(input.plan));
    const v = verifyDecision(identity.policy, input.start, {
      workflow: migrationId,
      kind: 'start',
      target: '-',
      namespace: '-',
      verdict: 'start',
      digest,
      by: startedBy,
      reason: '',
      window: { from: now - MAX_AGE_MS, to: now + MAX_SKEW_MS, what: 'the start of the run' },
      now,
      usedNonces: [],
    });
    if (!v.ok) throw ApplicationFailure.nonRetryable(`start refused: ${v.why}`, FailureType.Refused);
    rb.state.starterKey = v.signer.fingerprint;
    rb.state.nonces = [v.fields.nonce];
  }
  rb.install();
  observer.started();
  // A namespace's workflow reports each decision made there. Anyone may signal, so only entries
  // naming one of this run's namespace workflows are taken; anything else is recorded as refused.
  setHandler(namespaceAuditSignal, (reported: AuditEntry) => {
    const entry: Partial<AuditEntry> = reported !== null && typeof reported === 'object' ? reported : {};
    const ns = entry.namespace;
    const child = `${migrationId}/ns/${ns ?? ''}`;
    const fromChild =
      typeof ns === 'string' &&
      rb.state.namespaces.some((n) => n.name === ns) &&
      (entry.workflowId === child || entry.workflowId === `${child}/rollback`);
    if (
      fromChild &&
      typeof entry.at === 'string' &&
      typeof entry.by === 'string' &&
      typeof entry.action === 'string' &&
      typeof entry.accepted === 'boolean'
    ) {
      rb.appendAudit(entry as AuditEntry);
      return;
    }
    log.warn('refused an audit entry that does not come from a namespace of this run', { namespace: ns, workflowId: entry.workflowId });
    rb.audit(
      String(entry.by ?? ''),
      `report ${String(entry.action ?? '')}`.trim(),
      false,
      `not a namespace workflow of this run: ${String(entry.workflowId ?? 'no workflow id')}`,
      'signal',
    );
  });
  // The running wave's restart slots (wave.prepareAhead): a namespace frees its slot as soon as its
  // restart step is over, before its checks. Only a holder's own name frees a slot (RestartSlots).
  let freeRestartSlot: ((namespace: string) => void) | undefined;
  // Anyone may signal: a payload that is not a namespace's name is ignored (a throwing handler would
  // fail every workflow task of the run from then on).
  setHandler(restartSlotFreedSignal, (freed) => {
    const namespace = (freed as unknown as { namespace?: unknown } | null)?.namespace;
    if (typeof namespace === 'string') freeRestartSlot?.(namespace);
  });
  const st = rb.state;
  const selects = hasSelectWaves(input.plan);
  if (selects && st.results.waves) plan = resolvedPlan(input.plan, st.results.waves);
  if (!input.resume) {
    st.namespaces = plan.waves.flatMap((w) => w.namespaces.map((name): NamespaceStatus => ({ name, wave: w.name, state: 'pending' })));
  }
  const analysis = plan.analysis;
  const longestWait = Math.max(
    plan.restart.timeout,
    plan.dns?.stabilityWindow ?? 0,
    plan.verification.metricsWindow * 2,
    10 * 60_000,
    analysis ? Math.max(analysis.cutover.timeout, analysis.drain.timeout) : 0,
  );
  const { quick, waiting, scan } = activityProxies(input.options, longestWait, patched(WAIT_FOR_CANCELLED_ACTIVITIES_PATCH));
  let ref = { plan, migrationId };
  const nsStatus = (name: string): NamespaceStatus => st.namespaces.find((n) => n.name === name)!;

  const maybeContinueAsNew = async (): Promise<void> => {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < (input.options?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY)) return;
    await condition(allHandlersFinished);
    st.generation += 1;
    await continueAsNew<typeof migrationWorkflow>({ ...input, resume: { state: st, startedAt } });
  };

  /** Each running namespace's child, resolved once the server has started it (a signal before that finds no workflow). */
  const childStarted = new Map<string, Promise<unknown>>();

  /** Start the child for one namespace; returns when it ends, having recorded the outcome. */
  const migrateNamespace = async (name: string, wave: string, restartSlot?: 'held' | 'waiting'): Promise<NamespaceOutcome> => {
    const ns = nsStatus(name);
    ns.state = 'migrating';
    ns.workflowId = `${migrationId}/ns/${name}`;
    delete ns.error;
    if (restartSlot === 'waiting') ns.waitingForRestartSlot = true;
    const rootRelation = st.results.preflight?.rootRelation;
    const withRootRelation = rootRelation !== undefined && patched(ROOT_RELATION_TO_NAMESPACES_PATCH);
    const baseline = st.results.trafficBaseline;
    const child = startChild(namespaceWorkflow, {
      workflowId: ns.workflowId,
      args: [
        {
          migrationId,
          plan: planForNamespace(plan, name, wave),
          namespace: name,
          wave,
          startedBy,
          mode: 'migrate',
          ...(st.starterKey ? { starterKey: st.starterKey } : {}),
          backup: st.results.backup,
          onFailure: plan.failurePolicy.onNamespaceFailure,
          options: input.options,
          ...(withRootRelation ? { rootRelation } : {}),
          ...(input.searchAttributes ? { searchAttributes: true } : {}),
          ...(baseline?.namespaces[name] ? { baseline: baseline.namespaces[name] } : {}),
          ...(restartSlot ? { restartSlot } : {}),
        },
      ],
      // A parent rollback cancels running namespaces; each undoes its own steps before it ends.
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      parentClosePolicy: ParentClosePolicy.TERMINATE,
    });
    childStarted.set(name, child);
    let outcome: NamespaceOutcome;
    try {
      outcome = await (await child).result();
    } finally {
      childStarted.delete(name);
    }
    delete ns.waitingForRestartSlot;
    switch (outcome.outcome) {
      case 'migrated':
        ns.state = 'migrated';
        // Nothing works on it now. Kept small, as every namespace's is: the state is carried
        // across continue-as-new, and at 2,000 namespaces it was a payload of 550 KB.
        delete ns.workflowId;
        st.compensations.push({
          id: `namespace:${name}`,
          data: { kind: 'namespace', namespace: name, wave, previousLabels: outcome.previousLabels },
        });
        break;
      case 'failed':
        ns.state = 'failed';
        ns.error = outcome.error;
        break;
      default:
        ns.state = 'rolled-back';
        break;
    }
    return outcome;
  };

  /**
   * One wave: at most `concurrency` namespaces at once. Namespaces of earlier waves that are pending
   * again (a failure-budget retry) run with it. Stops launching on rollback, abort or continue-as-new.
   * With `prepareAhead`, that many more namespaces are launched and wait, relabelled and CA-checked,
   * for one of the `concurrency` restart slots (RestartSlots), so that a slot never waits for them.
   */
  const runWave = async (waveIndex: number): Promise<void> => {
    const wave = plan.waves[waveIndex]!;
    const queue = launchable(plan, st.namespaces, waveIndex);
    const running = new Map<string, Promise<{ name: string; outcome: NamespaceOutcome }>>();
    const ahead = wave.prepareAhead ?? 0;
    const slots = ahead > 0 ? new RestartSlots(wave.concurrency) : undefined;
    const told: Promise<void>[] = [];
    const tell = (name: string, slot: RestartSlot): void => {
      const ns = nsStatus(name);
      delete ns.waitingForRestartSlot;
      const workflowId = ns.workflowId!;
      const send = async (): Promise<void> => {
        // A namespace launched in the same breath may not have started yet: the signal would find
        // no workflow. Wait for its start (a failed start is migrateNamespace's to handle).
        if (patched(SLOT_AFTER_CHILD_START_PATCH)) await childStarted.get(name)?.catch(() => undefined);
        for (let retryMs = 1_000; ; retryMs = Math.min(retryMs * 2, 30_000)) {
          try {
            await getExternalWorkflowHandle(workflowId).signal(restartSlotSignal, slot);
            return;
          } catch (err) {
            // Not found (a run recorded before the wait above, or a namespace not started yet): it
            // waits for this answer and would wait forever, so tell it again while it runs.
            const again = running.has(name);
            log.warn('a namespace waiting for a restart slot could not be told', { workflowId, error: String(err), again });
            if (!again) return;
          }
          // A rollback cancels the wait, and the namespaces with it: none needs telling any more.
          const slept = await sleep(retryMs).then(
            () => true,
            () => false,
          );
          if (!slept) return;
        }
      };
      told.push(send());
    };
    let stop: RollbackNeeded | AbortRequested | null = null;
    let pauseForContinue = false;
    /** A slot passes to `next`, unless the run is stopping (on rollback every launched namespace is cancelled and undoes its own steps; on abort, see below). */
    const passTo = (next: string | undefined): void => {
      if (next !== undefined && !stop) tell(next, { restart: true });
    };
    if (slots) freeRestartSlot = (name) => passTo(slots.freed(name));
    const ended = (name: string): void => {
      running.delete(name);
      passTo(slots?.ended(name));
    };
    while (queue.length > 0 || running.size > 0) {
      while (!stop && !pauseForContinue && running.size < wave.concurrency + ahead && queue.length > 0) {
        const ns = queue.shift()!;
        const slot = slots ? (slots.launched(ns.name) ? 'held' : 'waiting') : undefined;
        running.set(
          ns.name,
          migrateNamespace(ns.name, ns.wave, slot).then((outcome) => ({ name: ns.name, outcome })),
        );
      }
      if (running.size === 0) break;
      const { name, outcome } = await Promise.race(running.values());
      if (!stop) {
        const s = stopAfter(outcome, rb.rollbackRequested);
        if (s) stop = s.kind === 'rollback' ? new RollbackNeeded(s.why) : new AbortRequested(s.why);
        // Abort undoes nothing: the namespaces waiting for a slot end where they are, unrestarted.
        if (stop instanceof AbortRequested) for (const n of slots?.takeWaiting() ?? []) tell(n, { restart: false, why: stop.why });
      }
      ended(name);
      if (stop) {
        // Running namespaces undo their own steps when cancelled; wait for them.
        if (!rb.rollbackRequested && stop instanceof RollbackNeeded) rb.cancelForward();
        continue;
      }
      if (budgetSpent(outcome, st.namespaces, plan.failurePolicy.failureBudget)) {
        // Decide with nothing in flight: those launched ahead still get their slots as others end.
        while (running.size > 0) ended((await Promise.race(running.values())).name);
        await decideOnFailedNamespaces();
        queue.push(...launchable(plan, st.namespaces, waveIndex).filter((n) => !queue.includes(n)));
      }
      if (!pauseForContinue && queue.length > 0) {
        const info = workflowInfo();
        pauseForContinue = info.continueAsNewSuggested || info.historyLength >= (input.options?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY);
      }
    }
    freeRestartSlot = undefined;
    if (told.length > 0) await Promise.all(told);
    if (stop) throw stop;
    if (pauseForContinue) await maybeContinueAsNew();
  };

  /** The failure budget is spent: pause for `retry` (move the failed namespaces again) or `skip` (go on without them). */
  const decideOnFailedNamespaces = async (): Promise<void> => {
    const failed = st.namespaces.filter((n) => n.state === 'failed');
    let asked = false;
    const decided = await rb.step(
      MigrationStep.failureBudget,
      `At most ${plan.failurePolicy.failureBudget} failed namespace(s)`,
      async () => {
        if (!asked) {
          asked = true;
          throw ApplicationFailure.nonRetryable(failedNamespacesMessage(failed), FailureType.CheckFailed);
        }
        for (const n of failed) n.state = 'pending';
        return failed.length;
      },
    );
    if (decided.skipped) for (const n of failed) n.state = 'skipped';
  };

  /** The title of a namespace's compensation, which is not stored with it (see migrateNamespace). */
  const undoTitle = (d: MigrationUndo): string | undefined =>
    d.kind === 'namespace' ? `move ${d.namespace} back to ${plan.source.revision}` : undefined;

  const undo = async (c: Compensation<MigrationUndo>): Promise<void> => {
    const d = c.data;
    if (d.kind === 'namespace') {
      const ns = nsStatus(d.namespace);
      ns.state = 'rolling-back';
      ns.workflowId = `${migrationId}/ns/${d.namespace}/rollback`;
      await executeChild(namespaceWorkflow, {
        workflowId: ns.workflowId,
        args: [
          {
            migrationId,
            plan: planForNamespace(plan, d.namespace, d.wave),
            namespace: d.namespace,
            wave: d.wave,
            startedBy,
            mode: 'rollback',
            previousLabels: d.previousLabels,
            onFailure: 'pause',
            options: input.options,
            ...(st.starterKey ? { starterKey: st.starterKey } : {}),
            ...(input.searchAttributes ? { searchAttributes: true } : {}),
          },
        ],
        parentClosePolicy: ParentClosePolicy.TERMINATE,
      });
      ns.state = 'rolled-back';
      return;
    }
    if (d.kind === 'tag') {
      // Registered before any namespace moved, so undone after every one: the tag back at the
      // source, then the namespaces pinned to the source revision meanwhile back on the tag.
      await quick.pointTag({ ...ref, to: 'source' });
      await quick.unpinTagNamespaces(ref);
      return;
    }
    if (d.kind === 'gateway') {
      // The gateway back to its revision where it was changed, rolled, and its proxies on the source again.
      const gw = plan.source.gateway;
      const key = `${migrationId}/gateway/rollback`;
      await quick.relabelGateway({ ...ref, revision: d.previous, key });
      await waiting.restartWorkloads({
        ...ref,
        namespace: gw.namespace,
        key,
        expectRevision: d.previous,
        only: [gatewayWorkload(plan).workload],
      });
      const r = await waiting.verifyProxies({ ...ref, namespace: gw.namespace, revision: d.previous, selector: gw.selector });
      if (r.problems.length > 0)
        throw ApplicationFailure.nonRetryable(
          `the gateway's proxies are not back on ${d.previous}: ${r.problems.join('; ')}`,
          FailureType.CheckFailed,
        );
      return;
    }
    // DNS back to the old gateway, verified, then one TTL so clients follow before namespaces move.
    const change = await quick.switchDns({ ...ref, to: 'source' });
    if (change.provider === 'manual' && change.changed === false) {
      await rb.gate(MigrationGate.dnsRevert, manualDnsGateSummary('Point DNS back at the old gateway (manual provider)', change));
    }
    await waiting.verifyDns({ ...ref, address: change.address });
    const ttl = plan.dns?.ttl;
    if (ttl !== undefined) await sleep(ttl);
  };

  /** target.gateway: in-place: the source's gateway Deployment moves to the target revision, then is checked. */
  const moveGatewayInPlace = async (): Promise<void> => {
    const gw = plan.source.gateway;
    const { id, workload } = gatewayWorkload(plan);
    const target = plan.target.revision;
    const key = `${migrationId}/gateway/migrate`;
    rb.setPhase('gateway-move');
    if (plan.gates.gatewayMove && !rb.finished(MigrationStep.gatewayRelabel)) {
      const migrated = st.namespaces.filter((n) => n.state === 'migrated').length;
      await rb.gate(MigrationGate.gatewayMove, gatewayMoveGateSummary(plan, migrated, st.namespaces.length));
    }
    if (!rb.finished(MigrationStep.gatewayRelabel)) {
      await rb.step(
        MigrationStep.gatewayRelabel,
        `Set istio.io/rev=${target} for the gateway ${id}`,
        () => quick.relabelGateway({ ...ref, revision: target, key }),
        {
          compensation: (r) => [
            {
              id: MigrationStep.gatewayRelabel,
              title: `move the gateway ${id} back to ${r.previous}`,
              data: { kind: 'gateway', previous: r.previous },
            },
          ],
          summarize: (r) =>
            r.changed
              ? `istio.io/rev ${r.previous} → ${target} on ${r.where === 'namespace' ? `namespace ${gw.namespace}` : 'its pod template'}`
              : `already on ${target}`,
        },
      );
    }
    if (!rb.finished(MigrationStep.gatewayRestart)) {
      await rb.step(
        MigrationStep.gatewayRestart,
        `Roll the gateway ${id} onto ${target}`,
        () => waiting.restartWorkloads({ ...ref, namespace: gw.namespace, key, expectRevision: target, only: [workload] }),
        { summarize: (r) => (r.workloads.length > 0 ? `${r.workloads.join(', ')} rolled out` : `its pods were already on ${target}`) },
      );
    }
    if (!rb.finished(MigrationStep.gatewayVerify)) {
      await rb.step(
        MigrationStep.gatewayVerify,
        `The gateway's proxies SYNCED on ${target}; gateway probes answer`,
        async () => {
          const proxies = await waiting.verifyProxies({ ...ref, namespace: gw.namespace, revision: target, selector: gw.selector });
          const probes = await waiting.verifyGateway(ref);
          const problems = [...proxies.problems, ...probes.failures];
          if (proxies.pods === 0) problems.unshift(`no pod of the gateway ${id} found`);
          if (problems.length > 0)
            throw ApplicationFailure.nonRetryable(`the gateway ${id}: ${problems.join('; ')}`, FailureType.CheckFailed);
          return { proxies, probes };
        },
        { summarize: (r) => `${r.proxies.synced}/${r.proxies.pods} proxies SYNCED, ${r.probes.probes} probe(s) passed` },
      );
    }
  };

  try {
    await rb.forward(async () => {
      // ---- before migration ----
      if (selects && !rb.finished(MigrationStep.resolveWaves)) {
        // Once, before anything reads the cluster for the plan: the list the start gate shows (and
        // its digest covers) is the list that moves; a namespace created later is not taken.
        rb.setPhase('preflight');
        await rb.step(
          MigrationStep.resolveWaves,
          'Resolve the waves chosen by selector',
          async () => {
            const found = await quick.resolveWaves({ plan: input.plan, migrationId });
            const total = found.waves.reduce((n, w) => n + w.namespaces.length, 0);
            if (total === 0) throw ApplicationFailure.nonRetryable(nothingSelectedError(input.plan), FailureType.CheckFailed);
            st.results.waves = found;
            plan = resolvedPlan(input.plan, found);
            ref = { plan, migrationId };
            st.namespaces = plan.waves.flatMap((w) =>
              w.namespaces.map((name): NamespaceStatus => ({ name, wave: w.name, state: 'pending' })),
            );
            return found;
          },
          {
            allowed: ['retry', 'abort'],
            // The start gate lists every name; the checklist line stays short on big runs.
            summarize: resolvedWavesSummary,
          },
        );
      }
      if (!rb.finished(MigrationStep.preflight)) {
        rb.setPhase('preflight');
        await rb.step(
          MigrationStep.preflight,
          'Preflight checks',
          async () => {
            const report: PreflightReport = await scan.preflight(ref);
            const blocks = blockingLines(report);
            st.results.preflight = {
              blocking: report.blocking,
              warnings: report.warnings,
              decommission: report.findings.find((f) => f.check.startsWith('decommission'))?.reason,
              blocks,
              attempt: st.steps.find((s) => s.id === MigrationStep.preflight)?.attempts,
              ...(report.rootRelation ? { rootRelation: report.rootRelation } : {}),
            };
            if (report.blocking > 0) {
              throw ApplicationFailure.nonRetryable(
                `${report.blocking} blocking finding(s): ${blocks.join('; ')}`,
                FailureType.CheckFailed,
              );
            }
            return report;
          },
          { summarize: (r) => `${r.findings.length} checks, ${r.warnings} warning(s), ${r.blocking} blocking` },
        );
      }
      if (!rb.finished(MigrationStep.backup)) {
        await rb.step(
          MigrationStep.backup,
          `Back up to ${backupTarget(plan.backup)}`,
          async () => {
            const backup = await scan.backup(ref);
            st.results.backup = backup;
            return backup;
          },
          { summarize: (b) => `${b.objects} objects, manifest sha256 ${b.manifestDigest.slice(0, 12)}…` },
        );
      }
      if (plan.gates.start) {
        rb.setPhase('awaiting-start');
        const preflightStep = st.steps.find((s) => s.id === MigrationStep.preflight);
        const skippedPreflight =
          preflightStep?.state === 'skipped' && patched(START_GATE_SKIPPED_PREFLIGHT_PATCH)
            ? [skippedPreflightLine(preflightStep, st.results.preflight)]
            : [];
        await rb.gate(
          MigrationGate.start,
          startGateSummary({
            written: input.plan,
            plan,
            selection: st.results.waves,
            preflight: st.results.preflight,
            backup: st.results.backup,
            skippedPreflight,
          }),
        );
      }

      if (analysis && !rb.finished(MigrationStep.trafficBaseline)) {
        // Before the first relabel: what each namespace's error rate is compared with later.
        await rb.step(
          MigrationStep.trafficBaseline,
          `Traffic baseline over ${Math.round(analysis.baseline.window / 1000)}s (Prometheus)`,
          async () => {
            const b = await waiting.trafficBaseline(ref);
            st.results.trafficBaseline = b;
            return b;
          },
          { summarize: baselineSummary },
        );
      }

      // ---- namespaces, wave by wave ----
      rb.setPhase('namespaces');
      const tag = plan.target.tag;
      if (tag !== undefined && !rb.finished(MigrationStep.tagSwitch)) {
        // One webhook change for every namespace on the tag; the waves then restart them.
        await rb.step(
          MigrationStep.tagSwitch,
          `Point revision tag ${tag} at ${plan.target.revision}`,
          () => quick.pointTag({ ...ref, to: 'target' }),
          {
            compensation: () => [
              { id: MigrationStep.tagSwitch, title: `point revision tag ${tag} back at ${plan.source.revision}`, data: { kind: 'tag' } },
            ],
            summarize: (r) => `${r.config} ${r.changed ? 'now calls' : 'already called'} ${plan.target.revision}'s istiod`,
          },
        );
      }
      for (let i = 0; i < plan.waves.length; i++) {
        // A wave that continued as new mid-way runs again for what is still pending.
        while (wavePending(st.namespaces, plan.waves[i]!.name)) await runWave(i);
      }

      // ---- cutover: DNS to the second gateway (the field report's way), or none (`dns: none`) ----
      const dns = plan.dns;
      if (dns && !rb.finished(MigrationStep.dnsVerify)) {
        rb.setPhase('dns-cutover');
        if (plan.gates.dnsCutover) {
          const migrated = st.namespaces.filter((n) => n.state === 'migrated').length;
          await rb.gate(MigrationGate.dnsCutover, dnsCutoverGateSummary(plan, dns, migrated, st.namespaces.length));
        }
        const stable = await rb.step(MigrationStep.gatewayStable, 'New gateway address is stable', () => waiting.checkGatewayStable(ref), {
          summarize: (r) => `address ${r.address}`,
        });
        const address = stable.skipped ? undefined : stable.value.address;
        const switched = await rb.step(
          MigrationStep.dnsSwitch,
          'Point the records at the new gateway',
          () => quick.switchDns({ ...ref, to: 'target' }),
          {
            compensation: () => [{ id: MigrationStep.dnsSwitch, title: 'point DNS back at the old gateway', data: { kind: 'dns' } }],
            summarize: (c: DnsChange) => `${c.records.length} record(s) → ${c.address} via ${c.provider}`,
          },
        );
        if (!switched.skipped && switched.value.provider === 'manual' && !switched.value.changed) {
          await rb.gate(
            MigrationGate.dnsConfirm,
            manualDnsGateSummary('Change the DNS records (manual provider), then approve', switched.value),
          );
        }
        const target = switched.skipped ? address : switched.value.address;
        if (target) {
          await rb.step(MigrationStep.dnsVerify, 'Resolvers answer the new address', () => waiting.verifyDns({ ...ref, address: target }), {
            summarize: (r) => `resolved ${r.resolved.join(', ')}`,
          });
        }
      }
      if (dns && !rb.finished(MigrationStep.dnsTtl)) {
        await rb.step(MigrationStep.dnsTtl, `Wait one TTL (${Math.round(dns.ttl / 1000)}s); the old gateway keeps serving`, () =>
          sleep(dns.ttl),
        );
      }
      // ---- or the gateway itself moves to the target revision (target.gateway: in-place) ----
      const inPlace = plan.target.gatewayMove === IN_PLACE;
      if (inPlace && !rb.finished(MigrationStep.gatewayVerify)) await moveGatewayInPlace();

      // The shift from the old gateway to the new one is measured where there are two and DNS moved.
      if (analysis && dns && !inPlace && !rb.finished(MigrationStep.trafficShift)) {
        const sourceBaseline = st.results.trafficBaseline?.sourceGateway;
        await rb.step(
          MigrationStep.trafficShift,
          'The new gateway carries the traffic, the old one falls (Prometheus)',
          () => waiting.awaitGatewayShift({ ...ref, ...(sourceBaseline !== undefined ? { sourceBaseline } : {}) }),
          { summarize: (r) => r.summary },
        );
      }

      // ---- after migration ----
      rb.setPhase('verifying');
      if (!rb.finished(MigrationStep.verifyMesh)) {
        await rb.step(
          MigrationStep.verifyMesh,
          'Every proxy on the target; istiod errors not increasing',
          async () => {
            const v = await waiting.verifyMesh(ref);
            if (v.onSource > 0 || v.errorIncreases.length > 0) {
              throw ApplicationFailure.nonRetryable(
                `${v.onSource} proxies are still on the source; error metrics increased: ${v.errorIncreases.join(', ') || 'none'}`,
                FailureType.CheckFailed,
              );
            }
            return v;
          },
          {
            summarize: (v) =>
              `${v.onTarget} proxies on the target, ${v.onSource} on the source, in ${v.namespaces} namespaces${v.notes.length ? `; ${v.notes.join('; ')}` : ''}`,
          },
        );
      }
      if (analysis && !inPlace && !rb.finished(MigrationStep.gatewayDrained)) {
        // The field report: take the old control plane down only once its gateway carries nothing.
        await rb.step(
          MigrationStep.gatewayDrained,
          `No request through the old gateway for ${Math.round(analysis.drain.window / 1000)}s (Prometheus)`,
          () => waiting.awaitGatewayDrained(ref),
          { summarize: (r) => r.summary },
        );
      }
      if (plan.gates.decommission) {
        const drained = st.steps.find((s) => s.id === MigrationStep.gatewayDrained)?.summary;
        await rb.gate(MigrationGate.decommission, decommissionGateSummary(plan, st.results.preflight?.decommission, drained));
      }
    });

    // Past the decommission gate there is no automatic rollback: the old control plane is going away.
    rb.setPhase('decommissioning');
    await rb.step(MigrationStep.decommission, `Remove ${plan.source.revision}'s objects (backed up first)`, () => scan.decommission(ref), {
      allowed: ['retry', 'skip', 'abort'],
      summarize: (d) => `${d.deleted.length} object(s) deleted; backup ${d.backup.location}`,
    });
    rb.setPhase('completed');
    st.outcome = 'completed';
  } catch (err) {
    if (err instanceof AbortRequested) {
      rb.setPhase('aborted');
      st.outcome = err.why;
    } else if (err instanceof RollbackNeeded) {
      rb.setPhase('rolling-back');
      st.outcome = err.why;
      await rb.compensate(undo, undoTitle);
      rb.setPhase('rolled-back');
    } else throw err;
  }
  // Nothing waits for a person any more; the webhooks hear how the run ended (given a little time).
  observer.ended(st.phase, st.outcome ?? st.phase);
  await observer.settle();
  // Nothing may cancel the last wait: after a cancellation the run still ends with its summary.
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  return { phase: st.phase, outcome: st.outcome ?? st.phase, namespaces: st.namespaces };
}
