// The DNS provider webhook the cutover calls (the `webhook` provider of the plan), and the operator
// routes for the `manual` provider. Contract, implemented the same by the activities' sender:
//   POST <url>   Content-Type: application/json
//     X-Meshmove-Timestamp: <unix seconds>
//     X-Meshmove-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + rawBody)>
//   body {"records":[{"name":"shop.y7test.com","type":"A","address":"127.0.0.20","ttl":30}],"migrationId":"...","requestId":"..."}
//   → 401 on a bad signature or a timestamp more than 300 s away from now
//   → 400 on a body that does not validate
//   → 200 {"changed": boolean, "records": [...]}; the same content again → changed false.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isIpv4, normalizeName, type ARecord, type DnsZone } from './zone.js';

/** Used when the scenario's secret variable is unset, so `meshmove demo` works out of the box. Never use it for real. */
export const DEMO_DNS_SECRET = 'meshmove-demo-dns-secret';
export const MAX_CLOCK_SKEW_SECONDS = 300;
export const TIMESTAMP_HEADER = 'x-meshmove-timestamp';
export const SIGNATURE_HEADER = 'x-meshmove-signature';

export function signDnsRequest(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function verifyDnsSignature(
  secret: string,
  headers: { timestamp?: string | undefined; signature?: string | undefined },
  rawBody: Buffer,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): SignatureCheck {
  const ts = headers.timestamp;
  if (!ts || !/^\d+$/.test(ts)) return { ok: false, reason: 'missing or malformed X-Meshmove-Timestamp' };
  if (Math.abs(nowSeconds - Number(ts)) > MAX_CLOCK_SKEW_SECONDS)
    return { ok: false, reason: `timestamp more than ${MAX_CLOCK_SKEW_SECONDS}s from the server clock` };
  const sig = headers.signature ?? '';
  if (!/^sha256=[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: 'missing or malformed X-Meshmove-Signature' };
  const expected = Buffer.from(signDnsRequest(secret, ts, rawBody));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'signature does not match' };
  return { ok: true };
}

const ipv4 = z.string().refine(isIpv4, 'an IPv4 address');
export const dnsWebhookBody = z.object({
  records: z
    .array(
      z.object({
        name: z
          .string()
          .min(1)
          .regex(/^[a-z0-9.-]+$/i, 'a DNS name'),
        type: z.literal('A').default('A'),
        address: ipv4,
        ttl: z.number().int().min(0).max(86_400).default(30),
      }),
    )
    .min(1, 'at least one record'),
  migrationId: z.string().optional(),
  requestId: z.string().optional(),
});

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

export interface ControlRoute {
  method: string;
  path: string;
  handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;
}

export interface DnsControlInfo {
  host: string;
  port: number;
}

/**
 * The routes under /_twin/dns: the signed webhook (POST /_twin/dns), the listing
 * (GET /_twin/dns) and the manual provider's operator route (PUT /_twin/dns/records/NAME).
 */
export function dnsControlRoutes(zone: DnsZone, secret: () => string, info: () => DnsControlInfo): ControlRoute[] {
  const header = (req: IncomingMessage, name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return [
    {
      method: 'POST',
      path: '/_twin/dns',
      handler: (req, res, body) => {
        const check = verifyDnsSignature(
          secret(),
          { timestamp: header(req, TIMESTAMP_HEADER), signature: header(req, SIGNATURE_HEADER) },
          body,
        );
        if (!check.ok) return send(res, 401, { error: 'unauthorized', reason: check.reason });
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          return send(res, 400, { error: 'body is not JSON' });
        }
        const parsed = dnsWebhookBody.safeParse(json);
        if (!parsed.success)
          return send(res, 400, { error: 'invalid body', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
        const records: ARecord[] = parsed.data.records.map((r) => ({
          name: normalizeName(r.name),
          type: 'A',
          address: r.address,
          ttl: r.ttl,
        }));
        const changed = zone.apply(records);
        return send(res, 200, { changed, records: records.map((r) => zone.lookup(r.name)) });
      },
    },
    {
      method: 'GET',
      path: '/_twin/dns',
      handler: (_req, res) => send(res, 200, { ...info(), records: zone.list(), changes: zone.changes }),
    },
    {
      method: 'PUT',
      path: '/_twin/dns/records/*',
      handler: (req, res, body) => {
        const name = normalizeName(decodeURIComponent((req.url ?? '').split('?')[0]!.slice('/_twin/dns/records/'.length)));
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          return send(res, 400, { error: 'body is not JSON: {"address": "127.0.0.20", "ttl": 30}' });
        }
        const parsed = z.object({ address: ipv4, ttl: z.number().int().min(0).max(86_400).optional() }).safeParse(json);
        if (!name || !parsed.success)
          return send(res, 400, { error: 'PUT /_twin/dns/records/NAME with {"address": "127.0.0.20", "ttl": 30}' });
        const ttl = parsed.data.ttl ?? zone.lookup(name)?.ttl ?? 30;
        const changed = zone.apply([{ name, type: 'A', address: parsed.data.address, ttl }]);
        return send(res, 200, { changed, record: zone.lookup(name) });
      },
    },
  ];
}
