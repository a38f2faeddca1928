// Connections to the API server, kept. @kubernetes/client-node 1.4 makes a new https.Agent for
// every request (KubeConfig.createAgent, private): each request opened its own TLS connection and
// parsed the CA bundle again. On the benchmark that was the worker's largest cost, and the server
// pays a handshake per request too. Here the kubeconfig makes one keep-alive agent per distinct
// TLS material and hands it out again while that material stays the same.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';

type AgentOptions = Record<string, unknown>;
type MakeAgent = (cluster: Cluster | null, options: AgentOptions) => http.Agent;

/** What makes two requests' connections interchangeable (client-node's agent options). */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

export interface KeptConnections {
  /** An idle connection is closed after this long (under the API server's own idle timeout, 90 s). */
  idleMs: number;
  /** An agent replaced by new TLS material (a client certificate re-read) is closed this long after. */
  retireMs: number;
}

const DEFAULTS: KeptConnections = { idleMs: 30_000, retireMs: 120_000 };

/**
 * Makes `kc` reuse one keep-alive agent for as long as the TLS material stays the same. Headers
 * (tokens, exec credentials) are still applied per request. A client-node without the private
 * `createAgent` is left as it is: every request then connects anew, as before.
 */
export function keepConnections(kc: KubeConfig, opts: Partial<KeptConnections> = {}): KubeConfig {
  const { idleMs, retireMs } = { ...DEFAULTS, ...opts };
  const target = kc as unknown as { createAgent?: MakeAgent };
  if (typeof target.createAgent !== 'function') return kc;
  const make = target.createAgent.bind(kc);
  let held: { key: string; agent: http.Agent } | undefined;
  target.createAgent = (cluster, options) => {
    const key = agentKey(cluster, options);
    if (held?.key === key) return held.agent;
    const old = held?.agent;
    // Requests in flight on the old agent finish (a watch that outlives this ends and is reopened).
    if (old) setTimeout(() => old.destroy(), retireMs).unref();
    // `timeout` closes only idle sockets (Node's agent destroys a free socket on timeout); requests
    // keep their own timeouts.
    held = { key, agent: make(cluster, { ...options, keepAlive: true, timeout: idleMs }) };
    return held.agent;
  };
  return kc;
}

function agentKey(cluster: Cluster | null, options: AgentOptions): string {
  const h = createHash('sha256');
  h.update(`${cluster?.server ?? ''}\0${cluster?.proxyUrl ?? ''}\0${String(cluster?.skipTLSVerify ?? '')}`);
  for (const field of TLS_FIELDS) {
    const v = options[field];
    h.update(`\0${field}=`);
    if (v === undefined) continue;
    h.update(Buffer.isBuffer(v) || typeof v === 'string' ? v : JSON.stringify(v));
  }
  return h.digest('hex');
}
