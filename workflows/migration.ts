// The migration: the field report's checklist as one durable run.
//   before migration (preflight, backup) → gate start → namespaces, wave by wave (child workflows)
//   → gate dns-cutover → DNS cutover and a durable wait of one TTL → after migration (verify)
//   → gate decommission → decommission → completed.
// A rejected or expired gate, an operator's rollback, or cancelling the workflow undoes everything
// done so far, newest first: DNS back (and a TTL for clients to follow), then the namespaces in
// reverse order of migration.
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  log,
  patched,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { BackupRef, DnsChange, PreflightReport, TrafficBaseline, WaveSelection } from '../activities/contract.js';
import type { Plan } from '../plan/schema.js';
import { backupTarget, describeSelect, hasSelectWaves, plannedNamespaces, relabelFor, resolvedPlan } from '../plan/schema.js';
import { gatewayRequestRate, namespaceErrorRatio } from '../mesh/traffic-queries.js';
import { WAIT_FOR_CANCELLED_ACTIVITIES_PATCH, activityProxies, type EngineOptions } from './activity-proxies.js';
import { AbortRequested, RollbackNeeded, Runbook, nowIso, type Compensation, type RunbookState } from './engine/runbook.js';
import { namespaceAuditSignal, type AuditEntry, type NamespaceStatus, type Phase, type RunStatus, type StepRecord } from './messages.js';
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
  resume?: { state: RunbookState; startedAt: string };
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

type MigrationUndo = { kind: 'namespace'; namespace: string; wave: string; previousLabels: Record<string, string> } | { kind: 'dns' };

const DEFAULT_MAX_HISTORY = 8_000;
/** patched() id of naming a skipped preflight in the start gate (older runs replay the old summary). */
const START_GATE_SKIPPED_PREFLIGHT_PATCH = 'start-gate-names-skipped-preflight';

/** What preflight left for the start gate: counts, and the blocking findings of the attempt that made them. */
interface PreflightResults {
  blocking: number;
  warnings: number;
  decommission?: string;
  /** `check: reason (fix: …)` of each blocking finding. */
  blocks?: string[];
  /** The attempt of the preflight step that returned these findings. */
  attempt?: number;
  /** How the control planes' own roots relate (preflight's root CA check). */
  rootRelation?: PreflightReport['rootRelation'];
}

/** patched() id of handing preflight's root relation to each namespace (its CA wait skips the stability window for one shared root). */
const ROOT_RELATION_TO_NAMESPACES_PATCH = 'root-relation-to-namespaces';

/**
 * The start gate's line for a preflight an operator skipped after it failed: which blocking checks
 * (or, if it did not get that far, the error), who skipped it, when and why. The approver signs this
 * off with the rest of the summary (its digest).
 */
function skippedPreflightLine(rec: StepRecord, results: PreflightResults | undefined): string {
  const who = rec.skippedBy ? `by ${rec.skippedBy.by} at ${rec.skippedBy.at}` : 'by an operator';
  const why = rec.skippedBy?.reason ? `, reason: "${rec.skippedBy.reason}"` : '';
  const blocks = results?.attempt === rec.attempts ? (results.blocks ?? []) : [];
  if (blocks.length > 0) return `preflight: ${blocks.length} blocking check(s) skipped ${who}${why}: ${blocks.join('; ')}`;
  return `preflight: skipped ${who}${why}; it had failed: ${rec.lastError ?? 'unknown error'}`;
}

/** One line for the baseline step: how much traffic, the worst error rate, the old gateway's load. */
function baselineSummary(b: TrafficBaseline): string {
  const measured = Object.entries(b.namespaces);
  const worst = measured.reduce<[string, number] | undefined>(
    (w, [ns, r]) => (r.errorRatio !== undefined && r.errorRatio > (w?.[1] ?? 0) ? [ns, r.errorRatio] : w),
    undefined,
  );
  const total = measured.reduce((n, [, r]) => n + r.requestRate, 0);
  return [
    `${measured.length} namespace(s) with traffic (${total.toFixed(2)} req/s), ${b.quiet.length} without`,
    worst ? `highest error rate ${(worst[1] * 100).toFixed(2)}% (${worst[0]})` : 'no errors',
    `old gateway ${b.sourceGateway === undefined ? 'not measured' : `${b.sourceGateway.toFixed(2)} req/s`}`,
  ].join('; ');
}

