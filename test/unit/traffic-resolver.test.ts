// The load generator's resolver against the twin's real DNS server: answers kept for their TTL,
// asked again after it, failures not cached, concurrent lookups shared.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../logging/logger.js';
import { isLoopbackAddress, loopbackLiteral, parseHostPort } from '../../traffic/loopback.js';
import { createTtlResolver } from '../../traffic/resolver.js';
import { startDnsServer, type DnsServer } from '../../twin/dns/server.js';
import { DnsZone } from '../../twin/dns/zone.js';

const logger = createLogger('test-traffic-resolver');

describe('TTL resolver against a real DNS server', () => {
  let zone: DnsZone;
  let dns: DnsServer;
  let server: string;

  beforeAll(async () => {
    zone = new DnsZone([
      { name: 'shop.y7test.com', type: 'A', address: '127.0.0.10', ttl: 1 },
      { name: 'zero.y7test.com', type: 'A', address: '127.0.0.10', ttl: 0 },
    ]);
    dns = await startDnsServer(zone, { port: 0, logger });
    server = `${dns.host}:${dns.port}`;
  });
  afterAll(() => dns.close());

  it('keeps an answer for its TTL and asks again once it expires', async () => {
    let clock = 0;
    const r = createTtlResolver({ servers: [server], now: () => clock });
    const first = await r.resolve('shop.y7test.com');
    expect(first).toMatchObject({ ok: true, address: '127.0.0.10', ttlSeconds: 1, cached: false });
    zone.apply([{ name: 'shop.y7test.com', type: 'A', address: '127.0.0.20', ttl: 1 }]);
    const before = dns.queries();
    clock = 999;
    expect(await r.resolve('SHOP.y7test.com.')).toMatchObject({ ok: true, address: '127.0.0.10', cached: true });
    expect(dns.queries()).toBe(before);
    clock = 1000;
    expect(await r.resolve('shop.y7test.com')).toMatchObject({ ok: true, address: '127.0.0.20', cached: false });
    expect(dns.queries()).toBe(before + 1);
    expect(r.queries()).toBe(2);
    zone.apply([{ name: 'shop.y7test.com', type: 'A', address: '127.0.0.10', ttl: 1 }]);
  });

  it('asks every time for a TTL of 0', async () => {
    const r = createTtlResolver({ servers: [server], now: () => 0 });
    await r.resolve('zero.y7test.com');
    await r.resolve('zero.y7test.com');
    expect(r.queries()).toBe(2);
  });

  it('reports a failed resolution and does not cache it', async () => {
    const r = createTtlResolver({ servers: [server], now: () => 0 });
    const miss = await r.resolve('later.y7test.com');
    expect(miss.ok).toBe(false);
    expect(miss.ok ? '' : miss.reason).toMatch(/later\.y7test\.com.*ENOTFOUND/);
    zone.apply([{ name: 'later.y7test.com', type: 'A', address: '127.0.0.20', ttl: 30 }]);
    expect(await r.resolve('later.y7test.com')).toMatchObject({ ok: true, address: '127.0.0.20' });
    expect(r.queries()).toBe(2);
  });

  it('reports an unreachable DNS server as a failure with a reason', async () => {
    const r = createTtlResolver({ servers: ['127.0.0.1:9'], timeoutMs: 300 });
    const res = await r.resolve('shop.y7test.com');
    expect(res.ok).toBe(false);
    expect(res.ok ? '' : res.reason).toMatch(/^resolving shop\.y7test\.com: /);
  });

  it('shares one query among concurrent lookups of a name', async () => {
    const r = createTtlResolver({ servers: [server], now: () => 0 });
    const before = dns.queries();
    const all = await Promise.all(Array.from({ length: 10 }, () => r.resolve('shop.y7test.com')));
    expect(all.every((a) => a.ok && a.address === '127.0.0.10')).toBe(true);
    expect(dns.queries() - before).toBe(1);
  });

  it('does not ask DNS for IP literals or localhost', async () => {
    const r = createTtlResolver({ servers: [server] });
    expect(await r.resolve('127.0.0.20')).toMatchObject({ ok: true, address: '127.0.0.20' });
    expect(await r.resolve('localhost')).toMatchObject({ ok: true, address: '127.0.0.1' });
    expect(r.queries()).toBe(0);
  });
});

describe('loopback decisions', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['127.0.0.20', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['192.0.2.1', false],
    ['::2', false],
    ['::ffff:10.0.0.1', false],
    ['localhost', false],
  ])('isLoopbackAddress(%s) = %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });

  it.each([
    ['127.0.0.1:53', { host: '127.0.0.1', port: 53 }],
    ['[::1]:5353', { host: '::1', port: 5353 }],
    ['127.0.0.1', undefined],
    ['127.0.0.1:0', undefined],
    ['127.0.0.1:70000', undefined],
    ['::1:53', undefined],
  ])('parseHostPort(%s)', (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });

  it.each([
    ['localhost', '127.0.0.1'],
    ['LOCALHOST.', '127.0.0.1'],
    ['[::1]', '::1'],
    ['127.0.0.20', '127.0.0.20'],
    ['shop.y7test.com', undefined],
  ])('loopbackLiteral(%s)', (host, expected) => {
    expect(loopbackLiteral(host)).toBe(expected);
  });
});
