// A meshmove worker process as `meshmove worker` runs it: the worker, and with an HTTP address its
// operations endpoint (worker/ops-server.ts: /healthz, /readyz, /metrics with the SDK's metrics and
// meshmove's), and a graceful shutdown on SIGTERM/SIGINT: readiness turns 503 at once, the worker
// stops polling and gives the activities in flight the grace time to finish or heartbeat out, then
// the process may exit 0.
import { NativeConnection, type Worker, type WorkerOptions } from '@temporalio/worker';
import type { Duration } from '@temporalio/common';
import { observeKubeRequests } from '../activities/kube/client.js';
import type { MigrationActivities } from '../activities/contract.js';
import { createLogger } from '../logging/logger.js';
import type { TemporalTarget } from './connection.js';
import { MeshmoveMetrics } from './metrics.js';
import { freeLoopbackPort, parseHostPort, startOpsServer, WorkerProbes, type HostPort, type OpsServer } from './ops-server.js';
import { RunGauges } from './run-gauges.js';
import { createWorker, installRuntime } from './worker.js';

export const DEFAULT_SHUTDOWN_GRACE = '60s';

export interface ServeOptions {
  target: TemporalTarget;
  activities: MigrationActivities;
  /** The kubeconfig the activities use by default; readiness asks its API server (undefined: default/in-cluster). */
  kubeconfig?: string;
  /** HOST:PORT of /healthz, /readyz and /metrics; none: no HTTP server and no metrics exporter. */
  httpAddress?: string;
  /** How long activities in flight get on shutdown (SDK Duration: ms or e.g. "60s"). */
  shutdownGrace?: Duration;
  workflowBundle?: WorkerOptions['workflowBundle'];
  identity?: string;
}

export interface ServedWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Where the operations endpoint listens, when there is one. */
  http?: HostPort;
  /** Run until SIGINT/SIGTERM (or `stop`), drain, and release everything; resolves after the drain. */
  run(onStop?: () => Promise<void>): Promise<void>;
  /** Begin the graceful shutdown (what a signal does). */
  stop(): void;
}

export async function serveWorker(opts: ServeOptions): Promise<ServedWorker> {
  const log = createLogger('worker');
  const http = opts.httpAddress ? parseHostPort(opts.httpAddress) : undefined;
  let sdkMetricsUrl: string | undefined;
  if (http) {
    const port = await freeLoopbackPort();
    if (installRuntime({ prometheusBindAddress: `127.0.0.1:${port}` })) sdkMetricsUrl = `http://127.0.0.1:${port}/metrics`;
    else log.warn("the Temporal runtime was installed before the worker: the SDK's own metrics are not exported");
  } else installRuntime();

  const metrics = http ? new MeshmoveMetrics() : undefined;
  if (metrics) observeKubeRequests((o) => metrics.kubeRequest(o));
  const connection = await NativeConnection.connect(opts.target.connectionOptions);
  let worker: Worker;
  try {
    worker = await createWorker({
      target: opts.target,
      connection,
      activities: opts.activities,
      shutdownGraceTime: opts.shutdownGrace ?? DEFAULT_SHUTDOWN_GRACE,
      ...(metrics ? { metrics } : {}),
      ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : {}),
      ...(opts.identity ? { identity: opts.identity } : {}),
    });
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
  const probes = new WorkerProbes({ worker, connection, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) });
  let server: OpsServer | undefined;
  if (http && metrics) {
    try {
      server = await startOpsServer({
        address: http,
        probes,
        metrics,
        ...(sdkMetricsUrl ? { sdkMetricsUrl } : {}),
        runGauges: new RunGauges(metrics, { connection, namespace: opts.target.namespace }),
      });
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw new Error(`cannot serve --http-address ${opts.httpAddress}: ${(err as Error).message}`, { cause: err });
    }
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    probes.shutdownBegins();
    log.info(
      { state: worker.getState(), inFlightActivities: worker.getStatus().numInFlightActivities },
      'shutting down: not ready, draining the activities in flight',
    );
    if (worker.getState() === 'RUNNING' || worker.getState() === 'INITIALIZED') worker.shutdown();
  };
  return {
    worker,
    connection,
    ...(server ? { http: server.address } : {}),
    stop,
    run: async (onStop) => {
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await worker.run();
        log.info('the worker drained and stopped');
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        if (metrics) observeKubeRequests(undefined);
        const t = Date.now();
        await server?.close();
        log.debug({ ms: Date.now() - t }, 'operations server closed');
        await connection.close().catch(() => undefined);
        log.debug({ ms: Date.now() - t }, 'Temporal connection closed');
        await onStop?.();
      }
    },
  };
}
