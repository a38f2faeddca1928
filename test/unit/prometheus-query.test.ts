// The analysis client's failure catalogue and credential handling against a fake server that
// answers what Prometheus (or a proxy in front of it) may answer. What the real server answers is
// pinned in prometheus-process.test.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  isRetryable,
  parseQueryAnswer,
  parseSampleValue,
  PrometheusQueryError,
  queryInstant,
  type PromFailureReason,
} from '../../activities/analysis/prometheus.js';

const SECRET = 'Bearer s3cr3t-t0ken-value';

interface Seen {
  url: string;
  authorization: string | undefined;
}
let seen: Seen[] = [];
let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end();
let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen = [];
});

function reply(status: number, body: string, type = 'application/json'): void {
  answer = (_req, res) => {
    res.statusCode = status;
    res.setHeader('Content-Type', type);
    res.end(body);
  };
}

async function rejection(p: Promise<unknown>): Promise<PrometheusQueryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PrometheusQueryError);
  return err as PrometheusQueryError;
}

/** Everything about an error a person or a log could see. */
function shown(err: PrometheusQueryError): string {
  return [err.message, String(err), err.stack ?? '', err.answer ?? '', JSON.stringify(err)].join('\n');
}

describe('queryInstant against a fake Prometheus', () => {
  it('sends the query, the time in seconds and the Authorization header', async () => {
    reply(200, JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
    const at = new Date('2026-01-02T03:04:05.678Z');
    await queryInstant({ url: `${base}/prom/`, authHeader: SECRET, timeoutMs: 2_000 }, 'sum(rate(x[1m])) > 0', at);
    expect(seen).toHaveLength(1);
    const url = new URL(seen[0]!.url, base);
    expect(url.pathname).toBe('/prom/api/v1/query');
    expect(url.searchParams.get('query')).toBe('sum(rate(x[1m])) > 0');
    expect(url.searchParams.get('time')).toBe('1767323045.678');
    expect(url.searchParams.get('timeout')).toBe('2000ms');
    expect(seen[0]!.authorization).toBe(SECRET);
  });

  it('sends no Authorization header when there is none', async () => {
    reply(200, JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }));
    expect(await queryInstant({ url: base, timeoutMs: 2_000 }, '3')).toEqual({ resultType: 'scalar', value: 3 });
    expect(seen[0]!.authorization).toBeUndefined();
  });

  it('reads NaN, +Inf and -Inf sample values', async () => {
    const result = [
      { metric: { pod: 'a' }, value: [1, 'NaN'] },
      { metric: { pod: 'b' }, value: [1, '+Inf'] },
      { metric: { pod: 'c' }, value: [1, '-Inf'] },
      { metric: {}, value: [1, '1e-3'] },
    ];
    reply(200, JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
    const a = await queryInstant({ url: base, timeoutMs: 2_000 }, 'x');
    expect(a.resultType).toBe('vector');
    const values = a.resultType === 'vector' ? a.samples.map((s) => s.value) : [];
    expect(values).toEqual([NaN, Infinity, -Infinity, 0.001]);
    expect(a.resultType === 'vector' && a.samples[0]!.labels).toEqual({ pod: 'a' });
  });

  it('never shows the Authorization header, even when the server echoes it', async () => {
    reply(422, JSON.stringify({ status: 'error', errorType: 'execution', error: `rejected request with Authorization: ${SECRET}` }));
    const err = await rejection(queryInstant({ url: base, authHeader: SECRET, timeoutMs: 2_000 }, 'up'));
    expect(seen[0]!.authorization).toBe(SECRET); // it was sent
    expect(err).toMatchObject({ reason: 'bad-query', retryable: false, status: 422 });
    expect(err.message).toContain('execution: rejected request with Authorization: [redacted]');
    expect(shown(err)).not.toContain('s3cr3t-t0ken-value');

    reply(503, `upstream said: token s3cr3t-t0ken-value is fine, try later`, 'text/plain');
    const err503 = await rejection(queryInstant({ url: base, authHeader: SECRET, timeoutMs: 2_000 }, 'up'));
    expect(shown(err503)).not.toContain('s3cr3t-t0ken-value');
  });

  it('sends credentials in the URL as Basic auth, and never shows them', async () => {
    reply(500, 'internal error', 'text/plain');
    const err = await rejection(queryInstant({ url: base.replace('http://', 'http://user:hunter2@'), timeoutMs: 1_000 }, 'up'));
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('user:hunter2').toString('base64')}`);
    expect(err).toMatchObject({ reason: 'http', status: 500, retryable: true });
    expect(shown(err)).not.toContain('hunter2');
    expect(shown(err)).not.toContain(Buffer.from('user:hunter2').toString('base64'));
  });

  it.each<[string, number, string, PromFailureReason, boolean, RegExp]>([
    [
      'bad PromQL',
      400,
      JSON.stringify({ status: 'error', errorType: 'bad_data', error: '1:4: parse error: unexpected end of input' }),
      'bad-query',
      false,
      /HTTP 400: bad_data: 1:4: parse error/,
    ],
    [
      'a query that cannot run',
      422,
      JSON.stringify({ status: 'error', errorType: 'execution', error: 'many-to-many matching not allowed' }),
      'bad-query',
      false,
      /execution: many-to-many/,
    ],
    [
      "Prometheus's own query timeout",
      503,
      JSON.stringify({ status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' }),
      'http',
      true,
      /HTTP 503: timeout: query timed out/,
    ],
    ['a proxy failing', 502, '<html>Bad Gateway</html>', 'http', true, /HTTP 502: "<html>Bad Gateway<\/html>"/],
    ['throttling', 429, 'slow down', 'http', true, /HTTP 429/],
    ['a wrong path', 404, '404 page not found', 'http', false, /HTTP 404: "404 page not found/],
    ['credentials refused', 401, 'Unauthorized', 'http', false, /HTTP 401/],
    ['a login page', 200, '<html>Sign in</html>', 'bad-answer', false, /not JSON: "<html>Sign in/],
    ['JSON that is not the API', 200, '{"hello":"world"}', 'bad-answer', false, /not a Prometheus API answer/],
    [
      'a vector sample without a value',
      200,
      JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {} }] } }),
      'bad-answer',
      false,
      /without metric and \[time, "value"\]/,
    ],
  ])('classifies %s (HTTP %i) as %s', async (_what, status, body, reason, retryable, message) => {
    reply(status, body, body.startsWith('{') ? 'application/json' : 'text/plain');
    const query = 'sum by (pod) (up)';
    const err = await rejection(queryInstant({ url: base, timeoutMs: 2_000 }, query));
    expect(err).toMatchObject({ reason, retryable, status, query });
    expect(err.message).toContain(JSON.stringify(query));
    expect(err.message).toMatch(message);
    expect(err.answer).toBe(body.slice(0, 300));
  });

  it('keeps only the first 300 characters of a long answer', async () => {
    reply(500, 'x'.repeat(1000), 'text/plain');
    const err = await rejection(queryInstant({ url: base, timeoutMs: 2_000 }, 'up'));
    expect(err.answer).toHaveLength(300);
    expect(err.message.length).toBeLessThan(400);
  });

  it('fails an answer that does not come in time as timeout, retryable', async () => {
    answer = () => {}; // never answers
    const started = Date.now();
    const err = await rejection(queryInstant({ url: base, timeoutMs: 300 }, 'up'));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err).toMatchObject({ reason: 'timeout', retryable: true, query: 'up' });
    expect(err.message).toContain('300 ms');
  });

  it('fails a body cut off mid-answer as unreachable, retryable', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
      res.write('{"status":"succ');
      setTimeout(() => res.destroy(), 20);
    };
    const err = await rejection(queryInstant({ url: base, timeoutMs: 2_000 }, 'up'));
    expect(err).toMatchObject({ reason: 'unreachable', retryable: true });
  });
});

describe('the pure parts', () => {
  it.each<[unknown, number | undefined]>([
    ['1', 1],
    ['-2.5', -2.5],
    ['1e3', 1000],
    ['NaN', NaN],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
    ['', undefined],
    ['abc', undefined],
    [1, undefined],
    [null, undefined],
  ])('parseSampleValue(%j) = %s', (input, expected) => {
    expect(parseSampleValue(input)).toEqual(expected);
  });

  it.each<[PromFailureReason, number | undefined, boolean]>([
    ['unreachable', undefined, true],
    ['timeout', undefined, true],
    ['bad-query', 400, false],
    ['bad-query', 422, false],
    ['bad-answer', 200, false],
    ['http', 500, true],
    ['http', 503, true],
    ['http', 429, true],
    ['http', 408, true],
    ['http', 404, false],
    ['http', 403, false],
    ['http', undefined, false],
  ])('isRetryable(%s, %s) = %s', (reason, status, expected) => {
    expect(isRetryable(reason, status)).toBe(expected);
  });

  it('calls a string result a bad query', () => {
    expect(parseQueryAnswer({ status: 'success', data: { resultType: 'string', result: [1, 'x'] } })).toMatchObject({
      ok: false,
      reason: 'bad-query',
    });
  });
});