/** What the analysis will ask Prometheus, shown in the start gate (the same PromQL the activities send). */
function analysisLines(plan: Plan): string[] {
  const a = plan.analysis;
  if (!a) return [];
  const oldGw = { namespace: plan.source.gateway.namespace, workload: plan.source.gateway.deployment ?? plan.source.gateway.service };
  return [
    `traffic analysis via ${a.prometheus.url}: each namespace's error rate after its move ≤ its baseline + ${(a.namespace.maxErrorRateIncrease * 100).toFixed(2)}%, e.g. ${namespaceErrorRatio('NS', a.namespace.window)}`,
    `before decommission: the old gateway at 0 req/s for ${Math.round(a.drain.window / 1000)}s: ${gatewayRequestRate(oldGw, a.drain.window)}`,
  ];
}

/** The start gate's line for one wave: its namespaces, and for a `select` wave how they were chosen. */
function waveLine(written: Plan['waves'][number], namespaces: readonly string[], i: number): string {
  if (!written.select) return `wave ${i + 1} "${written.name}" (${written.concurrency} at a time): ${namespaces.join(', ')}`;
  const resolved = namespaces.length > 0 ? namespaces.join(', ') : 'no namespace matched: this wave moves nothing';
  return `wave ${i + 1} "${written.name}" (${written.concurrency} at a time; select: ${describeSelect(written.select)}): ${resolved}`;
}

/** The start gate's line for the namespaces the source still injects that no wave takes. */
function unmatchedLine(u: NonNullable<WaveSelection['unmatched']>): string {
  const more = u.count > u.names.length ? ` and ${u.count - u.names.length} more` : '';
  return `not in any wave, still injected by the source (no sidecar for their new pods after the decommission): ${u.names.join(', ')}${more}`;
}

