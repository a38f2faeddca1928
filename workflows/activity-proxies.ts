// How the workflows call the activities: timeouts and retry policies per kind of work. Activity
// types are imported type-only; the worker registers the implementations.
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { MigrationActivities } from '../activities/contract.js';
import { NON_RETRYABLE } from '../activities/failures.js';

/** Knobs the tests turn down (a killed worker's activity is retried after the heartbeat timeout). */
export interface EngineOptions {
  /**
   * How long a waiting activity may go silent before Temporal retries it elsewhere. Default 10 s:
   * the worker heartbeats every running activity every few seconds (worker/worker.ts), so silence
   * means a dead worker, not a slow request.
   */
  heartbeatTimeoutMs?: number;
  /** Continue-as-new once the history has this many events (the server suggests it at 4 Ki). */
  maxHistoryEvents?: number;
  /** Notifications (plan.notify): one request's bound, attempts in all, and the wait for them at the run's end. */
  notify?: { timeoutMs?: number; attempts?: number; endWaitMs?: number };
}

/**
 * patched() id of waiting for cancelled activities (see activityProxies): runs whose history was
 * written without it replay with TRY_CANCEL.
 */
export const WAIT_FOR_CANCELLED_ACTIVITIES_PATCH = 'wait-for-cancelled-activities';

const RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

export interface Proxies {
  /** Reads and single changes: seconds each, retried on transient errors. */
  quick: MigrationActivities;
  /** Waits (rollouts, CA, DNS, stability windows, probes): heartbeat, resumable. */
  waiting: MigrationActivities;
  /**
   * Work over the whole plan (preflight, backup, decommission): seconds on a small cluster, minutes
   * on one with thousands of namespaces. They heartbeat after each part, so a lost worker is still
   * noticed, but they are not cut off at two minutes.
   */
  scan: MigrationActivities;
}

/**
 * Whether a cancelled activity is waited for. With `true` (WAIT_CANCELLATION_COMPLETED) the
 * workflow goes on (to its compensation) only once the activity has really stopped: it learns of the
 * cancellation at its next heartbeat and ends, or it completes. With `false` (TRY_CANCEL, what runs
 * started before this change replay with) the workflow goes on at once while the activity may still
 * be acting: a compensating restart then fought the cancelled forward restart (issue 8).
 */
export function activityProxies(options: EngineOptions = {}, longestWaitMs = 30 * 60_000, waitForCancelled = true): Proxies {
  const cancellationType = waitForCancelled ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED : ActivityCancellationType.TRY_CANCEL;
  const quick: ActivityOptions = {
    cancellationType,
    startToCloseTimeout: '2m',
    retry: {
      ...RETRY,
      maximumAttempts: 6,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
  const waiting: ActivityOptions = {
    cancellationType,
    // The activity enforces the plan's own timeouts; this bound only catches a lost worker.
    startToCloseTimeout: longestWaitMs + 5 * 60_000,
    heartbeatTimeout: options.heartbeatTimeoutMs ?? 10_000,
    retry: {
      ...RETRY,
      maximumAttempts: 4,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
  const scan: ActivityOptions = {
    cancellationType,
    startToCloseTimeout: '30m',
    heartbeatTimeout: options.heartbeatTimeoutMs ?? '2m',
    retry: quick.retry,
  };
  return {
    quick: proxyActivities<MigrationActivities>(quick),
    waiting: proxyActivities<MigrationActivities>(waiting),
    scan: proxyActivities<MigrationActivities>(scan),
  };
}
