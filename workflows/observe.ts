// What a run tells the outside world as it goes, wired to the runbook's lifecycle observer:
//   - search attributes (workflows/search-attributes.ts): plan, cluster, phase, and what waits for a
//     person, so `temporal workflow list --query "MeshmovePendingGate IS NOT NULL"` finds it;
//   - notifications (plan.notify): a signed webhook when a gate opens, when a failed step waits for
//     a decision, and when the run ends, with the exact commands to answer.
// Both are new workflow commands, so both are off for runs recorded before them: search attributes
// need the `searchAttributes` input flag (set by a client that found them registered), notifications
// a plan with `notify` (older plans have none). A notification is started and not waited for: its
// failure is logged and audited, never the run's; at the run's end it is waited for, briefly.
import { CancellationScope, condition, log, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { NotifyActivities, NotifyEvent } from '../activities/contract.js';
import type { NotifyEventKind, Plan } from '../plan/schema.js';
import type { EngineOptions } from './activity-proxies.js';
import type { RunbookObserver } from './engine/runbook.js';
import { describeFailure, nowIso } from './engine/runbook.js';
import type { DecisionKind, GateRecord, OperatorDecisionRequest, PendingDecision, Phase } from './messages.js';
import {
  CLUSTER_ATTRIBUTE,
  DECISION_PENDING_PREFIX,
  PENDING_ATTRIBUTE,
  PHASE_ATTRIBUTE,
  PLAN_ATTRIBUTE,
  clusterAttribute,
} from './search-attributes.js';
import { FailureType } from '../activities/failures.js';

const K8S_NAMESPACE_FLAG = '--k8s-namespace';

/** Notification delivery defaults: a short request, a few attempts, a brief wait at the run's end. */
export const NOTIFY_DEFAULTS = { timeoutMs: 10_000, attempts: 4, endWaitMs: 30_000 } as const;

export interface ObserverConfig {
  /** Upsert the search attributes (only when the namespace has them registered: the input flag). */
  searchAttributes: boolean;
  plan: Plan;
  /** The migration's workflow id (the run), also for a namespace's child workflow. */
  migrationId: string;
  /** A namespace's child workflow: its Kubernetes namespace. */
  namespace?: string;
  options?: EngineOptions;
  /** The current phase (for notifications). */
  phase: () => Phase;
  /** A notification could not be delivered: record it (the run goes on). */
  onNotifyFailed?: (what: string, why: string) => void;
}

/** `meshmove [--namespace T] ...`: the Temporal namespace goes before the command, as the CLI wants it. */
function meshmove(temporalNamespace: string, rest: string): string {
  return `meshmove ${temporalNamespace === 'default' ? '' : `--namespace ${temporalNamespace} `}${rest}`;
}

/** The commands that answer a gate, as the CLI spells them (client/commands/run.ts). */
export function gateCommands(temporalNamespace: string, migrationId: string, gate: string, digest: string): string[] {
  return [
    meshmove(temporalNamespace, `approve ${migrationId} ${gate} --digest ${digest}`),
    meshmove(temporalNamespace, `reject ${migrationId} ${gate} --reason "WHY"`),
  ];
}

/** The commands that answer a failed step, one per allowed decision. */
export function decisionCommands(
  temporalNamespace: string,
  migrationId: string,
  step: string,
  allowed: readonly DecisionKind[],
  namespace?: string,
): string[] {
  const where = `${namespace ? ` ${K8S_NAMESPACE_FLAG} ${namespace}` : ''} --step ${step}`;
  return allowed.map((d) => meshmove(temporalNamespace, `decide ${migrationId} ${d}${where}${d === 'retry' ? '' : ' --reason "WHY"'}`));
}

export class RunObserver implements RunbookObserver {
  private readonly waiting: string[] = [];
  private readonly upserted = new Map<string, string | null>();
  private outstanding = 0;
  private readonly notifier: NotifyActivities | undefined;

  constructor(private readonly cfg: ObserverConfig) {
    const n = cfg.options?.notify;
    this.notifier = cfg.plan.notify
      ? proxyActivities<NotifyActivities>({
          startToCloseTimeout: n?.timeoutMs ?? NOTIFY_DEFAULTS.timeoutMs,
          retry: {
            initialInterval: '1s',
            backoffCoefficient: 2,
            maximumInterval: '10s',
            maximumAttempts: n?.attempts ?? NOTIFY_DEFAULTS.attempts,
            nonRetryableErrorTypes: [FailureType.NotifyConfig, FailureType.NotifyRejected],
          },
        })
      : undefined;
  }

  /** Set every attribute at the workflow's start (a continued-as-new run carries on from its state). */
  started(): void {
    this.upsert({
      [PLAN_ATTRIBUTE.name]: this.cfg.plan.metadata.name,
      [CLUSTER_ATTRIBUTE.name]: clusterAttribute(this.cfg.plan.cluster.context),
      [PHASE_ATTRIBUTE.name]: this.cfg.phase(),
      [PENDING_ATTRIBUTE.name]: null,
    });
  }

  phaseChanged(phase: Phase): void {
    this.upsert({ [PHASE_ATTRIBUTE.name]: phase });
  }

  gateOpened(gate: GateRecord): void {
    this.wait(gate.id);
    const { namespace } = this.cfg;
    const tns = workflowInfo().namespace;
    this.notify('gate-opened', `${workflowInfo().workflowId}/gate/${gate.id}/${gate.openedAt}`, {
      summary: `Gate "${gate.id}" waits for approval: ${gate.summary.title}`,
      details: [...gate.summary.details, ...this.signingNote()],
      gate: gate.id,
      digest: gate.digest,
      expiresAt: gate.expiresAt,
      commands: gateCommands(tns, this.cfg.migrationId, gate.id, gate.digest),
      ...(namespace ? { namespace } : {}),
    });
  }

  gateClosed(gate: GateRecord): void {
    this.unwait(gate.id);
  }

  decisionWaiting(p: PendingDecision & { attempt: number }): void {
    this.wait(`${DECISION_PENDING_PREFIX}${p.step}`);
    const { namespace } = this.cfg;
    this.notify('decision-needed', `${workflowInfo().workflowId}/decision/${p.step}/${p.attempt}`, {
      summary: `Step "${p.step}" failed${namespace ? ` in ${namespace}` : ''} and waits for a decision (${p.allowed.join(', ')})`,
      details: [`attempt ${p.attempt}`, ...this.signingNote()],
      step: p.step,
      error: p.error,
      allowed: p.allowed,
      ...(p.digest ? { digest: p.digest } : {}),
      commands: decisionCommands(workflowInfo().namespace, this.cfg.migrationId, p.step, p.allowed, namespace),
      ...(namespace ? { namespace } : {}),
    });
  }

  decisionEnded(p: PendingDecision, _decided: OperatorDecisionRequest | undefined): void {
    this.unwait(`${DECISION_PENDING_PREFIX}${p.step}`);
  }

  /** The run ended: nothing waits any more, and the webhooks are told how it ended. */
  ended(phase: Phase, outcome: string, notify = true): void {
    this.waiting.length = 0;
    this.upsert({ [PHASE_ATTRIBUTE.name]: phase, [PENDING_ATTRIBUTE.name]: null });
    if (notify)
      this.notify('run-ended', `${this.cfg.migrationId}/run-ended`, {
        summary: `Run ${this.cfg.migrationId} ended: ${phase}`,
        details: outcome === phase ? [] : [outcome],
        outcome,
        commands: [meshmove(workflowInfo().namespace, `status ${this.cfg.migrationId}`)],
      });
  }

  /** Give notifications still being delivered a little time (bounded), then go on regardless. */
  async settle(): Promise<void> {
    if (this.outstanding === 0) return;
    const bound = this.cfg.options?.notify?.endWaitMs ?? NOTIFY_DEFAULTS.endWaitMs;
    await CancellationScope.nonCancellable(() => condition(() => this.outstanding === 0, bound));
  }

  // ---- internals ----

  private signingNote(): string[] {
    return this.cfg.plan.identity === 'signed'
      ? ["decisions are signed: meshmove signs with --key FILE, $MESHMOVE_SIGNING_KEY or the ssh-agent's key"]
      : [];
  }

  private wait(item: string): void {
    if (!this.waiting.includes(item)) this.waiting.push(item);
    this.upsert({ [PENDING_ATTRIBUTE.name]: this.waiting[0] ?? null });
  }

  private unwait(item: string): void {
    const i = this.waiting.indexOf(item);
    if (i >= 0) this.waiting.splice(i, 1);
    this.upsert({ [PENDING_ATTRIBUTE.name]: this.waiting[0] ?? null });
  }

  /** One upsert of the attributes that changed (none: no command). */
  private upsert(values: Record<string, string | null>): void {
    if (!this.cfg.searchAttributes) return;
    const keys = {
      [PLAN_ATTRIBUTE.name]: PLAN_ATTRIBUTE,
      [CLUSTER_ATTRIBUTE.name]: CLUSTER_ATTRIBUTE,
      [PHASE_ATTRIBUTE.name]: PHASE_ATTRIBUTE,
      [PENDING_ATTRIBUTE.name]: PENDING_ATTRIBUTE,
    };
    const pairs = Object.entries(values)
      .filter(([name, value]) => !this.upserted.has(name) || this.upserted.get(name) !== value)
      .map(([name, value]) => {
        this.upserted.set(name, value);
        return { key: keys[name]!, value };
      });
    if (pairs.length > 0) upsertSearchAttributes(pairs);
  }

  private notify(
    event: NotifyEventKind,
    deliveryId: string,
    fields: Omit<
      NotifyEvent,
      'event' | 'deliveryId' | 'at' | 'migrationId' | 'workflowId' | 'temporalNamespace' | 'plan' | 'cluster' | 'phase'
    >,
  ): void {
    const notifier = this.notifier;
    const hooks = (this.cfg.plan.notify?.webhooks ?? []).filter((w) => !w.events || w.events.includes(event));
    if (!notifier || hooks.length === 0) return;
    const info = workflowInfo();
    const e: NotifyEvent = {
      event,
      deliveryId,
      at: nowIso(),
      migrationId: this.cfg.migrationId,
      workflowId: info.workflowId,
      temporalNamespace: info.namespace,
      plan: this.cfg.plan.metadata.name,
      cluster: clusterAttribute(this.cfg.plan.cluster.context),
      phase: this.cfg.phase(),
      ...fields,
    };
    for (const webhook of hooks) {
      this.outstanding += 1;
      // Not cancellable: a rollback (which cancels the forward work) still sends what it announced.
      CancellationScope.nonCancellable(() => notifier.notify({ webhook, event: e }))
        .catch((err: unknown) => {
          const why = describeFailure(err);
          log.warn('a notification was not delivered', { webhook: webhook.name, event, error: why });
          this.cfg.onNotifyFailed?.(`notify ${event} via ${webhook.name}`, why);
        })
        .finally(() => {
          this.outstanding -= 1;
        });
    }
  }
}
