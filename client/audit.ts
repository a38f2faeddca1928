// `meshmove audit verify`: re-verify every decision of a recorded history offline, trusting nothing
// but the approvers' keys (those in the run's plan, or those of a plan file the auditor trusts).
// Each signed decision is checked as the workflow checked it: the SSHSIG signature, that the key is
// the named approver's, and that the signed message says exactly what the request did.
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';
import {
  MAX_AGE_MS,
  MAX_SKEW_MS,
  gateAllowed,
  parseDecisionMessage,
  planIdentity,
  sha256Hex,
  type IdentityPolicy,
  type SignedDecision,
} from '../workflows/identity/decision.js';
import { verifySignature } from '../workflows/identity/sshsig.js';
import type { Plan } from '../plan/schema.js';
import type { AuditEntry, GateDecisionRequest, OperatorDecisionRequest, RollbackRequest } from '../workflows/messages.js';

export interface AuditLine {
  /** Where in the history: `event 12` (or `carried audit entry 3`). */
  where: string;
  ok: boolean;
  /** Who decided what, when, against which summary; or why the entry does not verify. */
  text: string;
  /**
   * A Signal: recorded whatever the workflow made of it (it may have been refused by the rules, or
   * for a bad signature), so it is listed and never counted as a decision nor as a failure.
   */
  info?: boolean;
}

export interface AuditReport {
  workflowId: string;
  identity: string;
  planDigest?: string;
  keys: string[];
  lines: AuditLine[];
  failures: number;
}

type Event = temporal.api.history.v1.IHistoryEvent;

function decode<T>(payloads: Payload[] | null | undefined): T | undefined {
  const p = payloads?.[0];
  return p ? defaultPayloadConverter.fromPayload<T>(p) : undefined;
}

function eventMs(e: Event): number {
  const t = e.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
}

interface Claim {
  kind: 'start' | 'gate' | 'decision' | 'rollback';
  target: string;
  verdict: string;
  by: string;
  reason: string;
  digest?: string;
}

