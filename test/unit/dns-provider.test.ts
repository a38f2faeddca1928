import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDnsProvider,
  dnsRequestId,
  dnsSettled,
  describeAnswers,
  observeAddress,
  signBody,
  type DnsRecordChange,
} from '../../activities/dns/index.js';

const SECRET = 'test-secret-value';
interface Seen {
  headers: http.IncomingHttpHeaders;
  body: string;
}
const seen: Seen[] = [];
let reply: { status: number; body: string; headers?: Record<string, string> } = { status: 200, body: '{"changed":true}' };
let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dns`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const records: DnsRecordChange[] = [{ name: 'shop.y7test.com', type: 'A', address: '127.0.0.9', ttl: 30 }];
const webhook = (env: Record<string, string | undefined>) =>
  createDnsProvider({ type: 'webhook', url, secretEnv: 'DNS_SECRET' }, { env, timeoutMs: 2000, now: () => 1_700_000_000_000 });

describe('webhook provider', () => {
  it('POSTs the records signed with HMAC-SHA256 over "ts.body"', async () => {
    seen.length = 0;
    reply = { status: 200, body: '{"changed":true}' };
    const r = await webhook({ DNS_SECRET: SECRET }).apply(records, '127.0.0.9', { migrationId: 'run1', requestId: 'req1' });
    expect(r.changed).toBe(true);
    const req = seen[0]!;
    expect(JSON.parse(req.body)).toEqual({
      records: [{ name: 'shop.y7test.com', type: 'A', address: '127.0.0.9', ttl: 30 }],
      migrationId: 'run1',
      requestId: 'req1',
    });
    expect(req.headers['x-meshmove-timestamp']).toBe('1700000000');
    const expected = `sha256=${createHmac('sha256', SECRET).update(`1700000000.${req.body}`).digest('hex')}`;
    expect(req.headers['x-meshmove-signature']).toBe(expected);
    expect(signBody(SECRET, '1700000000', req.body)).toBe(expected);
    // The secret never travels in clear.
    expect(JSON.stringify(req.headers) + req.body).not.toContain(SECRET);
  });

  it('reports changed:false when the receiver says the records already pointed there', async () => {
    reply = { status: 200, body: '{"changed":false}' };
    expect((await webhook({ DNS_SECRET: SECRET }).apply(records, '127.0.0.9', { migrationId: 'r', requestId: 'q' })).changed).toBe(false);
  });

  it('a missing secret is non-retryable and names the variable, without calling the receiver', async () => {
    seen.length = 0;
    const err = await webhook({})
      .apply(records, '127.0.0.9', { migrationId: 'r', requestId: 'q' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toContain('DNS_SECRET');
    expect(seen).toHaveLength(0);
  });

  const statusCases: Array<[number, boolean, number | undefined]> = [
    [401, true, undefined],
    [422, true, undefined],
    [429, false, 7000],
    [503, false, undefined],
  ];
  for (const [status, nonRetryable, delay] of statusCases) {
    it(`answer ${status} → ${nonRetryable ? 'non-retryable' : 'retryable'}`, async () => {
      reply = { status, body: 'nope', headers: status === 429 ? { 'retry-after': '7' } : {} };
      const err = (await webhook({ DNS_SECRET: SECRET })
        .apply(records, '127.0.0.9', { migrationId: 'r', requestId: 'q' })
        .catch((e: unknown) => e)) as ApplicationFailure;
      expect(err.nonRetryable).toBe(nonRetryable);
      expect(err.message).toContain(String(status));
      if (delay !== undefined) expect(err.nextRetryDelay).toBe(delay);
    });
  }

  it('describe() never contains the secret', () => {
    expect(webhook({ DNS_SECRET: SECRET }).describe()).not.toContain(SECRET);
  });
});

describe('manual provider', () => {
  it('changes nothing and says what to do', async () => {
    const r = await createDnsProvider({ type: 'manual' }, { env: {}, timeoutMs: 1 }).apply(records, '127.0.0.9', {
      migrationId: 'r',
      requestId: 'q',
    });
    expect(r.changed).toBe(false);
    expect(r.instruction).toContain('shop.y7test.com at 127.0.0.9 (TTL 30s)');
  });
});

describe('pure DNS decisions', () => {
  it('request id is stable per run and change, independent of record order', () => {
    const two: DnsRecordChange[] = [...records, { name: 'api.y7test.com', type: 'A', address: '127.0.0.9', ttl: 30 }];
    expect(dnsRequestId('run1', two)).toBe(dnsRequestId('run1', [...two].reverse()));
    expect(dnsRequestId('run1', two)).not.toBe(dnsRequestId('run2', two));
  });

  const settled: Array<[string, Parameters<typeof dnsSettled>[0], boolean]> = [
    [
      'all answer the address',
      [
        { resolver: 'r', name: 'a', answers: ['1.1.1.1'] },
        { resolver: 'r', name: 'b', answers: ['1.1.1.1'] },
      ],
      true,
    ],
    [
      'one still old',
      [
        { resolver: 'r', name: 'a', answers: ['1.1.1.1'] },
        { resolver: 'r', name: 'b', answers: ['2.2.2.2'] },
      ],
      false,
    ],
    ['mixed answer', [{ resolver: 'r', name: 'a', answers: ['1.1.1.1', '2.2.2.2'] }], false],
    ['error', [{ resolver: 'r', name: 'a', answers: { error: 'ENOTFOUND' } }], false],
    ['nothing asked', [], false],
  ];
  for (const [name, answers, ok] of settled) it(`dnsSettled: ${name}`, () => expect(dnsSettled(answers, '1.1.1.1')).toBe(ok));

  it('describeAnswers lists what is not there yet', () => {
    expect(
      describeAnswers(
        [
          { resolver: '127.0.0.1:53', name: 'b', answers: ['2.2.2.2'] },
          { resolver: 'x', name: 'a', answers: { error: 'ETIMEOUT' } },
        ],
        '1.1.1.1',
      ),
    ).toEqual(['b via 127.0.0.1:53: 2.2.2.2', 'a via x: ETIMEOUT']);
  });

  it('observeAddress restarts the window on any change', () => {
    const a = observeAddress(undefined, '1.1.1.1', 100);
    expect(observeAddress(a, '1.1.1.1', 200)).toEqual({ address: '1.1.1.1', since: 100 });
    expect(observeAddress(a, '2.2.2.2', 300)).toEqual({ address: '2.2.2.2', since: 300 });
    expect(observeAddress(a, undefined, 400)).toEqual({ address: null, since: 400 });
  });
});
