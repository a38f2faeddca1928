// `meshmove worker` (a worker on any Temporal) and `meshmove dev` (a local Temporal dev server
// persisted to SQLite, plus a worker, in one command).
import type { Command } from 'commander';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { createKubeAccess } from '../../activities/kube/index.js';
import { createLogger } from '../../logging/logger.js';
import { temporalTarget } from '../../worker/connection.js';
import { createWorker, installRuntime } from '../../worker/worker.js';
import { defaultDataDir, startLocalTemporal } from '../local-temporal.js';
import type { ConnectOptions } from '../temporal.js';

export interface KubeOptions {
  kubeconfig?: string;
}

/** A worker whose activities act on the cluster of each plan's kubeconfig context. */
export async function startMeshmoveWorker(target: ConnectOptions, kube: KubeOptions): Promise<Worker> {
  installRuntime();
  const logger = createLogger('worker');
  const activities = createActivities({
    kube: (context) => createKubeAccess({ kubeconfig: kube.kubeconfig, context, logger }),
    logger,
    env: process.env,
  });
  return createWorker({ target: temporalTarget(target), activities });
}

/** Run until SIGINT/SIGTERM, then drain the worker (activities in flight finish or heartbeat out). */
export async function runUntilSignal(worker: Worker, onStop?: () => Promise<void>): Promise<void> {
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await worker.run();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await onStop?.();
  }
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('run a meshmove worker against the Temporal service of TEMPORAL_ADDRESS / --address')
    .option('--kubeconfig <file>', 'kubeconfig for the clusters plans name (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .action(async (opts: KubeOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConnectOptions;
      const worker = await startMeshmoveWorker(g, opts);
      process.stderr.write(`meshmove worker polling task queue "${worker.options.taskQueue}" on ${temporalTarget(g).connectionOptions.address} (Ctrl-C to stop)\n`);
      await runUntilSignal(worker);
    });

  program
    .command('dev')
    .description('a local Temporal dev server persisted to SQLite, and a worker, in one command')
    .option('--db <file>', 'the SQLite database (runs survive restarts)', `${defaultDataDir()}/temporal.db`)
    .option('--port <n>', 'Temporal frontend port (must be free)', '7233')
    .option('--ui-port <n>', 'Temporal UI port (must be free)', '8233')
    .option('--kubeconfig <file>', 'kubeconfig for the clusters plans name')
    .addHelpText(
      'after',
      '\nIf a Temporal server already answers on --port, dev refuses (exit 1) instead of attaching its worker to it.\n' +
        'To run a worker against a server that is already running: meshmove worker --address 127.0.0.1:PORT',
    )
    .action(async (opts: { db: string; port: string; uiPort: string; kubeconfig?: string }) => {
      const port = Number(opts.port);
      const server = await startLocalTemporal({
        db: opts.db,
        port,
        uiPort: Number(opts.uiPort),
        alreadyServingHint: `To run only a worker against it: meshmove worker --address 127.0.0.1:${port}`,
      });
      const worker = await startMeshmoveWorker({ address: server.address, namespace: 'default' }, opts).catch(async (err: unknown) => {
        await server.stop();
        throw err;
      });
      process.stdout.write(
        [
          `Temporal dev server  ${server.address}   (database ${server.db})`,
          `Temporal UI          ${server.uiUrl}`,
          `meshmove worker      running`,
          '',
          `In another terminal: export TEMPORAL_ADDRESS=${server.address}`,
          '  meshmove start PLAN.yaml      then meshmove status ID --watch',
          'Ctrl-C stops both; runs resume when you start `meshmove dev` again.',
          '',
        ].join('\n'),
      );
      await runUntilSignal(worker, () => server.stop());
    });
}
