// What the traffic analysis decides from Prometheus' answers (pure, table-tested). An answer is a
// number, NaN (the ratio of no requests), or undefined (an empty vector: no series at all). Only a
// number can pass a check: nothing measured is never taken for nothing wrong.

export type Verdict = { ok: true; summary: string } | { ok: false; reason: string };

export function percent(n: number): string {
  return `${(n * 100).toFixed(2)}%`;
}

export function perSecond(n: number): string {
  return `${n.toFixed(n >= 10 ? 1 : 3)} req/s`;
}

/** What an answer says, for messages: "empty (no series)", "NaN (no requests)" or the number. */
export function describeAnswer(v: number | undefined): string {
  if (v === undefined) return 'empty (no series)';
  if (Number.isNaN(v)) return 'NaN (no requests in the window)';
  return String(v);
}

export interface NamespaceJudgement {
  namespace: string;
  /** The namespace's 5xx ratio after its move, over the window. */
  errorRatio: number | undefined;
  /** Its 5xx ratio in the baseline; undefined when it had no requests then. */
  baselineErrorRatio: number | undefined;
  maxIncrease: number;
  window: string;
  query: string;
}

/** A namespace passes when its error ratio on the target is within its baseline plus the margin. */
export function judgeNamespace(j: NamespaceJudgement): Verdict {
  const base = j.baselineErrorRatio ?? 0;
  const limit = base + j.maxIncrease;
  const baseText = j.baselineErrorRatio === undefined ? 'no requests in the baseline, so 0%' : percent(base);
  if (j.errorRatio === undefined || Number.isNaN(j.errorRatio)) {
    return {
      ok: false,
      reason: `${j.namespace}: no requests measured in the last ${j.window}, so its error rate cannot be compared (Prometheus answered ${describeAnswer(j.errorRatio)} to ${j.query}). Send traffic to it, or skip this step if it serves none`,
    };
  }
  if (j.errorRatio > limit) {
    return {
      ok: false,
      reason: `${j.namespace}: error rate ${percent(j.errorRatio)} over the last ${j.window} is above its baseline ${baseText} + ${percent(j.maxIncrease)} (query: ${j.query})`,
    };
  }
  return { ok: true, summary: `error rate ${percent(j.errorRatio)} (baseline ${baseText}, limit ${percent(limit)})` };
}

export interface ShiftReading {
  /** Requests per second through the new gateway (undefined: no series yet). */
  target: number | undefined;
  /** Through the old gateway. */
  source: number | undefined;
  /** The old gateway's rate in the baseline (undefined: it had no series then). */
  sourceBaseline: number | undefined;
}

/**
 * After the TTL the new gateway must carry requests and the old one must carry fewer than before
 * the cutover. An old gateway without any series counts as carrying nothing only when it had none
 * in the baseline either (otherwise its series vanished: it is not being scraped, which proves nothing).
 */
export function judgeShift(r: ShiftReading): Verdict {
  if (r.target === undefined || Number.isNaN(r.target) || r.target <= 0) {
    return { ok: false, reason: `the new gateway carries no requests yet (${describeAnswer(r.target)})` };
  }
  if (r.source === undefined || Number.isNaN(r.source)) {
    if (r.sourceBaseline === undefined)
      return { ok: true, summary: `new gateway ${perSecond(r.target)}; the old gateway had no requests before either` };
    return {
      ok: false,
      reason: `the old gateway's requests are not measured any more (${describeAnswer(r.source)}; it had ${perSecond(r.sourceBaseline)} in the baseline): is it still scraped?`,
    };
  }
  if (r.sourceBaseline !== undefined && r.source >= r.sourceBaseline && r.source > 0) {
    return {
      ok: false,
      reason: `the old gateway still carries ${perSecond(r.source)}, not less than its baseline ${perSecond(r.sourceBaseline)}; the new one ${perSecond(r.target)}`,
    };
  }
  return {
    ok: true,
    summary: `new gateway ${perSecond(r.target)}, old gateway ${perSecond(r.source)}${r.sourceBaseline !== undefined ? ` (baseline ${perSecond(r.sourceBaseline)})` : ''}`,
  };
}

export interface DrainState {
  /** When the old gateway's rate was first seen at 0 in the current run of zeros (epoch ms). */
  zeroSince?: number;
  /** The last rate read. */
  last?: number;
}

/** The next drain state after a reading: a zero starts or extends the run, anything else ends it. */
export function nextDrainState(state: DrainState, reading: number | undefined, now: number): DrainState {
  if (reading === 0) return { zeroSince: state.zeroSince ?? now, last: 0 };
  return reading === undefined || Number.isNaN(reading) ? {} : { last: reading };
}

/** Drained once the rate has read exactly 0 (a measured zero, not an empty answer) for the whole window. */
export function drained(state: DrainState, now: number, windowMs: number): boolean {
  return state.zeroSince !== undefined && now - state.zeroSince >= windowMs;
}