export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  const { startedBy } = input;
  // The plan as written stays the input (replay, continue-as-new); once its `select` waves are
  // resolved, everything from preflight on works on the resolved plan (waves with namespaces only).
  let plan = input.plan;
  const runId = workflowInfo().workflowId;
  const startedAt = input.resume?.startedAt ?? nowIso();
  const identity = planIdentity(plan);
  // Search attributes and notifications follow the runbook's lifecycle (off for older runs: see observe.ts).
  const observer: RunObserver = new RunObserver({
    searchAttributes: input.searchAttributes === true,
    plan: input.plan,
    runId,
    options: input.options,
    phase: (): Phase => rb.state.phase,
    onNotifyFailed: (what, why) => rb.audit('meshmove', what, false, why, 'workflow'),
  });
  const rb = new Runbook(
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
      workflow: runId,
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
    const child = `${runId}/ns/${ns ?? ''}`;
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
  const st = rb.state;
  const selects = hasSelectWaves(input.plan);
  const selection = (): WaveSelection | undefined => st.results.waves as WaveSelection | undefined;
  if (selects && selection()) plan = resolvedPlan(input.plan, selection()!);
  if (!input.resume) {
    st.namespaces = plan.waves.flatMap((w) => w.namespaces.map((name): NamespaceStatus => ({ name, wave: w.name, state: 'pending' })));
  }
  const analysis = plan.analysis;
  const longestWait = Math.max(
    plan.restart.timeout,
    plan.dns.stabilityWindow,
    plan.verification.metricsWindow * 2,
    10 * 60_000,
    analysis ? Math.max(analysis.cutover.timeout, analysis.drain.timeout) : 0,
  );
  const { quick, waiting, scan } = activityProxies(input.options, longestWait, patched(WAIT_FOR_CANCELLED_ACTIVITIES_PATCH));
  let ref = { plan, runId };
  const nsStatus = (name: string): NamespaceStatus => st.namespaces.find((n) => n.name === name)!;

  const maybeContinueAsNew = async (): Promise<void> => {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < (input.options?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY)) return;
    await condition(allHandlersFinished);
    st.generation += 1;
    await continueAsNew<typeof migrationWorkflow>({ ...input, resume: { state: st, startedAt } });
  };

  /** Start the child for one namespace; returns when it ends, having recorded the outcome. */
  const migrateNamespace = async (name: string, wave: string): Promise<NamespaceOutcome> => {
    const ns = nsStatus(name);
    ns.state = 'migrating';
    ns.workflowId = `${runId}/ns/${name}`;
    delete ns.error;
    const rootRelation = (st.results.preflight as PreflightResults | undefined)?.rootRelation;
    const withRootRelation = rootRelation !== undefined && patched(ROOT_RELATION_TO_NAMESPACES_PATCH);
    const baseline = st.results.trafficBaseline as TrafficBaseline | undefined;
    const outcome = await executeChild(namespaceWorkflow, {
      workflowId: ns.workflowId,
      args: [
        {
          runId,
          plan: planForNamespace(plan, name, wave),
          namespace: name,
          wave,
          startedBy,
          mode: 'migrate',
          ...(st.starterKey ? { starterKey: st.starterKey } : {}),
          backup: st.results.backup as BackupRef | undefined,
          onFailure: plan.failurePolicy.onNamespaceFailure,
          options: input.options,
          ...(withRootRelation ? { rootRelation } : {}),
          ...(input.searchAttributes ? { searchAttributes: true } : {}),
          ...(baseline?.namespaces[name] ? { baseline: baseline.namespaces[name] } : {}),
        },
      ],
      // A parent rollback cancels running namespaces; each undoes its own steps before it ends.
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      parentClosePolicy: ParentClosePolicy.TERMINATE,
    });
    switch (outcome.outcome) {
      case 'migrated':
        ns.state = 'migrated';
        st.compensations.push({
          id: `namespace:${name}`,
          title: `move ${name} back to ${plan.source.revision}`,
          data: { kind: 'namespace', namespace: name, wave, previousLabels: outcome.previousLabels } satisfies MigrationUndo,
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
   */
  const runWave = async (waveIndex: number): Promise<void> => {
    const wave = plan.waves[waveIndex]!;
    const earlier = new Set(plan.waves.slice(0, waveIndex + 1).flatMap((w) => w.namespaces));
    const queue = st.namespaces.filter((n) => earlier.has(n.name) && n.state === 'pending');
    const running = new Map<string, Promise<{ name: string; outcome: NamespaceOutcome }>>();
    let stop: RollbackNeeded | AbortRequested | null = null;
    let pauseForContinue = false;
    while (queue.length > 0 || running.size > 0) {
      while (!stop && !pauseForContinue && running.size < wave.concurrency && queue.length > 0) {
        const ns = queue.shift()!;
        running.set(
          ns.name,
          migrateNamespace(ns.name, ns.wave).then((outcome) => ({ name: ns.name, outcome })),
        );
      }
      if (running.size === 0) break;
      const { name, outcome } = await Promise.race(running.values());
      running.delete(name);
      if (!stop && rb.rollbackRequested)
        stop = new RollbackNeeded(`rollback requested by ${rb.rollbackRequested.by}: ${rb.rollbackRequested.reason}`);
      if (!stop && outcome.outcome === 'rollback-requested') stop = new RollbackNeeded(outcome.reason);
      if (!stop && outcome.outcome === 'aborted') stop = new AbortRequested(outcome.reason);
      if (stop) {
        // Running namespaces undo their own steps when cancelled; wait for them.
        if (!rb.rollbackRequested && stop instanceof RollbackNeeded) rb.cancelForward();
        continue;
      }
      if (outcome.outcome === 'failed' && st.namespaces.filter((n) => n.state === 'failed').length >= plan.failurePolicy.failureBudget) {
        // Decide with nothing in flight.
        await Promise.all(running.values());
        running.clear();
        await decideOnFailedNamespaces();
        queue.push(...st.namespaces.filter((n) => earlier.has(n.name) && n.state === 'pending' && !queue.includes(n)));
      }
      if (!pauseForContinue && queue.length > 0) {
        const info = workflowInfo();
        pauseForContinue = info.continueAsNewSuggested || info.historyLength >= (input.options?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY);
      }
    }
    if (stop) throw stop;
    if (pauseForContinue) await maybeContinueAsNew();
  };

  /** The failure budget is spent: pause for `retry` (move the failed namespaces again) or `skip` (go on without them). */
  const decideOnFailedNamespaces = async (): Promise<void> => {
    const failed = st.namespaces.filter((n) => n.state === 'failed');
    let asked = false;
    const decided = await rb.step(`failure-budget`, `At most ${plan.failurePolicy.failureBudget} failed namespace(s)`, async () => {
      if (!asked) {
        asked = true;
        throw ApplicationFailure.nonRetryable(
          `${failed.length} namespace(s) failed and were moved back: ${failed.map((n) => `${n.name} (${n.error ?? 'failed'})`).join('; ')}. retry: move them again; skip: go on without them`,
          FailureType.CheckFailed,
        );
      }
      for (const n of failed) n.state = 'pending';
      return failed.length;
    });
    if (decided.skipped) for (const n of failed) n.state = 'skipped';
  };

  const undo = async (c: Compensation): Promise<void> => {
    const d = c.data as MigrationUndo;
    if (d.kind === 'namespace') {
      const ns = nsStatus(d.namespace);
      ns.state = 'rolling-back';
      ns.workflowId = `${runId}/ns/${d.namespace}/rollback`;
      await executeChild(namespaceWorkflow, {
        workflowId: ns.workflowId,
        args: [
          {
            runId,
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
    // DNS back to the old gateway, verified, then one TTL so clients follow before namespaces move.
    const change = await quick.switchDns({ ...ref, to: 'source' });
    if (change.provider === 'manual' && change.changed === false) {
      await rb.gate('dns-revert', {
        title: 'Point DNS back at the old gateway (manual provider)',
        details: change.records.map((r) => `${r} → ${change.address}`),
      });
    }
    await waiting.verifyDns({ ...ref, address: change.address });
    await sleep(plan.dns.ttl);
  };

  try {
    await rb.forward(async () => {
      // ---- before migration ----
      if (selects && !rb.finished('resolve-waves')) {
        // Once, before anything reads the cluster for the plan: the list the start gate shows (and
        // its digest covers) is the list that moves; a namespace created later is not taken.
        rb.setPhase('preflight');
        await rb.step(
          'resolve-waves',
          'Resolve the waves chosen by selector',
          async () => {
            const found = await quick.resolveWaves({ plan: input.plan, runId });
            const total = found.waves.reduce((n, w) => n + w.namespaces.length, 0);
            if (total === 0) {
              throw ApplicationFailure.nonRetryable(
                `no wave selected any namespace (${input.plan.waves.map((w) => `"${w.name}": ${w.select ? describeSelect(w.select) : 'by name'}`).join('; ')}); label the namespaces or change the plan, then retry`,
                FailureType.CheckFailed,
              );
            }
            st.results.waves = found;
            plan = resolvedPlan(input.plan, found);
            ref = { plan, runId };
            st.namespaces = plan.waves.flatMap((w) =>
              w.namespaces.map((name): NamespaceStatus => ({ name, wave: w.name, state: 'pending' })),
            );
            return found;
          },
          {
            allowed: ['retry', 'abort'],
            // The start gate lists every name; the checklist line stays short on big runs.
            summarize: (r) =>
              r.waves
                .map(
                  (w) =>
                    `${w.name}: ${w.namespaces.length === 0 ? 'none' : w.namespaces.length > 10 ? `${w.namespaces.length} namespaces (${w.namespaces.slice(0, 3).join(', ')}, …)` : w.namespaces.join(', ')}`,
                )
                .join('; '),
          },
        );
      }
      if (!rb.finished('preflight')) {
        rb.setPhase('preflight');
        await rb.step(
          'preflight',
          'Preflight checks',
          async () => {
            const report: PreflightReport = await scan.preflight(ref);
            const blocks = report.findings
              .filter((f) => f.status === 'block')
              .map((f) => `${f.check}: ${f.reason}${f.fix ? ` (fix: ${f.fix})` : ''}`);
            st.results.preflight = {
              blocking: report.blocking,
              warnings: report.warnings,
              decommission: report.findings.find((f) => f.check.startsWith('decommission'))?.reason,
              blocks,
              attempt: st.steps.find((s) => s.id === 'preflight')?.attempts,
              ...(report.rootRelation ? { rootRelation: report.rootRelation } : {}),
            } satisfies PreflightResults;
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
      if (!rb.finished('backup')) {
        await rb.step(
          'backup',
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
        const change = relabelFor(plan);
        const pre = st.results.preflight as PreflightResults | undefined;
        const preflightStep = st.steps.find((s) => s.id === 'preflight');
        const skipped =
          preflightStep?.state === 'skipped' && patched(START_GATE_SKIPPED_PREFLIGHT_PATCH)
            ? [skippedPreflightLine(preflightStep, pre)]
            : [];
        await rb.gate('start', {
          title: `Move ${plannedNamespaces(plan).length} namespace(s) from ${plan.source.revision} to ${plan.target.revision}`,
          details: [
            ...input.plan.waves.map((w, i) => waveLine(w, plan.waves[i]!.namespaces, i)),
            ...(selection()?.unmatched ? [unmatchedLine(selection()!.unmatched!)] : []),
            `each namespace: set ${Object.entries(change.set)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')}; remove ${change.remove.join(', ')}; rollout-restart workloads with a sidecar`,
            `preflight: ${pre?.warnings ?? 0} warning(s); backup: ${(st.results.backup as BackupRef | undefined)?.location ?? 'skipped'}`,
            ...skipped,
            ...analysisLines(plan),
          ],
          commands: [
            `kubectl label namespace NS ${Object.entries(change.set)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')} istio-injection- --overwrite`,
            'kubectl rollout restart deployment,statefulset,daemonset -n NS',
          ],
        });
      }

      if (analysis && !rb.finished('traffic-baseline')) {
        // Before the first relabel: what each namespace's error rate is compared with later.
        await rb.step(
          'traffic-baseline',
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
      for (let i = 0; i < plan.waves.length; i++) {
        // A wave that continued as new mid-way runs again for what is still pending.
        while (st.namespaces.some((n) => n.wave === plan.waves[i]!.name && n.state === 'pending')) await runWave(i);
      }

      // ---- DNS cutover ----
      if (!rb.finished('dns-verify')) {
        rb.setPhase('dns-cutover');
        if (plan.gates.dnsCutover) {
          await rb.gate('dns-cutover', {
            title: `Point DNS at the new gateway ${plan.target.gateway.namespace}/${plan.target.gateway.service}`,
            details: [
              ...plan.dns.records.map((r) => `${r.type} ${r.name} → the new gateway's external address`),
              `provider: ${plan.dns.provider.type}; then a wait of one TTL (${Math.round(plan.dns.ttl / 1000)}s) with both gateways serving`,
              `namespaces migrated: ${st.namespaces.filter((n) => n.state === 'migrated').length}/${st.namespaces.length}`,
            ],
          });
        }
        const stable = await rb.step('gateway-stable', 'New gateway address is stable', () => waiting.checkGatewayStable(ref), {
          summarize: (r) => `address ${r.address}`,
        });
        const address = stable.skipped ? undefined : stable.value.address;
        const switched = await rb.step(
          'dns-switch',
          'Point the records at the new gateway',
          () => quick.switchDns({ ...ref, to: 'target' }),
          {
            compensation: () => [
              { id: 'dns-switch', title: 'point DNS back at the old gateway', data: { kind: 'dns' } satisfies MigrationUndo },
            ],
            summarize: (c: DnsChange) => `${c.records.length} record(s) → ${c.address} via ${c.provider}`,
          },
        );
        if (!switched.skipped && switched.value.provider === 'manual' && !switched.value.changed) {
          await rb.gate('dns-confirm', {
            title: 'Change the DNS records (manual provider), then approve',
            details: switched.value.records.map((r) => `${r} → ${switched.value.address}`),
          });
        }
        const target = switched.skipped ? address : switched.value.address;
        if (target) {
          await rb.step('dns-verify', 'Resolvers answer the new address', () => waiting.verifyDns({ ...ref, address: target }), {
            summarize: (r) => `resolved ${r.resolved.join(', ')}`,
          });
        }
      }
      if (!rb.finished('dns-ttl')) {
        await rb.step('dns-ttl', `Wait one TTL (${Math.round(plan.dns.ttl / 1000)}s); the old gateway keeps serving`, () =>
          sleep(plan.dns.ttl),
        );
      }

      if (analysis && !rb.finished('traffic-shift')) {
        const sourceBaseline = (st.results.trafficBaseline as TrafficBaseline | undefined)?.sourceGateway;
        await rb.step(
          'traffic-shift',
          'The new gateway carries the traffic, the old one falls (Prometheus)',
          () => waiting.awaitGatewayShift({ ...ref, ...(sourceBaseline !== undefined ? { sourceBaseline } : {}) }),
          { summarize: (r) => r.summary },
        );
      }

      // ---- after migration ----
      rb.setPhase('verifying');
      if (!rb.finished('verify-mesh')) {
        await rb.step(
          'verify-mesh',
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
      if (analysis && !rb.finished('gateway-drained')) {
        // The field report: take the old control plane down only once its gateway carries nothing.
        await rb.step(
          'gateway-drained',
          `No request through the old gateway for ${Math.round(analysis.drain.window / 1000)}s (Prometheus)`,
          () => waiting.awaitGatewayDrained(ref),
          { summarize: (r) => r.summary },
        );
      }
      if (plan.gates.decommission) {
        const scope = (st.results.preflight as { decommission?: string } | undefined)?.decommission;
        await rb.gate('decommission', {
          title: `Remove the old control plane ${plan.source.revision} (${plan.source.istiodNamespace}) — cannot be rolled back`,
          details: [
            scope ?? "the source revision's webhook configurations, istiod and gateway Deployments/Services; never CRDs",
            'each object is backed up before it is deleted',
            ...(analysis
              ? [`old gateway: ${st.steps.find((s) => s.id === 'gateway-drained')?.summary ?? 'drain not measured (step skipped)'}`]
              : []),
          ],
        });
      }
    });

    // Past the decommission gate there is no automatic rollback: the old control plane is going away.
    rb.setPhase('decommissioning');
    await rb.step('decommission', `Remove ${plan.source.revision}'s objects (backed up first)`, () => scan.decommission(ref), {
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
      await rb.compensate(undo);
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
