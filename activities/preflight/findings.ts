// Shaping findings into a report that stays small: a plan of 2,000 namespaces must not produce a
// 2,000-entry payload in workflow history. Per-namespace problems are listed one by one (up to a
// bound); namespaces that pass are summarized in one line.
import type { CheckStatus, Finding, PreflightReport } from '../contract.js';

/** At most this many per-namespace findings of one check are listed; the rest are counted. */
export const MAX_LISTED_PER_CHECK = 20;

const RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, block: 2 };

export function worst(statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((w, s) => (RANK[s] > RANK[w] ? s : w), 'pass');
}

/**
 * Per-namespace findings of one check → the warn/block ones (bounded) plus one line for the
 * passing ones. `check` is the family id, e.g. `injection`; items carry `injection/<ns>`.
 */
export function collapse(check: string, items: readonly Finding[], passSummary: (passed: string[]) => string): Finding[] {
  const problems = items.filter((f) => f.status !== 'pass').sort((a, b) => RANK[b.status] - RANK[a.status]);
  const passed = items.filter((f) => f.status === 'pass').map((f) => f.check.slice(check.length + 1));
  const out: Finding[] = problems.slice(0, MAX_LISTED_PER_CHECK);
  const hidden = problems.slice(MAX_LISTED_PER_CHECK);
  if (hidden.length > 0) {
    out.push({
      check: `${check}/more`,
      status: worst(hidden.map((f) => f.status)),
      reason: `${hidden.length} more namespace(s) with the same kind of problem: ${hidden
        .slice(0, 10)
        .map((f) => f.check.slice(check.length + 1))
        .join(', ')}${hidden.length > 10 ? ', ...' : ''}`,
      fix: 'see the findings above; run `meshmove inspect namespace NS` for any of them',
    });
  }
  if (passed.length > 0) out.push({ check, status: 'pass', reason: passSummary(passed) });
  return out;
}

export function summarize(findings: Finding[]): PreflightReport {
  return {
    findings,
    blocking: findings.filter((f) => f.status === 'block').length,
    warnings: findings.filter((f) => f.status === 'warn').length,
  };
}

/** "a, b, c and 7 more" for reasons that name namespaces. */
export function nameList(names: readonly string[], max = 8): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
