// The meshmove worker: the workflows (bundled for Temporal's sandbox) and the activities built from
// their dependencies, on one task queue.
import { NativeConnection, Runtime, Worker, type WorkerOptions, type LogLevel } from '@temporalio/worker';
import type { MigrationActivities } from '../activities/contract.js';
import { createLogger } from '../logging/logger.js';
import { TASK_QUEUE } from '../workflows/messages.js';
import type { TemporalTarget } from './connection.js';
import { prebuiltBundle, workflowsPath } from './bundle.js';

let runtimeInstalled = false;

/** Route the SDK's own logs into pino JSON. Must run before anything creates the runtime. */
export function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const log = createLogger('temporal-sdk');
  const at = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') => (message: string, meta?: Record<string, unknown>) => log[level](meta ?? {}, message);
  Runtime.install({
    logger: {
      log: (level: LogLevel, message: string, meta?: Record<string, unknown>) => at(level.toLowerCase() as 'info')(message, meta),
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    },
  });
}

export interface MeshmoveWorkerOptions {
  target: TemporalTarget;
  activities: MigrationActivities;
  taskQueue?: string;
  /** A bundle made beforehand (tests bundle once per file); else the build's, else bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  connection?: NativeConnection;
  identity?: string;
}

export async function createWorker(opts: MeshmoveWorkerOptions): Promise<Worker> {
  const connection = opts.connection ?? (await NativeConnection.connect(opts.target.connectionOptions));
  return Worker.create({
    connection,
    namespace: opts.target.namespace,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    activities: opts.activities,
    ...workflowCode(opts.workflowBundle),
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}

function workflowCode(given: WorkerOptions['workflowBundle']): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (given) return { workflowBundle: given };
  const prebuilt = prebuiltBundle();
  const log = createLogger('worker');
  if (prebuilt) {
    log.info({ bundle: prebuilt.codePath }, 'workflows from the build\'s bundle');
    return { workflowBundle: prebuilt };
  }
  log.info({ workflowsPath: workflowsPath() }, 'no current prebuilt bundle: bundling the workflows at start');
  return { workflowsPath: workflowsPath() };
}