/** Verify one signed decision against the policy and what was asked; the reason when it does not hold. */
function check(
  policy: IdentityPolicy,
  workflowId: string,
  signed: SignedDecision | undefined,
  claim: Claim,
  arrivedMs: number,
): { ok: true; text: string } | { ok: false; why: string } {
  if (!signed) return { ok: false, why: 'unsigned' };
  let f;
  let key;
  try {
    f = parseDecisionMessage(signed.message);
    key = verifySignature(signed.message, signed.signature);
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
  const approver = policy.approvers.find((a) => a.name === claim.by && a.keys.some((k) => k.split(/\s+/)[1] === key.line.split(' ')[1]));
  if (!approver) return { ok: false, why: `the key ${key.fingerprint} is not a key of approver "${claim.by}"` };
  const diffs = [
    f.workflow !== workflowId && `run ${f.workflow}`,
    f.kind !== claim.kind && `kind ${f.kind}`,
    f.target !== claim.target && `target ${f.target}`,
    f.verdict !== claim.verdict && `verdict ${f.verdict}`,
    f.by !== claim.by && `by ${f.by}`,
    f.reason !== claim.reason && 'another reason',
    claim.digest !== undefined && f.digest !== claim.digest && `digest ${f.digest}`,
  ].filter(Boolean);
  if (diffs.length > 0)
    return {
      ok: false,
      why: `the signed message says ${diffs.join(', ')}, the record says ${claim.kind} ${claim.target} ${claim.verdict} by ${claim.by}`,
    };
  if (claim.kind === 'gate' && !gateAllowed(approver, claim.target))
    return { ok: false, why: `${claim.by} may not decide gate ${claim.target}` };
  const at = Date.parse(f.at);
  if (arrivedMs && (at > arrivedMs + MAX_SKEW_MS || arrivedMs - at > MAX_AGE_MS))
    return { ok: false, why: `signed at ${f.at}, but recorded at ${new Date(arrivedMs).toISOString()}` };
  const what = claim.kind === 'start' ? 'start' : claim.kind === 'rollback' ? 'rollback' : `${claim.verdict} ${claim.target}`;
  const against = f.digest !== '-' ? `, against ${claim.kind === 'start' ? 'plan' : 'digest'} ${f.digest.slice(0, 16)}…` : '';
  const ns = f.namespace !== '-' ? ` in ${f.namespace}` : '';
  return {
    ok: true,
    text: `${f.at}  ${claim.by}  ${what}${ns}${against}${claim.reason ? ` ("${claim.reason}")` : ''}  key ${key.fingerprint}`,
  };
}

function claimOf(name: string, req: unknown): Claim | undefined {
  if (name === 'gateDecision') {
    const r = req as GateDecisionRequest;
    return { kind: 'gate', target: r.gate, verdict: r.verdict, by: r.by, reason: r.reason ?? '', digest: r.digest };
  }
  if (name === 'operatorDecision') {
    const r = req as OperatorDecisionRequest;
    return { kind: 'decision', target: r.step, verdict: r.decision, by: r.by, reason: r.reason ?? '' };
  }
  if (name === 'requestRollback') {
    const r = req as RollbackRequest;
    return { kind: 'rollback', target: '-', verdict: 'rollback', by: r.by, reason: r.reason ?? '' };
  }
  return undefined;
}

function claimOfAudit(e: AuditEntry): Claim | undefined {
  const [verb, ...rest] = e.action.split(' ');
  if (verb === 'start') return { kind: 'start', target: '-', verdict: 'start', by: e.by, reason: '' };
  if (verb === 'rollback') return { kind: 'rollback', target: '-', verdict: 'rollback', by: e.by, reason: e.reason ?? '' };
  if (verb === 'approve' || verb === 'reject')
    return { kind: 'gate', target: rest.join(' '), verdict: verb, by: e.by, reason: e.reason ?? '' };
  if (verb === 'decide')
    return { kind: 'decision', target: rest.slice(1).join(' '), verdict: rest[0] ?? '', by: e.by, reason: e.reason ?? '' };
  return undefined;
}

/**
 * Verify a history as `meshmove history` writes it (or `{workflowId, history}`). `trusted`: keys from
 * a plan the auditor trusts, instead of those in the history's own start event.
 */
export function verifyHistory(json: unknown, opts: { workflowId?: string; trusted?: Plan } = {}): AuditReport {
  const wrapped = json as { workflowId?: string; history?: unknown };
  const history = historyFromJSON(wrapped.history ?? json);
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const input = decode<{
    plan: Plan;
    planDigest?: string;
    startedBy: string;
    start?: SignedDecision;
    migrationId?: string;
    /** The migration id as children started before the rename carry it. */
    runId?: string;
    namespace?: string;
    mode?: string;
    resume?: { state: { audit: AuditEntry[] } };
  }>(started?.input?.payloads as Payload[]);
  if (!input?.plan) throw new Error('not a meshmove run history: its first event has no plan');
  const plan = opts.trusted ?? input.plan;
  const migrationId = input.migrationId ?? input.runId;
  const { policy } = planIdentity(plan);
  const startWorkflow = input.start
    ? (() => {
        try {
          return parseDecisionMessage(input.start.message).workflow;
        } catch {
          return undefined;
        }
      })()
    : undefined;
  const workflowId =
    opts.workflowId ??
    wrapped.workflowId ??
    startWorkflow ??
    (input.namespace && migrationId ? `${migrationId}/ns/${input.namespace}${input.mode === 'rollback' ? '/rollback' : ''}` : '?');
  const report: AuditReport = {
    workflowId,
    identity: policy?.mode ?? 'names only (a run from before signed decisions)',
    keys: [],
    lines: [],
    failures: 0,
  };
  if (policy?.mode !== 'signed') {
    report.lines.push({
      where: 'plan',
      ok: false,
      text: 'this run did not sign its decisions (identity unverified): there is nothing to verify; names were trusted',
    });
    report.failures = 1;
    return report;
  }
  report.keys = policy.approvers.flatMap((a) => a.keys.map((k) => `${a.name} ${k.split(/\s+/).slice(0, 2).join(' ')}`));
  report.planDigest = sha256Hex(JSON.stringify(input.plan));
  const add = (where: string, r: ReturnType<typeof check>, signal = false) => {
    if (signal)
      report.lines.push({
        where,
        ok: true,
        info: true,
        text: r.ok
          ? `valid signature (the workflow's audit trail says whether it was taken): ${r.text}`
          : `refused by the workflow: ${r.why}`,
      });
    else if (r.ok) report.lines.push({ where, ok: true, text: r.text });
    else {
      report.lines.push({ where, ok: false, text: r.why });
      report.failures += 1;
    }
  };
  if (opts.trusted && sha256Hex(JSON.stringify(opts.trusted)) !== report.planDigest) {
    report.lines.push({
      where: 'event 1',
      ok: false,
      text: `the run's plan is not the trusted plan (digest ${report.planDigest} vs ${sha256Hex(JSON.stringify(opts.trusted))})`,
    });
    report.failures += 1;
  }
  const isChild = input.namespace !== undefined && migrationId !== undefined;
  if (!isChild) {
    // A continued run carries its original start: the signature still holds, its time is the first run's.
    add(
      'event 1 (start)',
      check(
        policy,
        workflowId,
        input.start,
        { kind: 'start', target: '-', verdict: 'start', by: input.startedBy, reason: '', digest: report.planDigest },
        input.resume ? 0 : eventMs(events[0]!),
      ),
    );
  }
  // A run that continued as new carries the audit trail of its earlier runs, evidence included.
  (input.resume?.state.audit ?? []).forEach((e, i) => {
    if (!e.accepted || e.via === 'workflow' || !e.signed) return;
    const claim = claimOfAudit(e);
    if (claim) add(`carried audit entry ${i + 1}`, check(policy, e.workflowId ?? workflowId, e.signed, claim, 0));
  });
  for (const e of events) {
    const where = `event ${String(e.eventId)}`;
    const acc = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (acc) {
      const name = acc.acceptedRequest?.input?.name ?? '';
      const req = decode<{ signed?: SignedDecision }>(acc.acceptedRequest?.input?.args?.payloads as Payload[]);
      const claim = claimOf(name, req);
      if (claim) add(`${where} (update ${name})`, check(policy, workflowId, req?.signed, claim, eventMs(e)));
    }
    const sig = e.workflowExecutionSignaledEventAttributes;
    if (sig) {
      const req = decode<{ signed?: SignedDecision }>(sig.input?.payloads as Payload[]);
      const claim = claimOf(sig.signalName ?? '', req);
      // A Signal is recorded whatever the workflow made of it: one that does not verify was refused there.
      if (claim) add(`${where} (signal ${sig.signalName ?? ''})`, check(policy, workflowId, req?.signed, claim, eventMs(e)), true);
    }
  }
  return report;
}

export function renderReport(r: AuditReport): string {
  const lines = [`${r.workflowId}  identity: ${r.identity}${r.planDigest ? `  plan ${r.planDigest}` : ''}`];
  if (r.keys.length) lines.push(`  keys trusted: ${r.keys.map((k) => k.slice(0, 60)).join('; ')}`);
  for (const l of r.lines) lines.push(`  ${l.ok ? (l.info ? '·' : '✓') : '✗'} ${l.where}: ${l.text}`);
  if (r.identity !== 'signed') lines.push('  ✗ not verifiable: decisions were not signed');
  else if (r.failures === 0) lines.push(`  every decision verifies (${r.lines.filter((l) => l.ok && !l.info).length})`);
  else
    lines.push(
      `  ✗ ${r.failures} entr${r.failures === 1 ? 'y does' : 'ies do'} not verify: the history was altered, or a decision was not signed by its approver`,
    );
  return lines.join('\n');
}
