// The worker heartbeats every running activity that has a heartbeat timeout, between the activity's
// own progress reports too, repeating the last details (or the previous attempt's, until the first
// report): a heartbeat timeout then means a dead worker, and what a resumed attempt reads is kept.
import { setTimeout as wait } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { heartbeatIfActivity } from '../../activities/shared/waiting.js';
import { heartbeatLiveness } from '../../worker/worker.js';

function recorded(env: MockActivityEnvironment): unknown[] {
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  return beats;
}

describe('heartbeat liveness', () => {
  it('repeats the previous attempt’s details, then the last reported ones, while a step is silent; stops with the activity', async () => {
    const env = new MockActivityEnvironment(
      { heartbeatTimeoutMs: 300, heartbeatDetails: { resumeFrom: 'a' } },
      { interceptors: [heartbeatLiveness] },
    );
    const beats = recorded(env);
    await env.run(async () => {
      await wait(450);
      heartbeatIfActivity({ step: 'b' });
      await wait(450);
    });
    const before = beats.findIndex((b) => JSON.stringify(b) === '{"step":"b"}');
    expect(before).toBeGreaterThanOrEqual(3);
    expect(beats.slice(0, before).every((b) => JSON.stringify(b) === '{"resumeFrom":"a"}')).toBe(true);
    expect(beats.slice(before).filter((b) => JSON.stringify(b) === '{"step":"b"}').length).toBeGreaterThanOrEqual(4);
    const count = beats.length;
    await wait(300);
    expect(beats.length).toBe(count);
  });

  it('leaves an activity without a heartbeat timeout alone', async () => {
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: undefined }, { interceptors: [heartbeatLiveness] });
    const beats = recorded(env);
    await env.run(() => wait(300));
    expect(beats).toEqual([]);
  });
});
