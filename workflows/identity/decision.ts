// The canonical decision message a person signs, and its verification against the plan's keys.
// The same functions run in the workflow (Update validators, Signal handlers), in the CLI before it
// sends, and in `meshmove audit verify` offline: one definition of what a valid decision is.
import { sha256 } from '@noble/hashes/sha2.js';
import { hex, parsePublicKey, utf8, verifySignature } from './sshsig.js';
import { NAMESPACE_GATE, isNamespaceGate } from '../steps.js';

export const DECISION_HEADER = 'meshmove decision v1';
/** How far a signature's time may be ahead of the workflow's clock (clock skew). */
export const MAX_SKEW_MS = 2 * 60_000;
/** How old a signature may be when it arrives: a signed decision is for now, not for later. */
export const MAX_AGE_MS = 15 * 60_000;

export type DecisionKind = 'start' | 'gate' | 'decision' | 'rollback';

/** What a signature commits to. `-` stands for "not applicable" in target, namespace and digest. */
export interface DecisionFields {
  workflow: string;
  kind: DecisionKind;
  /** The gate id or the step id; `-` for start and rollback. */
  target: string;
  /** The Kubernetes namespace of a namespace's gate or step; `-` otherwise. */
  namespace: string;
  /** approve, reject, retry, skip, rollback, abort, start. */
  verdict: string;
  /** The digest of what the person saw: the gate summary, the paused step, the plan (start); `-` for rollback. */
  digest: string;
  by: string;
  reason: string;
  /** ISO time of signing. */
  at: string;
  /** Random hex, unique per decision: a signature counts once. */
  nonce: string;
}

/** A signed decision as it travels: the exact message text and the armored SSHSIG over it. */
export interface SignedDecision {
  message: string;
  signature: string;
}

const FIELDS = ['workflow', 'kind', 'target', 'namespace', 'verdict', 'digest', 'by', 'reason', 'at', 'nonce'] as const;

/** The message text: one `field: value` line each, in this order (reason as a JSON string). */
export function decisionMessage(f: DecisionFields): string {
  const line = (k: (typeof FIELDS)[number]) => `${k}: ${k === 'reason' ? JSON.stringify(f.reason) : f[k]}`;
  for (const k of FIELDS) if (k !== 'reason' && /[\r\n]/.test(f[k])) throw new Error(`${k} may not contain a line break`);
  return `${DECISION_HEADER}\n${FIELDS.map(line).join('\n')}\n`;
}

/** Parse a message; only the exact canonical text is accepted (it must re-serialize to itself). */
export function parseDecisionMessage(text: string): DecisionFields {
  const lines = text.split('\n');
  if (lines[0] !== DECISION_HEADER || lines.at(-1) !== '' || lines.length !== FIELDS.length + 2)
    throw new Error(`not a meshmove decision message ("${DECISION_HEADER}" and ${FIELDS.length} fields)`);
  const out: Record<string, string> = {};
  FIELDS.forEach((k, i) => {
    const l = lines[i + 1]!;
    if (!l.startsWith(`${k}: `)) throw new Error(`line ${i + 2} of the decision message must be "${k}: …"`);
    const v = l.slice(k.length + 2);
    out[k] = k === 'reason' ? (JSON.parse(v) as string) : v;
  });
  const fields = out as unknown as DecisionFields;
  if (decisionMessage(fields) !== text) throw new Error('the decision message is not in canonical form');
  return fields;
}

export function sha256Hex(text: string): string {
  return hex(sha256(utf8(text)));
}

/** JSON with object keys sorted: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The digest of a gate's summary as shown: sha256 over the workflow, the gate, its opening and the canonical summary. */
export function gateSummaryDigest(workflowId: string, gate: string, reopenCount: number, summary: unknown): string {
  return sha256Hex(`${workflowId}\n${gate}\n${reopenCount}\n${canonicalJson(summary)}`);
}

/** The digest of a paused step as shown: the workflow, the step, its attempt and its error. */
export function pausedStepDigest(workflowId: string, step: string, attempt: number, error: string): string {
  return sha256Hex(`${workflowId}\n${step}\n${attempt}\n${error}`);
}

// ---- who may sign ----

export interface Approver {
  name: string;
  /** Public keys, `TYPE BASE64 [comment]`. */
  keys: string[];
  /** Gates this approver may decide (`namespace` covers every `namespace:NS` gate); all when absent. */
  gates?: string[];
}

/** The plan's identity rules as the workflow keeps them. */
export interface IdentityPolicy {
  mode: 'signed' | 'unverified';
  approvers: Approver[];
}

export interface Signer {
  name: string;
  fingerprint: string;
}

/** Which approver a key belongs to (by fingerprint), if any. */
export function approverOfKey(policy: IdentityPolicy, fingerprint: string): Approver | undefined {
  return policy.approvers.find((a) =>
    a.keys.some((k) => {
      try {
        return parsePublicKey(k).fingerprint === fingerprint;
      } catch {
        return false;
      }
    }),
  );
}

export function gateAllowed(approver: Approver, gate: string): boolean {
  if (!approver.gates) return true;
  return approver.gates.includes(gate) || (isNamespaceGate(gate) && approver.gates.includes(NAMESPACE_GATE));
}

export interface Expected {
  workflow: string;
  kind: DecisionKind;
  target: string;
  namespace: string;
  verdict: string;
  /** The digest the workflow shows now; null to skip the comparison. */
  digest: string | null;
  by: string;
  reason: string;
  /** The window a signature's time must fall in (ms since epoch): the gate's open window, the pause, the run. */
  window: { from: number; to: number; what: string };
  /** The workflow's clock (deterministic in the sandbox). */
  now: number;
  usedNonces: readonly string[];
}

