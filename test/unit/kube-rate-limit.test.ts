import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../activities/kube/rate-limit.js';

describe('TokenBucket', () => {
  it('lets a burst through at once, then paces at qps', async () => {
    let now = 0;
    const slept: number[] = [];
    const bucket = new TokenBucket(
      { qps: 10, burst: 3 },
      () => now,
      async (ms) => {
        slept.push(ms);
        now += ms;
      },
    );
    for (let i = 0; i < 3; i++) await bucket.acquire();
    expect(slept).toEqual([]);
    await bucket.acquire();
    await bucket.acquire();
    // Each request past the burst waits 1/qps seconds.
    expect(slept.map((s) => Math.round(s))).toEqual([100, 100]);
    expect(Math.round(now)).toBe(200);
  });
  it('refills while idle, never beyond burst', async () => {
    let now = 0;
    const slept: number[] = [];
    const bucket = new TokenBucket(
      { qps: 1, burst: 2 },
      () => now,
      async (ms) => {
        slept.push(ms);
        now += ms;
      },
    );
    await bucket.acquire();
    await bucket.acquire();
    now += 60_000;
    await bucket.acquire();
    await bucket.acquire();
    expect(slept).toEqual([]);
    await bucket.acquire();
    expect(slept.length).toBe(1);
  });
  it('rejects nonsense settings', () => {
    expect(() => new TokenBucket({ qps: 0, burst: 1 })).toThrow(/qps > 0/);
  });
});
