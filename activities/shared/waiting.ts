// Heartbeats and paced waiting inside an activity: heartbeat every round (the workflow sees progress, and Temporal
// delivers cancellation through heartbeats), sleep with the activity's cancellable sleep, and keep
// the deadline in the heartbeat details so an attempt resumed after a worker crash keeps the
// original deadline instead of starting a fresh one.
// Between rounds, keepHeartbeating (run around every activity by the worker) repeats the last
// details every few seconds: the heartbeat then says "this worker is alive", even while one
// request takes its full timeout, so the heartbeat timeout can be short and a dead worker's work
// moves to another worker within seconds.
import { activityInfo, cancellationSignal, Context, sleep } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';

/** What each running activity last reported, repeated by keepHeartbeating. */
const lastDetails = new WeakMap<Context, unknown>();

/** The running activity's context; undefined outside an activity (the CLI, a unit test). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Heartbeat when running as an activity; a no-op when called from the CLI or a unit test. */
export function heartbeatIfActivity(details: unknown): void {
  const ctx = activityContext();
  // Not inside an activity: nobody to report progress to.
  if (!ctx) return;
  lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

/** How often keepHeartbeating repeats the last details (the SDK throttles what it sends on). */
export const LIVENESS_EVERY_MS = 2_000;

/**
 * Runs `fn` (an activity's body) while repeating its last heartbeat details every few seconds, for
 * activities that have a heartbeat timeout. Before the activity's first heartbeat of this attempt,
 * the previous attempt's details are repeated, so that a resumed attempt that dies early does not
 * erase what the next one resumes from.
 */
export async function keepHeartbeating<T>(fn: () => Promise<T>, everyMs = LIVENESS_EVERY_MS): Promise<T> {
  const ctx = activityContext();
  const timeoutMs = ctx?.info.heartbeatTimeoutMs;
  if (!ctx || !timeoutMs) return fn();
  const repeat = () => ctx.heartbeat(lastDetails.has(ctx) ? lastDetails.get(ctx) : ctx.info.heartbeatDetails);
  const timer = setInterval(repeat, Math.max(50, Math.min(everyMs, timeoutMs / 3)));
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Heartbeat details of the previous attempt of this activity, if they look like `T`. */
export function resumedDetails<T extends object>(isT: (v: object) => boolean): T | undefined {
  const d: unknown = activityInfo().heartbeatDetails;
  return d !== null && typeof d === 'object' && isT(d) ? (d as T) : undefined;
}

/**
 * Throws the activity's cancellation once Temporal has delivered it (through a heartbeat). Call it
 * before each change an activity makes: a cancelled activity must not write any more, and the
 * workflow waits for it to end before compensating (cancellationType WAIT_CANCELLATION_COMPLETED).
 */
export function throwIfCancelled(): void {
  const signal = cancellationSignal();
  if (!signal.aborted) return;
  throw signal.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure('activity cancelled');
}

export type Poll<T, P> = { done: true; value: T } | { done: false; progress: P };

export interface PollOptions<T, P> {
  intervalMs: number;
  /** Look again sooner at first: the pace starts here and doubles up to intervalMs (what is waited for is often only a moment away). */
  firstIntervalMs?: number;
  /** Absolute deadline (epoch ms); undefined = until cancelled. */
  deadline?: number;
  now: () => number;
  check: () => Promise<Poll<T, P>>;
  /** What goes into each heartbeat besides the progress; keep it small and JSON. */
  details: (progress: P | undefined) => object;
  /** The error to throw when the deadline passes, built from the last progress seen. */
  onTimeout: (last: P | undefined) => Error;
  /**
   * Something that changes when what is waited for may have changed (a watch's events): the next
   * round runs as soon as it does, instead of after `intervalMs`, which then only paces heartbeats
   * and the fallback when the watch is gone.
   */
  changes?: Changes;
}

/**
 * A "something changed" flag a wait can sleep on. A change while the waiter is busy is not lost:
 * the next wait() returns at once.
 */
export class Changes {
  private dirty = false;
  private waiter: (() => void) | undefined;

  notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
    else this.dirty = true;
  }

  /** Resolves at the next change (at once if one happened since the last wait). */
  next(): Promise<void> {
    if (this.dirty) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}

export async function pollUntil<T, P>(o: PollOptions<T, P>): Promise<T> {
  let last: P | undefined;
  let pace = Math.min(o.firstIntervalMs ?? o.intervalMs, o.intervalMs);
  for (;;) {
    throwIfCancelled();
    const r = await o.check();
    if (r.done) return r.value;
    last = r.progress;
    heartbeatIfActivity(o.details(last));
    if (o.deadline !== undefined && o.now() >= o.deadline) throw o.onTimeout(last);
    const wait = o.deadline === undefined ? pace : Math.max(1, Math.min(pace, o.deadline - o.now()));
    pace = Math.min(pace * 2, o.intervalMs);
    // Activity sleep rejects with a CancelledFailure when the activity is cancelled.
    if (o.changes) {
      const paced = sleep(wait);
      paced.catch(() => undefined); // a cancellation after a change woke us is seen by throwIfCancelled
      await Promise.race([paced, o.changes.next()]);
    } else {
      await sleep(wait);
    }
  }
}
