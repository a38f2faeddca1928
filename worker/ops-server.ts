// The worker's operations endpoint (`meshmove worker --http-address HOST:PORT`), one HTTP server:
//
//   GET /healthz  liveness: 200 while the process and its worker are alive (starting, running or
//                 draining); 503 once the worker has failed. It does not look at Temporal or the API
//                 server, so an outage of either does not get the pod restarted.
//   GET /readyz   readiness: 200 when the worker is running and Temporal answers on its connection,
//                 and the Kubernetes API server of the worker's kubeconfig (or in-cluster config)
//                 answers GET /version, each within a short timeout; else 503 with the reason in plain
//                 text. 503 from the moment shutdown begins.
//   GET /metrics  Prometheus text format: the SDK's own metrics (read from its loopback exporter)
//                 followed by meshmove's (worker/metrics.ts).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { loadKubeConfig } from '../activities/kube/client.js';
import type { MeshmoveMetrics } from './metrics.js';
import type { RunGauges } from './run-gauges.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parse HOST:PORT (`0.0.0.0:9464`, `[::]:9464`, `:9464` = all interfaces). */
export function parseHostPort(address: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`not a HOST:PORT address: "${address}" (e.g. 0.0.0.0:9464)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A free loopback port for the SDK's exporter (which cannot tell which port it was given for 0). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Check {
  ok: boolean;
  reason: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** GET /version on the API server of the kubeconfig's current context (or in-cluster config). */
export async function kubeApiAnswers(kubeconfig: string | undefined, timeoutMs: number): Promise<Check> {
  let kc;
  try {
    kc = loadKubeConfig(kubeconfig ? { kubeconfig } : {});
  } catch (err) {
    return { ok: false, reason: `Kubernetes API server: ${(err as Error).message}` };
  }
  const server = kc.getCurrentCluster()!.server;
  try {
    const base = new URL(server);
    const opts: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs };
    await kc.applyToHTTPSOptions(opts);
    const lib = base.protocol === 'https:' ? https : http;
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const req = lib.request(
          {
            ...opts,
            protocol: base.protocol,
            hostname: base.hostname,
            port: base.port,
            path: `${base.pathname.replace(/\/$/, '')}/version`,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end();
      }),
      timeoutMs + 500,
      'GET /version',
    );
    if (status >= 200 && status < 300) return { ok: true, reason: `Kubernetes API server ${server} answers` };
    return { ok: false, reason: `Kubernetes API server ${server}: GET /version answered ${status}` };
  } catch (err) {
    return { ok: false, reason: `Kubernetes API server ${server} cannot be reached: ${(err as Error).message}` };
  }
}

export interface WorkerProbesOptions {
  worker: Worker;
  connection: NativeConnection;
  /** The worker's kubeconfig (undefined: $KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  timeoutMs?: number;
}

/** What /healthz and /readyz answer for one worker. */
export class WorkerProbes {
  private shuttingDown = false;
  private readonly timeoutMs: number;

  constructor(private readonly opts: WorkerProbesOptions) {
    this.timeoutMs = opts.timeoutMs ?? 2_000;
  }

  /** Readiness turns 503 now (called on SIGTERM/SIGINT, before the worker drains). */
  shutdownBegins(): void {
    this.shuttingDown = true;
  }

  live(): Check {
    const state = this.opts.worker.getState();
    if (state === 'FAILED') return { ok: false, reason: 'the worker failed' };
    return { ok: true, reason: `alive (worker ${state.toLowerCase()})` };
  }

  async ready(): Promise<Check> {
    if (this.shuttingDown) return { ok: false, reason: 'shutting down: draining the activities in flight' };
    const state = this.opts.worker.getState();
    if (state !== 'RUNNING') return { ok: false, reason: `the worker is ${state.toLowerCase()}` };
    const [temporal, kube] = await Promise.all([
      withTimeout(this.opts.connection.workflowService.getSystemInfo({}), this.timeoutMs, 'Temporal').then(
        () => ({ ok: true, reason: 'Temporal answers' }),
        (err: unknown) => ({ ok: false, reason: `Temporal cannot be reached: ${(err as Error).message.split('\n')[0]}` }),
      ),
      kubeApiAnswers(this.opts.kubeconfig, this.timeoutMs),
    ]);
    if (this.shuttingDown) return { ok: false, reason: 'shutting down: draining the activities in flight' };
    const failed = [temporal, kube].filter((c) => !c.ok);
    if (failed.length) return { ok: false, reason: failed.map((c) => c.reason).join('; ') };
    return { ok: true, reason: `ready: ${temporal.reason}; ${kube.reason}` };
  }
}

export interface OpsServerOptions {
  address: HostPort;
  probes: { live(): Check; ready(): Promise<Check> };
  metrics: MeshmoveMetrics;
  /** The SDK's Prometheus exporter (loopback), read for every scrape. */
  sdkMetricsUrl?: string;
  runGauges?: RunGauges;
}

export interface OpsServer {
  /** Where it listens (the port chosen when 0 was asked for). */
  address: HostPort;
  close(): Promise<void>;
}

async function sdkExposition(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) return undefined;
    const text = await res.text();
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  } catch {
    return undefined;
  }
}

export function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const text = (res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'GET only\n');
    void (async () => {
      switch (path) {
        case '/healthz': {
          const c = opts.probes.live();
          return text(res, c.ok ? 200 : 503, `${c.reason}\n`);
        }
        case '/readyz': {
          const c = await opts.probes.ready();
          return text(res, c.ok ? 200 : 503, `${c.reason}\n`);
        }
        case '/metrics': {
          const [sdk] = await Promise.all([
            opts.sdkMetricsUrl ? sdkExposition(opts.sdkMetricsUrl) : Promise.resolve(undefined),
            opts.runGauges?.refresh(),
          ]);
          const up = `# HELP meshmove_sdk_metrics_up Whether the Temporal SDK's own metrics were read for this scrape.\n# TYPE meshmove_sdk_metrics_up gauge\nmeshmove_sdk_metrics_up ${sdk === undefined ? 0 : 1}\n`;
          return text(res, 200, `${sdk ?? ''}${opts.metrics.registry.render()}${up}`, 'text/plain; version=0.0.4; charset=utf-8');
        }
        default:
          return text(res, 404, 'not found: GET /healthz, /readyz or /metrics\n');
      }
    })().catch((err: unknown) => {
      if (!res.headersSent) text(res, 500, `${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.address.port, opts.address.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: opts.address.host, port: a.port },
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
