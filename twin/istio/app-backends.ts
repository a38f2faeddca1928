// The scenario's application workloads answering for real: one loopback HTTP server stands in for
// every app container. Gateways and the probe runner forward to it naming the destination service
// in a header (the way Envoy would have picked the upstream cluster); requests through the API
// server's service proxy or port-forward reach it too (the pods' endpoint annotation points here).
import { createServer, request, type Server } from 'node:http';
import { closeServer, listenPreferring } from './injector-server.js';

export const DESTINATION_HEADER = 'x-twin-destination';

export interface BackendReply {
  app: 'twin-backend';
  /** The service the call was routed to, when the caller said so. */
  service: string | null;
  namespace: string | null;
  path: string;
  method: string;
}

export interface AppBackends {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startAppBackends(host = '127.0.0.1', preferredPort = 0): Promise<AppBackends> {
  const server: Server = createServer((req, res) => {
    const dest = req.headers[DESTINATION_HEADER];
    const [service, namespace] = typeof dest === 'string' && dest.includes('.') ? (dest.split('.', 2) as [string, string]) : [null, null];
    const reply: BackendReply = {
      app: 'twin-backend',
      service,
      namespace,
      path: (req.url ?? '/').split('?')[0]!,
      method: req.method ?? 'GET',
    };
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply)));
  });
  const port = await listenPreferring(server, host, preferredPort);
  return { host, port, url: `http://${host}:${port}`, close: () => closeServer(server) };
}

export interface ForwardResult {
  status: number;
  body: Buffer;
  headers: Record<string, string>;
}

/** Sends the request on to the app server as the chosen upstream `service.namespace`. */
export function forwardToBackend(
  backends: Pick<AppBackends, 'host' | 'port'>,
  dest: { service: string; namespace: string },
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<ForwardResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: backends.host,
        port: backends.port,
        method,
        path,
        headers: { ...headers, [DESTINATION_HEADER]: `${dest.service}.${dest.namespace}` },
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
          resolve({ status: res.statusCode ?? 502, body: Buffer.concat(chunks), headers: h });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('upstream request timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
