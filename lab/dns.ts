// The DNS provider beside the lab (DNS is not part of a control plane): the twin's authoritative
// DNS server (real UDP/TCP on loopback) and its signed webhook, the contract of the plan's
// `webhook` provider, on an HTTP server of its own.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../logging/logger.js';
import { startDnsServer, type DnsServer } from '../twin/dns/server.js';
import { dnsControlRoutes } from '../twin/dns/webhook.js';
import { DnsZone, type ARecord } from '../twin/dns/zone.js';

export interface LabDns {
  zone: DnsZone;
  /** The plan's dns.provider.url. */
  webhookUrl: string;
  /** The plan's dns.resolvers entry (host:port). */
  resolver: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function startLabDns(records: readonly ARecord[], secret: string): Promise<LabDns> {
  const zone = new DnsZone(records);
  const logger = createLogger('lab-dns');
  const dns: DnsServer = await startDnsServer(zone, { port: 0, logger });
  const routes = dnsControlRoutes(
    zone,
    () => secret,
    () => ({ host: dns.host, port: dns.port }),
  );
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const route = routes.find(
        (r) => r.method === req.method && (r.path.endsWith('*') ? path.startsWith(r.path.slice(0, -1)) : path === r.path),
      );
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      void Promise.resolve(route.handler(req, res, Buffer.concat(chunks))).catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    zone,
    webhookUrl: `http://127.0.0.1:${port}/_twin/dns`,
    resolver: `${dns.host}:${dns.port}`,
    host: dns.host,
    port: dns.port,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await dns.close();
    },
  };
}
