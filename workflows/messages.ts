// Messages shared by the workflows and the client: names, payload types and the status shape.
// One definition each, so that no string literal is repeated between the two sides.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SignedDecision } from './identity/decision.js';

export const TASK_QUEUE = 'meshmove';

export type GateVerdict = 'approve' | 'reject';
export type DecisionKind = 'retry' | 'skip' | 'rollback' | 'abort';

export interface GateDecisionRequest {
  gate: string;
  verdict: GateVerdict;
  by: string;
  /** The digest of the summary the person saw: an approval of an older summary is stale. */
  digest: string;
  /** Required to reject; optional comment on approve. */
  reason?: string;
  /** The signed decision (required by plans with signed identity; see workflows/identity/decision.ts). */
  signed?: SignedDecision;
}

export interface OperatorDecisionRequest {
  /** The paused step the decision is for (as shown in status); guards against deciding for the wrong step. */
  step: string;
  decision: DecisionKind;
  by: string;
  reason?: string;
  signed?: SignedDecision;
}

export interface RollbackRequest {
  by: string;
  reason: string;
  signed?: SignedDecision;
}

export type Phase =
  | 'preflight'
  | 'awaiting-start'
  | 'namespaces'
  | 'dns-cutover'
  | 'gateway-move'
  | 'verifying'
  | 'decommissioning'
  | 'rolling-back'
  | 'completed'
  | 'rolled-back'
  | 'aborted';

export const TERMINAL_PHASES: readonly Phase[] = ['completed', 'rolled-back', 'aborted'];

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'compensating' | 'compensated';

export interface StepRecord {
  id: string;
  title: string;
  state: StepState;
  attempts: number;
  lastError?: string;
  startedAt?: string;
  endedAt?: string;
  /** A one-line summary of what the step found or did. */
  summary?: string;
  /** Who skipped the step after it failed, when and why (its lastError says what failed). */
  skippedBy?: { by: string; at: string; reason?: string };
}

export type GateState = 'open' | 'approved' | 'rejected' | 'expired';

