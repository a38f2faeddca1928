// The meshmove worker: the workflows (bundled for Temporal's sandbox) and the activities built from
// their dependencies, on one task queue.
import { NativeConnection, Runtime, Worker, type WorkerOptions, type LogLevel, type InjectedSinks } from '@temporalio/worker';
import type { Duration } from '@temporalio/common';
import type { MigrationActivities } from '../activities/contract.js';
import { keepHeartbeating } from '../activities/shared/waiting.js';
import { createLogger } from '../logging/logger.js';
import { TASK_QUEUE } from '../workflows/messages.js';
import type { MeshmoveMetricsSinks } from '../workflows/interceptors.js';
import type { TemporalTarget } from './connection.js';
import { prebuiltBundle, workflowInterceptorsPath, workflowsPath } from './bundle.js';
import { activityFailureType, type MeshmoveMetrics } from './metrics.js';

let runtimeInstalled = false;

export interface RuntimeOptions {
  /**
   * Serve the SDK's own metrics (Temporal's runtime telemetry: polls, task latencies, slots...) in
   * the Prometheus format on this address (HOST:PORT). Off unless given: `meshmove worker
   * --http-address` gives a loopback port and serves them, with meshmove's, on its /metrics.
   */
  prometheusBindAddress?: string;
}

/**
 * Route the SDK's logs into pino JSON and, when asked, export its metrics. Must run before anything
 * creates the runtime; the first call wins (returns false when the runtime was already installed).
 */
export function installRuntime(opts: RuntimeOptions = {}): boolean {
  if (runtimeInstalled) return false;
  runtimeInstalled = true;
  const log = createLogger('temporal-sdk');
  const at = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') => (message: string, meta?: Record<string, unknown>) =>
    log[level](meta ?? {}, message);
  Runtime.install({
    logger: {
      log: (level: LogLevel, message: string, meta?: Record<string, unknown>) => at(level.toLowerCase() as 'info')(message, meta),
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    },
    ...(opts.prometheusBindAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: opts.prometheusBindAddress } } } } : {}),
  });
  return true;
}

export interface MeshmoveWorkerOptions {
  target: TemporalTarget;
  activities: MigrationActivities;
  taskQueue?: string;
  /** A bundle made beforehand (tests bundle once per file); else the build's, else bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  connection?: NativeConnection;
  identity?: string;
  /** Count activity failures and operator decisions here (worker/metrics.ts); absent = not counted. */
  metrics?: MeshmoveMetrics;
  /** On shutdown, how long activities in flight get to finish or heartbeat out before they are cancelled (SDK default 0). */
  shutdownGraceTime?: Duration;
}

export async function createWorker(opts: MeshmoveWorkerOptions): Promise<Worker> {
  const connection = opts.connection ?? (await NativeConnection.connect(opts.target.connectionOptions));
  const code = workflowCode(opts.workflowBundle);
  return Worker.create({
    connection,
    namespace: opts.target.namespace,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    activities: opts.activities,
    ...code,
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.shutdownGraceTime !== undefined ? { shutdownGraceTime: opts.shutdownGraceTime } : {}),
    interceptors: {
      // The decision counter; a bundle has the interceptors it was bundled with (the build's has
      // this one: worker/write-bundle.ts).
      ...(code.workflowsPath ? { workflowModules: [workflowInterceptorsPath()] } : {}),
      activity: [heartbeatLiveness, ...(opts.metrics ? [activityFailureCounter(opts.metrics)] : [])],
    },
    // keepHeartbeating repeats every 2 s; the server hears from a live worker at least every 3 s, well
    // inside the waiting activities' 10 s heartbeat timeout (the SDK would otherwise wait 0.8 x that).
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    sinks: metricSinks(opts.metrics),
  });
}

/** The workflows' decision reports (workflows/interceptors.ts), counted when there are metrics; never during replay. */
function metricSinks(metrics: MeshmoveMetrics | undefined): InjectedSinks<MeshmoveMetricsSinks> {
  return { meshmoveMetrics: { decision: { fn: (_info, d) => metrics?.decision(d), callDuringReplay: false } } };
}

/** The most time between two heartbeats the worker sends for one activity. */
export const HEARTBEAT_THROTTLE = '3s';

/**
 * Every activity with a heartbeat timeout heartbeats while it runs, between its own progress
 * reports too (activities/shared/waiting.ts keepHeartbeating): a heartbeat timeout then means a
 * dead worker, never a slow request.
 */
export const heartbeatLiveness: NonNullable<NonNullable<WorkerOptions['interceptors']>['activity']>[number] = () => ({
  inbound: { execute: (input, next) => keepHeartbeating(() => next(input)) },
});

/** An activity inbound interceptor: each failed attempt counted by activity and failure type. */
function activityFailureCounter(metrics: MeshmoveMetrics): NonNullable<NonNullable<WorkerOptions['interceptors']>['activity']>[number] {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (err) {
          metrics.activityFailure(ctx.info.activityType, activityFailureType(err));
          throw err;
        }
      },
    },
  });
}

function workflowCode(given: WorkerOptions['workflowBundle']): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (given) return { workflowBundle: given };
  const prebuilt = prebuiltBundle();
  const log = createLogger('worker');
  if (prebuilt) {
    log.info({ bundle: prebuilt.codePath }, "workflows from the build's bundle");
    return { workflowBundle: prebuilt };
  }
  log.info({ workflowsPath: workflowsPath() }, 'no current prebuilt bundle: bundling the workflows at start');
  return { workflowsPath: workflowsPath() };
}
