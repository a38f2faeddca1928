// What Prometheus scrapes from the mesh's proxies, on one loopback server: in a cluster every
// proxy serves its own /stats/prometheus (merged into :15020/stats/prometheus); here the path names
// the workload instead: GET /stats/prometheus/<namespace>/<workload>. GET /sd tells Prometheus
// where to scrape, in its http_sd format (http_sd_configs), one target per workload with a sidecar
// (gateways included) that runs or has reported requests.
import { createServer, type Server } from 'node:http';
import { closeServer, listenPreferring } from './injector-server.js';
import type { RequestMetrics } from './request-metrics.js';

export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
export const STATS_PATH = '/stats/prometheus';

export interface StatsTarget {
  namespace: string;
  workload: string;
}

/** One http_sd target group. */
export interface HttpSdGroup {
  targets: string[];
  labels: Record<string, string>;
}

export interface StatsServer {
  host: string;
  port: number;
  url: string;
  sdUrl: string;
  close(): Promise<void>;
}

/** Pure: the http_sd answer for these workloads served at host:port. */
export function httpSdGroups(hostPort: string, targets: readonly StatsTarget[]): HttpSdGroup[] {
  return targets.map((t) => ({
    targets: [hostPort],
    labels: { __metrics_path__: `${STATS_PATH}/${t.namespace}/${t.workload}`, namespace: t.namespace, workload: t.workload },
  }));
}

export async function startStatsServer(o: {
  metrics: RequestMetrics;
  /** Workloads with sidecar-injected running pods (the series' own workloads are added). */
  running: () => StatsTarget[];
  host?: string;
  preferredPort?: number;
}): Promise<StatsServer> {
  const host = o.host ?? '127.0.0.1';
  let port = 0;
  const targets = (): StatsTarget[] => {
    const all = new Map<string, StatsTarget>();
    for (const t of o.running()) all.set(`${t.namespace}/${t.workload}`, t);
    for (const key of o.metrics.workloads()) {
      const [namespace, workload] = key.split('/', 2) as [string, string];
      all.set(key, { namespace, workload });
    }
    return [...all.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, t]) => t);
  };
  const server: Server = createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://stats').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET' }).end();
      return;
    }
    if (path === '/sd') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(httpSdGroups(`${host}:${port}`, targets())));
      return;
    }
    const m = new RegExp(`^${STATS_PATH}/([^/]+)/([^/]+)$`).exec(path);
    if (m) {
      const [namespace, workload] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      if (!targets().some((t) => t.namespace === namespace && t.workload === workload)) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`no workload ${namespace}/${workload} with a sidecar\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': PROMETHEUS_TEXT }).end(o.metrics.render(namespace, workload));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`GET ${STATS_PATH}/<namespace>/<workload> or /sd\n`);
  });
  port = await listenPreferring(server, host, o.preferredPort ?? 0);
  const url = `http://${host}:${port}`;
  return { host, port, url, sdUrl: `${url}/sd`, close: () => closeServer(server) };
}