export interface GateRecord {
  id: string;
  state: GateState;
  summary: GateSummary;
  digest: string;
  openedAt: string;
  expiresAt: string;
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

/** What a person approves: what happens next, in words and in commands. */
export interface GateSummary {
  title: string;
  /** Bullet lines: namespaces, label changes, records... */
  details: string[];
  /** The equivalent manual commands, for people who think in kubectl. */
  commands?: string[];
}

export interface PendingGate {
  id: string;
  summary: GateSummary;
  digest: string;
  expiresAt: string;
  /** Which workflow holds the gate (a namespace's gate lives in its child workflow). */
  workflowId: string;
}

export interface PendingDecision {
  step: string;
  error: string;
  /** The failure's type (activities/failures.ts) when it had one: the CLI shows what to do about it. */
  errorType?: string;
  allowed: DecisionKind[];
  workflowId: string;
  /** What a signed decision commits to: sha256 of the workflow, step, attempt and error. */
  digest?: string;
}

export interface AuditEntry {
  at: string;
  by: string;
  /** e.g. `approve start`, `decide retry restart`, `rollback`. */
  action: string;
  accepted: boolean;
  /** The person's reason or comment, or why the request was refused. */
  reason?: string;
  /** `update` or `signal`: how the request arrived. */
  via: 'update' | 'signal' | 'workflow';
  /** Set in the run's trail for a decision made in a namespace's own workflow (its gate, its steps). */
  namespace?: string;
  /** The workflow that decided (the namespace's child workflow), with `namespace`. */
  workflowId?: string;
  /** The evidence of a signed decision: the message, its SSHSIG signature and the key's fingerprint. */
  signed?: SignedDecision & { key: string };
}

export type NamespaceState = 'pending' | 'migrating' | 'migrated' | 'failed' | 'skipped' | 'rolling-back' | 'rolled-back';

export interface NamespaceStatus {
  name: string;
  wave: string;
  state: NamespaceState;
  /** The child workflow working on it now (migration or rollback), or that failed; none once migrated (it was `<run>/ns/<name>`). */
  workflowId?: string;
  error?: string;
  /** Relabelled and CA-checked, waiting for one of its wave's restart slots (wave.prepareAhead). */
  waitingForRestartSlot?: true;
}

export interface RunStatus {
  workflowId: string;
  kind: 'migration' | 'namespace';
  plan: string;
  startedBy: string;
  startedAt: string;
  phase: Phase;
  currentStep: string | null;
  steps: StepRecord[];
  gates: GateRecord[];
  pendingGate: PendingGate | null;
  pendingDecision: PendingDecision | null;
  namespaces: NamespaceStatus[];
  audit: AuditEntry[];
  /** Where the backup is and its manifest digest (the objects stay on disk). */
  backup?: { location: string; manifestDigest: string; objects: number };
  /** Why the run ended, when it did. */
  outcome?: string;
  /** How many times the run continued as new (history kept small for big clusters). */
  generation: number;
  /**
   * Set when the run has more than STATUS_NAMESPACE_LIMIT namespaces: `namespaces` then lists only
   * those running, failed or rolling back (at most the limit), so the query stays small; these
   * count every namespace by state, and namespacesQuery pages through all of them.
   */
  namespaceCounts?: Partial<Record<NamespaceState, number>>;
  namespacesOmitted?: number;
  /** `signed`: every decision is signed; `unverified`: names only (a warning). Absent for older runs. */
  identity?: 'signed' | 'unverified';
}

// Gate approvals and operator decisions are Updates (validated synchronously, with a reason on
// refusal) and also Signals for tools that can only signal (same checks; refusals are audited).
export const gateDecisionUpdate = defineUpdate<GateRecord, [GateDecisionRequest]>('gateDecision');
export const operatorDecisionUpdate = defineUpdate<AuditEntry, [OperatorDecisionRequest]>('operatorDecision');
export const rollbackUpdate = defineUpdate<AuditEntry, [RollbackRequest]>('requestRollback');
export const gateDecisionSignal = defineSignal<[GateDecisionRequest]>('gateDecision');
export const operatorDecisionSignal = defineSignal<[OperatorDecisionRequest]>('operatorDecision');
export const rollbackSignal = defineSignal<[RollbackRequest]>('requestRollback');
export const statusQuery = defineQuery<RunStatus>('status');

/** Above this many namespaces the status query lists only the ones that need looking at (see RunStatus.namespaceCounts). */
export const STATUS_NAMESPACE_LIMIT = 200;
/** Largest page namespacesQuery returns. */
export const NAMESPACE_PAGE_LIMIT = 1000;
export interface NamespacePage {
  total: number;
  offset: number;
  items: NamespaceStatus[];
}
/** Every namespace of the run, a page at a time (`meshmove status --json` reads them all). */
export const namespacesQuery = defineQuery<NamespacePage, [{ offset: number; limit: number }]>('namespaces');

/** What the status query lists of a run's namespaces: all of them, or for a big run those running, failed or rolling back, with counts of all. */
export function namespacesForStatus(
  all: readonly NamespaceStatus[],
): Pick<RunStatus, 'namespaces' | 'namespaceCounts' | 'namespacesOmitted'> {
  if (all.length <= STATUS_NAMESPACE_LIMIT) return { namespaces: [...all] };
  const counts: Partial<Record<NamespaceState, number>> = {};
  for (const n of all) counts[n.state] = (counts[n.state] ?? 0) + 1;
  const listed = all
    .filter((n) => n.state === 'migrating' || n.state === 'failed' || n.state === 'rolling-back')
    .slice(0, STATUS_NAMESPACE_LIMIT);
  return { namespaces: listed, namespaceCounts: counts, namespacesOmitted: all.length - listed.length };
}
/** A namespace's workflow tells the run about each decision it recorded, so the run's audit trail is whole. */
export const namespaceAuditSignal = defineSignal<[AuditEntry]>('namespaceAudit');

/**
 * The run to a namespace it launched ahead of a free restart slot (wave.prepareAhead): restart now
 * (a slot freed), or stop where it is without undoing anything (the run was aborted meanwhile).
 */
export type RestartSlot = { restart: true } | { restart: false; why: string };
export const restartSlotSignal = defineSignal<[RestartSlot]>('restartSlot');
/** A namespace of such a wave to the run: its restart step is over, its slot is free for the next one. */
export const restartSlotFreedSignal = defineSignal<[{ namespace: string }]>('restartSlotFreed');
