// kube-retry: the retry rules the product's transport and the twin's components share.
import { describe, expect, it } from 'vitest';
import { parseRetryAfterHeader, resendableStatus, retryOnConflict, withRetries } from '../../kube-retry/retry.js';

const policy = { attempts: 4, baseDelayMs: 1, maxBackoffMs: 4 };
const failure = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status });
const byStatus = (err: unknown) => ({ resend: resendableStatus((err as { status: number }).status) });

describe('kube-retry', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [404, false],
    [409, false],
    [422, false],
  ])('status %i is safe to resend unchanged: %s', (status, resend) => {
    expect(resendableStatus(status)).toBe(resend);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfterHeader('3')).toBe(3_000);
    expect(parseRetryAfterHeader(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfterHeader(undefined)).toBeUndefined();
    expect(parseRetryAfterHeader('soon')).toBeUndefined();
  });

  it('resends what is safe until it succeeds, and reports each failure with the wait before the next', async () => {
    const seen: (number | undefined)[] = [];
    let calls = 0;
    const result = await withRetries(
      async () => {
        if (++calls < 3) throw failure(503);
        return 'ok';
      },
      { ...policy, classify: byStatus, onFailure: (_e, _f, _n, retryInMs) => seen.push(retryInMs) },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual([1, 2]);
  });

  it('a conflict is not resent: it leaves at once, as giveUp makes it', async () => {
    let calls = 0;
    const err = await withRetries(
      async () => {
        calls++;
        throw failure(409);
      },
      { ...policy, classify: byStatus, giveUp: (e) => new Error(`gave up: ${(e as Error).message}`) },
    ).catch((e: Error) => e);
    expect(calls).toBe(1);
    expect(err).toEqual(new Error('gave up: HTTP 409'));
  });

  it('stops after `attempts`, and at once when a Retry-After is longer than maxDelayMs', async () => {
    let calls = 0;
    const attempt = async () => {
      calls++;
      throw failure(500);
    };
    await expect(withRetries(attempt, { ...policy, classify: byStatus })).rejects.toThrow('HTTP 500');
    expect(calls).toBe(4);
    calls = 0;
    await expect(
      withRetries(attempt, { ...policy, maxDelayMs: 100, classify: () => ({ resend: true, retryAfterMs: 60_000 }) }),
    ).rejects.toThrow('HTTP 500');
    expect(calls).toBe(1);
  });

  it('retryOnConflict runs the read-and-write again on a conflict only, up to its attempts', async () => {
    const isConflict = (e: unknown) => (e as { status?: number }).status === 409;
    const failing = (status: number, failures: number) => {
      let calls = 0;
      const fn = async (n: number) => {
        calls++;
        if (calls <= failures) throw failure(status);
        return n;
      };
      return { fn, calls: () => calls };
    };
    expect(await retryOnConflict(failing(409, 2).fn, isConflict)).toBe(3);
    const always = failing(409, Infinity);
    await expect(retryOnConflict(always.fn, isConflict, 2)).rejects.toThrow('HTTP 409');
    expect(always.calls()).toBe(2);
    const notFound = failing(404, Infinity);
    await expect(retryOnConflict(notFound.fn, isConflict)).rejects.toThrow('HTTP 404');
    expect(notFound.calls()).toBe(1);
  });
});