export type Verified = { ok: true; signer: Signer; fields: DecisionFields } | { ok: false; why: string };

const ALIASES: Record<DecisionKind, string> = { start: 'the start', gate: 'gate', decision: 'step', rollback: 'a rollback' };

/**
 * Is this a genuine, fresh decision by an approver for exactly what `expected` says? The reason in
 * words when not. Pure: validators and replay call it with the same inputs and get the same answer.
 */
export function verifyDecision(policy: IdentityPolicy, signed: SignedDecision | undefined, expected: Expected): Verified {
  const no = (why: string): Verified => ({ ok: false, why });
  if (!signed || typeof signed.message !== 'string' || typeof signed.signature !== 'string') {
    return no('unsigned: this plan requires signed decisions (sign with --key FILE or through ssh-agent; see `meshmove approve --help`)');
  }
  let fields: DecisionFields;
  try {
    fields = parseDecisionMessage(signed.message);
  } catch (err) {
    return no(`malformed decision message: ${(err as Error).message}`);
  }
  let fingerprint: string;
  try {
    fingerprint = verifySignature(signed.message, signed.signature).fingerprint;
  } catch (err) {
    return no(`bad signature: ${(err as Error).message}`);
  }
  // A key listed for several names (one person, two entries) is taken as the name it claims.
  const approver =
    policy.approvers.find((a) => a.name === expected.by && approverOfKey({ ...policy, approvers: [a] }, fingerprint)) ??
    approverOfKey(policy, fingerprint);
  if (!approver) return no(`unknown key ${fingerprint}: it is not the key of any approver of this plan`);
  if (fields.by !== approver.name || expected.by !== approver.name) {
    return no(
      `forged name: the key ${fingerprint} is ${approver.name}'s, and the decision claims to be by ${expected.by}${fields.by !== expected.by ? ` (signed as ${fields.by})` : ''}`,
    );
  }
  if (fields.workflow !== expected.workflow) return no(`signed for run ${fields.workflow}, not ${expected.workflow}`);
  if (fields.kind !== expected.kind || fields.target !== expected.target) {
    const what = (k: string, t: string) => (t === '-' ? (ALIASES[k as DecisionKind] ?? k) : `${ALIASES[k as DecisionKind] ?? k} ${t}`);
    return no(`signed for ${what(fields.kind, fields.target)}, not ${what(expected.kind, expected.target)}`);
  }
  if (fields.namespace !== expected.namespace) return no(`signed for namespace ${fields.namespace}, not ${expected.namespace}`);
  if (fields.verdict !== expected.verdict) return no(`signed to ${fields.verdict}, not to ${expected.verdict}`);
  if (fields.reason !== expected.reason) return no('the reason sent is not the reason signed');
  if (expected.digest !== null && fields.digest !== expected.digest) {
    return no(
      `stale approval: signed over digest ${fields.digest}, but what is shown now has digest ${expected.digest} (it changed since it was read, or the signature is for something else); read it again and sign that`,
    );
  }
  if (expected.kind === 'gate' && !gateAllowed(approver, expected.target)) {
    return no(`${approver.name}'s key is not allowed for gate ${expected.target} (allowed: ${approver.gates?.join(', ')})`);
  }
  if (!/^[0-9a-f]{32,128}$/.test(fields.nonce)) return no('the nonce must be 32 to 128 lower-case hex characters');
  if (expected.usedNonces.includes(fields.nonce))
    return no(`reused nonce ${fields.nonce}: this signed decision was already used; sign a new one`);
  const at = Date.parse(fields.at);
  if (Number.isNaN(at) || new Date(at).toISOString() !== fields.at)
    return no(`the signing time "${fields.at}" is not an ISO time such as 2026-01-01T00:00:00.000Z`);
  const iso = (ms: number) => new Date(ms).toISOString();
  if (at < expected.window.from - MAX_SKEW_MS || at > expected.window.to) {
    return no(`signed at ${fields.at}, outside ${expected.window.what} (${iso(expected.window.from)} to ${iso(expected.window.to)})`);
  }
  if (at > expected.now + MAX_SKEW_MS) return no(`signed at ${fields.at}, in the future (the workflow's time is ${iso(expected.now)})`);
  if (expected.now - at > MAX_AGE_MS)
    return no(`signed at ${fields.at}, more than ${MAX_AGE_MS / 60_000} minutes before it arrived (${iso(expected.now)}); sign it again`);
  return { ok: true, signer: { name: approver.name, fingerprint }, fields };
}

/** Shown on every gate of a plan with `identity: unverified`. */
export const UNVERIFIED_WARNING =
  '⚠ identity: unverified — this plan trusts the names people give (--by); decisions are not signed and anyone who can reach Temporal can act as anyone';

/**
 * The identity rules of a plan as the workflow received it. Runs started before signed decisions
 * (no `identity` field in their input) keep the rules they started with: names only, and the older
 * summary digest, so that their histories replay unchanged.
 */
export function planIdentity(plan: { identity?: 'signed' | 'unverified'; approvers: readonly (string | Approver)[] }): {
  names: string[];
  policy?: IdentityPolicy;
} {
  const approvers = plan.approvers.map((a): Approver => (typeof a === 'string' ? { name: a, keys: [] } : a));
  const names = approvers.map((a) => a.name);
  return plan.identity === undefined ? { names } : { names, policy: { mode: plan.identity, approvers } };
}
