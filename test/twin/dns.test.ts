// The twin's DNS: a real server answering over UDP (node:dns Resolver) and TCP (length-prefixed
// messages on a socket), changed through the signed webhook served by the real API server.
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { request } from 'node:http';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../logging/logger.js';
import { startApiServer, type ApiServer } from '../../twin/apiserver/index.js';
import { startDnsServer, type DnsServer } from '../../twin/dns/server.js';
import { dnsControlRoutes, signDnsRequest, verifyDnsSignature } from '../../twin/dns/webhook.js';
import { DnsZone } from '../../twin/dns/zone.js';

const logger = createLogger('test-dns');
const SECRET = 'test-secret';

function tcpQuery(port: number, name: string): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () =>
      sock.write(dnsPacket.streamEncode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] })),
    );
    let buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.end();
        resolve(dnsPacket.streamDecode(buf));
      }
    });
    sock.on('error', reject);
  });
}

function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function signed(body: object, secret = SECRET, ts = Math.floor(Date.now() / 1000)): { raw: string; headers: Record<string, string> } {
  const raw = JSON.stringify(body);
  return { raw, headers: { 'X-Meshmove-Timestamp': String(ts), 'X-Meshmove-Signature': signDnsRequest(secret, String(ts), raw) } };
}

describe('twin DNS', () => {
  let zone: DnsZone;
  let dns: DnsServer;
  let api: ApiServer;
  let resolver: Resolver;

  beforeAll(async () => {
    zone = new DnsZone([{ name: 'shop.y7test.com', type: 'A', address: '127.0.0.10', ttl: 30 }]);
    dns = await startDnsServer(zone, { port: 0, logger });
    api = await startApiServer({ logger });
    for (const r of dnsControlRoutes(
      zone,
      () => SECRET,
      () => ({ host: dns.host, port: dns.port }),
    ))
      api.registerControlRoute(r.method, r.path, r.handler);
    resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
  });
  afterAll(async () => {
    await dns?.close();
    await api?.close();
  });

  it('answers A with the TTL over UDP, NXDOMAIN for unknown names', async () => {
    expect(await resolver.resolve4('shop.y7test.com', { ttl: true })).toEqual([{ address: '127.0.0.10', ttl: 30 }]);
    expect(await resolver.resolve4('SHOP.y7test.com.')).toEqual(['127.0.0.10']);
    await expect(resolver.resolve4('nope.y7test.com')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // the name exists but has no AAAA: NODATA, not NXDOMAIN
    await expect(resolver.resolve6('shop.y7test.com')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('answers over TCP', async () => {
    const res = await tcpQuery(dns.port, 'shop.y7test.com');
    expect(res.id).toBe(7);
    expect(res.answers).toEqual([expect.objectContaining({ type: 'A', name: 'shop.y7test.com', ttl: 30, data: '127.0.0.10' })]);
    expect(((await tcpQuery(dns.port, 'nope.y7test.com')) as dnsPacket.DecodedPacket & { rcode: string }).rcode).toBe('NXDOMAIN');
  });

  it('changes through the signed webhook; the same content again is no change; bad signatures are 401', async () => {
    const body = {
      records: [
        { name: 'shop.y7test.com', type: 'A', address: '127.0.0.20', ttl: 30 },
        { name: 'api.y7test.com', type: 'A', address: '127.0.0.20', ttl: 30 },
      ],
      migrationId: 'r1',
      requestId: 'q1',
    };
    const first = signed(body);
    const r1 = await post(`${api.url}/_twin/dns`, first.raw, first.headers);
    expect(r1).toMatchObject({ status: 200, json: { changed: true } });
    expect(await resolver.resolve4('shop.y7test.com')).toEqual(['127.0.0.20']);
    expect(await resolver.resolve4('api.y7test.com')).toEqual(['127.0.0.20']);
    const again = signed(body);
    expect(await post(`${api.url}/_twin/dns`, again.raw, again.headers)).toMatchObject({ status: 200, json: { changed: false } });

    const wrong = signed({ ...body, records: [{ name: 'shop.y7test.com', address: '127.0.0.99', ttl: 30 }] }, 'other-secret');
    expect((await post(`${api.url}/_twin/dns`, wrong.raw, wrong.headers)).status).toBe(401);
    const old = signed(body, SECRET, Math.floor(Date.now() / 1000) - 301);
    expect((await post(`${api.url}/_twin/dns`, old.raw, old.headers)).status).toBe(401);
    const tampered = signed(body);
    expect((await post(`${api.url}/_twin/dns`, tampered.raw.replace('127.0.0.20', '127.0.0.66'), tampered.headers)).status).toBe(401);
    expect((await post(`${api.url}/_twin/dns`, first.raw, {})).status).toBe(401);
    expect(await resolver.resolve4('shop.y7test.com')).toEqual(['127.0.0.20']);
    const bad = signed({ records: [{ name: 'shop.y7test.com', address: 'not-an-ip' }] });
    expect((await post(`${api.url}/_twin/dns`, bad.raw, bad.headers)).status).toBe(400);
  });

  it('the manual provider route sets a record; GET lists them', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${api.url}/_twin/dns/records/shop.y7test.com`,
        { method: 'PUT', agent: false, headers: { 'Content-Type': 'application/json' } },
        (r) => {
          r.resume();
          r.on('end', () => resolve(r.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ address: '127.0.0.10' }));
    });
    expect(res).toBe(200);
    expect(await resolver.resolve4('shop.y7test.com', { ttl: true })).toEqual([{ address: '127.0.0.10', ttl: 30 }]);
    const list = (await (await fetch(`${api.url}/_twin/dns`)).json()) as { port: number; records: Array<{ name: string }> };
    expect(list.port).toBe(dns.port);
    expect(list.records.map((r) => r.name)).toEqual(['api.y7test.com', 'shop.y7test.com']);
  });

  it.each([
    [{ timestamp: '1000', signature: signDnsRequest('s', '1000', 'b') }, 1000, true],
    [{ timestamp: '1000', signature: signDnsRequest('s', '1000', 'b') }, 1300, true],
    [{ timestamp: '1000', signature: signDnsRequest('s', '1000', 'b') }, 1301, false],
    [{ timestamp: '1000', signature: signDnsRequest('s', '1000', 'b') }, 699, false],
    [{ timestamp: '1000', signature: signDnsRequest('t', '1000', 'b') }, 1000, false],
    [{ timestamp: '1001', signature: signDnsRequest('s', '1000', 'b') }, 1000, false],
    [{ timestamp: 'x', signature: signDnsRequest('s', 'x', 'b') }, 1000, false],
    [{ timestamp: '1000' }, 1000, false],
  ])('verifyDnsSignature %j at %i → %s', (headers, now, ok) => {
    expect(verifyDnsSignature('s', headers, Buffer.from('b'), now).ok).toBe(ok);
  });
});
