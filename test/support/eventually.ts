// Polling for a state that comes about asynchronously (a rollout, a watch event, a proxy that
// connects): the one helper the tests share.

export interface EventuallyOptions {
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /**
   * An attempt that throws: 'retry' (default) polls on and names the last error if time runs out;
   * 'throw' fails at once with the error, for waits whose every attempt must succeed (the API
   * server under test answering an error is a finding, not a reason to ask again).
   */
  onError?: 'retry' | 'throw';
}

/**
 * Calls `fn` until it returns something other than `undefined` or `false`, and returns that; after
 * `timeoutMs` fails with what was awaited, how many attempts were made, what the last one gave and
 * the last error seen. The fourth argument may be the interval alone (ms).
 */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  options: EventuallyOptions | number = {},
): Promise<T> {
  const { intervalMs = 50, onError = 'retry' } = typeof options === 'number' ? { intervalMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let last: string;
  let lastError: { error: unknown } | undefined;
  for (;;) {
    attempts++;
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = `returned ${String(v)}`;
    } catch (error) {
      if (onError === 'throw') throw error;
      lastError = { error };
      last = 'threw';
    }
    if (Date.now() > deadline) {
      const err = lastError ? `; last error: ${String(lastError.error)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${attempts} attempts, the last ${last}${err})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
