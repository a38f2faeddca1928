// The requestErrors Istio fault (scenario.ts): which requests fail and with what status.
// Deterministic, not random: each fault entry keeps an accumulator that grows by `rate` per request
// it applies to and fails the request each time it reaches 1, so rate 0.5 fails every 2nd request
// and 0.25 every 4th. A test or a rehearsal sees exactly the rate it set. Changing the faults
// starts every accumulator again at 0.
import type { RequestErrorFault } from '../scenario.js';
import type { IstioFaultState } from './fault-state.js';

/** Where a request is when a fault may hit it. */
export type ErrorSite =
  /** At a destination pod of `namespace`, whose sidecar was injected by `revision` (null: none). */
  | { kind: 'destination'; namespace: string; revision: string | null }
  /** At gateway `<ns>/<name>`, routing to a pod injected by `revision` (null: none or no pod). */
  | { kind: 'gateway'; gateway: string; revision: string | null };

/** Pure: does this fault entry apply to a request at this site? */
export function faultApplies(f: RequestErrorFault, site: ErrorSite): boolean {
  if (site.kind === 'destination' ? f.namespace !== site.namespace : f.gateway !== site.gateway) return false;
  return f.revision === undefined || f.revision === site.revision;
}

/** Pure: the next accumulator value and whether this request fails. */
export function accumulate(acc: number, rate: number): { acc: number; fail: boolean } {
  const next = acc + rate;
  // A small tolerance: 0.1 added ten times is 0.9999999999999999.
  if (next >= 1 - 1e-9) return { acc: next - 1, fail: true };
  return { acc: next, fail: false };
}

export class RequestErrorInjector {
  private acc = new Map<number, number>();
  private readonly unsubscribe: () => void;

  constructor(private readonly faults: IstioFaultState) {
    this.unsubscribe = faults.onChange(() => {
      this.acc = new Map();
    });
  }

  /** The status this request fails with at `site`, or undefined when it goes through. */
  next(site: ErrorSite): number | undefined {
    const list = this.faults.get().requestErrors;
    let status: number | undefined;
    list.forEach((f, i) => {
      if (!faultApplies(f, site)) return;
      // Every matching entry counts the request, so each keeps its own rate.
      const r = accumulate(this.acc.get(i) ?? 0, f.rate);
      this.acc.set(i, r.acc);
      if (r.fail && status === undefined) status = f.status;
    });
    return status;
  }

  stop(): void {
    this.unsubscribe();
  }
}
