// Client-side rate limiting, as client-go's token bucket: `burst` requests may go at once, then
// `qps` per second. A migration of 2,000 namespaces must not become a load test of the apiserver
// (nor trip its priority-and-fairness into 429s for everyone else).

export interface RateLimitOptions {
  /** Sustained requests per second. */
  qps: number;
  /** Requests allowed at once after an idle period. */
  burst: number;
}

/**
 * 20 qps was the whole migration's pace: on the benchmark (bench/compare.ts, 200 namespaces x 5
 * Deployments, 20 in flight, ~22 requests each) the worker sent 19.5 requests/s for the whole run,
 * waiting on this bucket. 100 qps lets 20-50 namespaces in flight move at the cluster's pace and is
 * still what one controller of kube-controller-manager's size asks of an apiserver; a 429 from
 * priority-and-fairness is retried after its Retry-After.
 */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { qps: 100, burst: 200 };

export class TokenBucket {
  private tokens: number;
  private last: number;
  // Waiters are served in arrival order so a busy caller cannot starve another.
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    if (!(opts.qps > 0) || !(opts.burst >= 1))
      throw new Error(`rate limit needs qps > 0 and burst >= 1 (got qps=${opts.qps}, burst=${opts.burst})`);
    this.tokens = opts.burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((t - this.last) / 1000) * this.opts.qps);
    this.last = t;
  }

  /** Resolves when the caller may send one request. */
  acquire(): Promise<void> {
    const turn = this.queue.then(async () => {
      this.refill();
      if (this.tokens < 1) {
        await this.sleep(((1 - this.tokens) / this.opts.qps) * 1000);
        this.refill();
      }
      this.tokens -= 1;
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}
