// istiod's monitoring port (15014): /debug/syncz as istioctl proxy-status reads it (docs/istio-facts.md §6) and
// /metrics with Istio's real metric names (docs/istio-facts.md §8). There is deliberately no
// pilot_xds_push_errors_total: it does not exist in Istio since 1.3, whatever runbooks say.
import { createServer, type Server } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { closeServer, listenPreferring } from './injector-server.js';

export const SENDERR_TYPES = ['cds_senderr', 'eds_senderr', 'lds_senderr', 'rds_senderr'] as const;
export type SendErrType = (typeof SENDERR_TYPES)[number];

export interface MonitoringSource {
  revision: string;
  version: string;
  /** Pods whose sidecar is connected to this istiod. */
  connectedProxies(): V1Pod[];
  isStale(pod: V1Pod): boolean;
  /** Current push error counts by type (faults make them grow). */
  pushErrors(): Record<SendErrType, number>;
  /** Pushes so far (grows with proxy connections). */
  pushes(): number;
}

const NONCE_TYPES = ['cluster', 'listener', 'route', 'endpoint'] as const;

/** One element of istiod's /debug/syncz (pilot/pkg/xds SyncStatus, JSON names). */
export interface SynczRecord {
  cluster_id: string;
  proxy: string;
  istio_version: string;
  [sentOrAcked: string]: string;
}

/** One syncz entry; a stale proxy has acked an older nonce for endpoints and routes. */
export function synczEntry(pod: V1Pod, version: string, nonce: string, stale: boolean): SynczRecord {
  const entry: SynczRecord = {
    cluster_id: 'Kubernetes',
    // The proxy's id is <pod>.<namespace> (model.Proxy.ID of a sidecar).
    proxy: `${pod.metadata?.name ?? ''}.${pod.metadata?.namespace ?? ''}`,
    istio_version: version,
  };
  for (const t of NONCE_TYPES) {
    entry[`${t}_sent`] = nonce;
    entry[`${t}_acked`] = stale && (t === 'endpoint' || t === 'route') ? `${nonce.split('/')[0]}/previous` : nonce;
  }
  return entry;
}

export function renderMetrics(src: MonitoringSource): string {
  const connected = src.connectedProxies().length;
  const errs = src.pushErrors();
  const pushes = src.pushes();
  const lines = [
    '# HELP pilot_xds Number of endpoints connected to this pilot using XDS.',
    '# TYPE pilot_xds gauge',
    `pilot_xds{version="${src.version}"} ${connected}`,
    '# HELP pilot_xds_pushes Pilot build and send errors for lds, rds, cds and eds.',
    '# TYPE pilot_xds_pushes counter',
    ...['cds', 'eds', 'lds', 'rds'].map((t) => `pilot_xds_pushes{type="${t}"} ${pushes}`),
    // Like Istio's exporter, a labelled error series exists once it has been recorded.
    ...SENDERR_TYPES.filter((t) => errs[t] > 0).map((t) => `pilot_xds_pushes{type="${t}"} ${errs[t]}`),
    '# HELP pilot_total_xds_internal_errors Total number of internal XDS errors in pilot.',
    '# TYPE pilot_total_xds_internal_errors counter',
    'pilot_total_xds_internal_errors 0',
    '# HELP pilot_total_xds_rejects Total number of XDS responses from pilot rejected by proxy.',
    '# TYPE pilot_total_xds_rejects counter',
    '# HELP pilot_xds_push_context_errors Number of errors (timeouts) initiating push context.',
    '# TYPE pilot_xds_push_context_errors counter',
    'pilot_xds_push_context_errors 0',
    '# HELP pilot_xds_write_timeout Pilot XDS response write timeouts.',
    '# TYPE pilot_xds_write_timeout counter',
    'pilot_xds_write_timeout 0',
    '# HELP pilot_xds_expired_nonce Total number of XDS requests with an expired nonce.',
    '# TYPE pilot_xds_expired_nonce counter',
    `istiod_revision_info{revision="${src.revision}"} 1`,
  ];
  return `${lines.join('\n')}\n`;
}

export interface MonitoringServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startMonitoringServer(src: MonitoringSource, host = '127.0.0.1', preferredPort = 0): Promise<MonitoringServer> {
  const started = Date.now();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/debug/syncz') {
      const nonce = `${new Date(started).toISOString()}/${src.pushes()}`;
      const body = src.connectedProxies().map((p) => synczEntry(p, src.version, nonce, src.isStale(p)));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(renderMetrics(src));
      return;
    }
    if (path === '/ready') {
      res.writeHead(200).end();
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
  });
  const port = await listenPreferring(server, host, preferredPort);
  return { url: `http://${host}:${port}`, port, close: () => closeServer(server) };
}
