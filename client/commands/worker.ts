// `meshmove worker` (a worker on any Temporal) and `meshmove dev` (a local Temporal dev server
// persisted to SQLite, plus a worker, in one command).
import type { Command } from 'commander';
import type { Duration } from '@temporalio/common';
import { createActivities } from '../../activities/index.js';
import { createKubeAccess } from '../../activities/kube/index.js';
import { createLogger } from '../../logging/logger.js';
import { temporalTarget } from '../../worker/connection.js';
import { DEFAULT_SHUTDOWN_GRACE, serveWorker, type ServedWorker } from '../../worker/serve.js';
import { defaultDataDir, startLocalTemporal } from '../local-temporal.js';
import type { ConnectOptions } from '../temporal.js';

export interface KubeOptions {
  kubeconfig?: string;
}

export interface WorkerCommandOptions extends KubeOptions {
  /** HOST:PORT of /healthz, /readyz and /metrics (--http-address, $MESHMOVE_HTTP_ADDRESS); none = off. */
  httpAddress?: string;
  /** How long activities in flight get on SIGTERM/SIGINT (--shutdown-grace, $MESHMOVE_SHUTDOWN_GRACE). */
  shutdownGrace?: string;
}

/** `60s`, `2m`, `1500ms` or a number of milliseconds: the SDK's Duration, checked here for a clear error. */
export function parseGrace(value: string): Duration {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  if (/^\d+(\.\d+)?\s*(ms|s|m|h)$/.test(v)) return v.replace(/\s+/g, '') as Duration;
  throw new Error(`--shutdown-grace: not a duration: "${value}" (e.g. 60s, 2m, 1500ms)`);
}

/** A worker whose activities act on the cluster of each plan's kubeconfig context. */
export async function startMeshmoveWorker(target: ConnectOptions, opts: WorkerCommandOptions): Promise<ServedWorker> {
  const logger = createLogger('worker');
  const activities = createActivities({
    kube: (context) => createKubeAccess({ kubeconfig: opts.kubeconfig, context, logger }),
    logger,
    env: process.env,
  });
  return serveWorker({
    target: temporalTarget(target),
    activities,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.httpAddress ? { httpAddress: opts.httpAddress } : {}),
    shutdownGrace: parseGrace(opts.shutdownGrace ?? DEFAULT_SHUTDOWN_GRACE),
  });
}

/** Run until SIGINT/SIGTERM, then drain the worker (activities in flight finish or heartbeat out). */
export function runUntilSignal(served: ServedWorker, onStop?: () => Promise<void>): Promise<void> {
  return served.run(onStop);
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('run a meshmove worker against the Temporal service of TEMPORAL_ADDRESS / --address')
    .option('--kubeconfig <file>', 'kubeconfig for the clusters plans name (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option(
      '--http-address <host:port>',
      "serve GET /healthz (liveness), /readyz (readiness: Temporal and the API server answer) and /metrics (Prometheus: the SDK's and meshmove's) here, e.g. 0.0.0.0:9464 (default: $MESHMOVE_HTTP_ADDRESS; none: off)",
    )
    .option(
      '--shutdown-grace <duration>',
      `on SIGTERM/SIGINT, how long activities in flight get to finish or heartbeat out before they are cancelled (default: $MESHMOVE_SHUTDOWN_GRACE, else ${DEFAULT_SHUTDOWN_GRACE})`,
    )
    .action(async (opts: WorkerCommandOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConnectOptions;
      const httpAddress = opts.httpAddress ?? (process.env.MESHMOVE_HTTP_ADDRESS || undefined);
      const shutdownGrace = opts.shutdownGrace ?? (process.env.MESHMOVE_SHUTDOWN_GRACE || undefined);
      const served = await startMeshmoveWorker(g, {
        ...opts,
        ...(httpAddress ? { httpAddress } : {}),
        ...(shutdownGrace ? { shutdownGrace } : {}),
      });
      const http = served.http
        ? `; /healthz /readyz /metrics on http://${served.http.host.includes(':') ? `[${served.http.host}]` : served.http.host}:${served.http.port}`
        : '';
      process.stderr.write(
        `meshmove worker polling task queue "${served.worker.options.taskQueue}" on ${temporalTarget(g).connectionOptions.address}${http} (Ctrl-C to stop)\n`,
      );
      await runUntilSignal(served);
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
        'To run a worker against a server that is already running: meshmove worker --address 127.0.0.1:PORT\n' +
        'The server starts with eager activity dispatch (--dynamic-config-value system.enableActivityEagerExecution=true):\n' +
        'ask for the same on your own server; meshmove works the same without it, each step a little later.',
    )
    .action(async (opts: { db: string; port: string; uiPort: string; kubeconfig?: string }) => {
      const port = Number(opts.port);
      const server = await startLocalTemporal({
        db: opts.db,
        port,
        uiPort: Number(opts.uiPort),
        alreadyServingHint: `To run only a worker against it: meshmove worker --address 127.0.0.1:${port}`,
      });
      const worker = await startMeshmoveWorker(
        { address: server.address, namespace: 'default' },
        { ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}), shutdownGrace: '0' },
      ).catch(async (err: unknown) => {
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
