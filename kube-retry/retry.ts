// Retrying a Kubernetes API request: the rules meshmove's transport (activities/kube/client.ts) and
// the twin's components (twin/istio/kube-client.ts) share, so each layer retries the same way.
// They are HTTP's, not Istio's or meshmove's: which answers allow sending the same request again
// unchanged, how long to wait (the server's Retry-After, else exponential backoff), when to stop,
// and a conflict handed back to the caller that re-reads. This folder imports neither the product
// nor the twin, which is why the twin (the referee, barred from the product's code) may use it.

/**
 * An answer after which the same request may be sent again unchanged: 408 (the server timed out),
 * 429 (throttled) and 5xx (the server, or something behind it, failed). Not 409: a Conflict says
 * the object changed since the request was built, so resending it fails again; the caller re-reads
 * and decides again (`retryOnConflict`). Other 4xx repeat the same refusal.
 */
export function resendableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A Retry-After header (seconds, or an HTTP date) in ms; undefined when absent or unreadable. */
export function parseRetryAfterHeader(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const secs = Number(header.trim());
  if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** What the caller's classifier says about one failed attempt. */
export interface FailedAttempt {
  /** The same request may be sent again unchanged (see `resendableStatus`). */
  resend: boolean;
  /** The server's Retry-After (ms), used instead of the backoff. */
  retryAfterMs?: number | undefined;
}

export interface RetryPolicy<F extends FailedAttempt> {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  /** Backoff before the second attempt, doubled after each further failure ... */
  baseDelayMs: number;
  /** ... up to this. */
  maxBackoffMs: number;
  /** A longer wait (a long Retry-After) ends this layer's retries: the caller's outer layer waits. */
  maxDelayMs?: number;
  classify(err: unknown): F;
  /** Every failed attempt, with the wait before the next one (undefined: no next one). */
  onFailure?(err: unknown, failure: F, attempt: number, retryInMs: number | undefined): void;
  /** What to throw once this layer stops (default: the attempt's error). */
  giveUp?(err: unknown, failure: F): unknown;
  /** Stop retrying (the component is closing). */
  stopped?(): boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `attempt` until it succeeds or `policy` says to stop; `attempt` gets its number (1-based). */
export async function withRetries<T, F extends FailedAttempt>(attempt: (n: number) => Promise<T>, policy: RetryPolicy<F>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const failure = policy.classify(err);
      const delay = failure.retryAfterMs ?? Math.min(policy.baseDelayMs * 2 ** (n - 1), policy.maxBackoffMs);
      const again = failure.resend && n < policy.attempts && delay <= (policy.maxDelayMs ?? Infinity) && !policy.stopped?.();
      policy.onFailure?.(err, failure, n, again ? delay : undefined);
      if (!again) throw policy.giveUp ? policy.giveUp(err, failure) : err;
      await sleep(delay);
    }
  }
}

/**
 * The caller's layer above the transport: `readAndWrite` re-reads what its write depends on and
 * writes; a conflict (another writer came first) runs it again, up to `attempts` times in all.
 */
export async function retryOnConflict<T>(
  readAndWrite: (attempt: number) => Promise<T>,
  isConflict: (err: unknown) => boolean,
  attempts = 5,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await readAndWrite(n);
    } catch (err) {
      if (!isConflict(err) || n >= attempts) throw err;
    }
  }
}
