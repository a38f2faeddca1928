// Latency percentiles in bounded memory: a run may last a day, and the live progress line asks for
// a snapshot every second, so samples go into log-spaced buckets (each 2% wider than the last)
// instead of an ever-growing array. A percentile is the upper bound of its bucket, clamped to the
// exact maximum: never under-reported, at most 2% over.
const GROWTH = 1.02;
const FLOOR_MS = 0.01;
const LOG_GROWTH = Math.log(GROWTH);

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export class LatencyHistogram {
  private readonly buckets = new Map<number, number>();
  private count = 0;
  private max = 0;

  record(ms: number): void {
    const v = Math.max(ms, FLOOR_MS);
    const index = Math.ceil(Math.log(v / FLOOR_MS) / LOG_GROWTH);
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
    const indexes = [...this.buckets.keys()].sort((a, b) => a - b);
    const at = (q: number): number => {
      const rank = Math.ceil(q * this.count);
      let seen = 0;
      for (const i of indexes) {
        seen += this.buckets.get(i)!;
        if (seen >= rank) return round(Math.min(FLOOR_MS * GROWTH ** i, this.max));
      }
      return round(this.max);
    };
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(this.max) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
