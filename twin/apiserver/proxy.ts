// The services/proxy and pods/proxy subresources: the request is forwarded over HTTP to a ready
// backend's annotated loopback address (see podnetwork.ts), as the apiserver proxies to pod IPs.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors } from './errors.js';
import { podAddress, type PodAddress, type PodNetwork } from './podnetwork.js';
import type { KubeObject } from './types.js';

/** `name`, `name:port`, `scheme:name:port` or `scheme:name:` as in the proxy URL. */
export function parseProxyName(raw: string): { scheme?: string | undefined; name: string; port?: string | undefined } {
  const parts = decodeURIComponent(raw).split(':');
  if (parts.length === 1) return { name: parts[0]! };
  if (parts.length === 2) return { name: parts[0]!, port: parts[1] || undefined };
  return { scheme: parts[0] || undefined, name: parts[1]!, port: parts[2] || undefined };
}

const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
]);

export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  target: PodAddress,
  path: string,
  scheme?: string,
): Promise<void> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_HEADERS.has(k)) headers[k] = v;
    headers['content-length'] = String(body.length);
    const useHttps = (scheme ?? target.scheme) === 'https';
    const mod = useHttps ? https : http;
    const out = mod.request(
      {
        host: target.host,
        port: target.port,
        method: req.method,
        path,
        headers,
        ...(useHttps ? { rejectUnauthorized: false } : {}),
        timeout: 30_000,
      },
      (up) => {
        const h: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_HEADERS.has(k)) h[k] = v;
        res.writeHead(up.statusCode ?? 502, h);
        up.pipe(res);
        up.on('end', () => resolve());
        up.on('error', () => {
          res.destroy();
          resolve();
        });
      },
    );
    out.on('timeout', () => out.destroy(new Error('timeout')));
    out.on('error', (e) => {
      const err = Errors.serviceUnavailable(`error trying to reach service: ${e.message}`);
      if (!res.headersSent) {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(err.toStatus()));
      } else res.destroy();
      resolve();
    });
    out.end(body);
  });
}

let roundRobin = 0;

export function serviceTarget(
  network: PodNetwork,
  namespace: string,
  rawName: string,
): { target: PodAddress; scheme?: string | undefined } {
  const { scheme, name, port } = parseProxyName(rawName);
  const lookup = network.serviceBackends(namespace, name, port === undefined ? '' : /^\d+$/.test(port) ? Number(port) : port);
  if (!lookup.service) throw Errors.notFound('', 'services', name);
  let backends = lookup.backends;
  if (!lookup.portFound && port === undefined) {
    // No port given: the service's only port.
    const ports = ((lookup.service.spec ?? {}).ports ?? []) as Array<{ port: number }>;
    if (ports.length === 1) backends = network.serviceBackends(namespace, name, ports[0]!.port).backends;
  } else if (!lookup.portFound) {
    throw Errors.serviceUnavailable(`no service port "${port ?? ''}" found for service "${name}"`);
  }
  const usable = backends.filter((b) => b.address);
  if (usable.length === 0) throw Errors.serviceUnavailable(`no endpoints available for service "${name}"`);
  return { target: usable[roundRobin++ % usable.length]!.address!, scheme };
}

export function podTarget(pod: KubeObject, rawName: string): { target: PodAddress; scheme?: string | undefined } {
  const { scheme, port } = parseProxyName(rawName);
  const containers = (pod.spec?.containers ?? []) as Array<{ ports?: Array<{ containerPort: number; name?: string }> }>;
  let portNum: number | undefined = port !== undefined && /^\d+$/.test(port) ? Number(port) : undefined;
  if (port !== undefined && portNum === undefined)
    for (const c of containers) for (const p of c.ports ?? []) if (p.name === port) portNum = p.containerPort;
  if (portNum === undefined) portNum = containers.flatMap((c) => c.ports ?? [])[0]?.containerPort;
  const addr = portNum === undefined ? undefined : podAddress(pod, portNum);
  if (!addr)
    throw Errors.serviceUnavailable(`error trying to reach pod ${pod.metadata.name ?? ''}: no listener for port ${portNum ?? '?'}`);
  return { target: addr, scheme };
}
