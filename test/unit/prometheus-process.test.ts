// The analysis client against a real Prometheus (scripts/prometheus.sh's binary): it scrapes a target
// this file serves, found through http_sd, and answers the queries analysis makes. One server for
// the file; a missing binary fails here with `bash scripts/prometheus.sh` as the fix.
// The first rate takes about 6 s: Prometheus passes discovered targets to scraping at most every 5 s.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PrometheusQueryError, queryInstant, type PrometheusEndpoint } from '../../activities/analysis/prometheus.js';
import { freePort } from '../../lab/ports.js';
import { findPrometheus, prometheusConfig, startPrometheus } from '../../lab/prometheus.js';
import { createLogger } from '../../logging/logger.js';
import { startTestPrometheus, usePrometheus } from '../support/prometheus.js';

let target: http.Server;
let targetAddress = '';
let scrapes = 0;
let requests = 0;

beforeAll(async () => {
  target = http.createServer((req, res) => {
    if (req.url === '/sd') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify([{ targets: [targetAddress], labels: { app: 'fake' } }]));
    } else if (req.url === '/metrics') {
      scrapes++;
      requests += 7; // a counter that rises between any two scrapes
      res.setHeader('Content-Type', 'text/plain; version=0.0.4');
      res.end(
        `# HELP test_requests_total Requests served.\n# TYPE test_requests_total counter\ntest_requests_total{path="/x"} ${requests}\n`,
      );
    } else if (req.url === '/static-metrics') {
      res.setHeader('Content-Type', 'text/plain; version=0.0.4');
      res.end('# TYPE test_static_gauge gauge\ntest_static_gauge 42\n');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetAddress = `127.0.0.1:${(target.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => target.close(() => resolve()));
});

const prometheus = usePrometheus(() => ({
  scrapeIntervalMs: 1000,
  httpSd: [{ url: `http://${targetAddress}/sd`, refreshIntervalMs: 1000 }],
  staticTargets: [{ target: targetAddress, metricsPath: '/static-metrics', labels: { source: 'static' } }],
}));

const ep = (): PrometheusEndpoint => ({ url: prometheus().url, timeoutMs: 5_000 });

async function rejection(p: Promise<unknown>): Promise<PrometheusQueryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PrometheusQueryError);
  return err as PrometheusQueryError;
}

describe('a real Prometheus scraping a target found through http_sd', () => {
  it('gives a positive rate of the counter', async () => {
    const started = Date.now();
    const rate = await vi.waitFor(
      async () => {
        const a = await queryInstant(ep(), 'sum(rate(test_requests_total[5s]))');
        const value = a.resultType === 'vector' && a.samples.length === 1 ? a.samples[0]!.value : undefined;
        expect(value, 'a positive sum(rate(test_requests_total[5s]))').toBeGreaterThan(0);
        return value!;
      },
      { timeout: 30_000, interval: 250 },
    );
    expect(rate).toBeGreaterThan(0);
    expect(scrapes).toBeGreaterThanOrEqual(2);
    process.stderr.write(`[test] positive rate after ${Date.now() - started} ms and ${scrapes} scrapes\n`);
  });

  it("labels the series with the http_sd job and the target's labels", async () => {
    const a = await queryInstant(ep(), 'test_requests_total');
    expect(a).toMatchObject({ resultType: 'vector' });
    const samples = a.resultType === 'vector' ? a.samples : [];
    expect(samples).toHaveLength(1);
    expect(samples[0]!.labels).toMatchObject({
      __name__: 'test_requests_total',
      job: 'http-sd-0',
      app: 'fake',
      path: '/x',
      instance: targetAddress,
    });
  });

  it('scrapes a static target at its metrics path with its labels', async () => {
    const sample = await vi.waitFor(
      async () => {
        const a = await queryInstant(ep(), 'test_static_gauge{source="static", job="static-0"}');
        const found = a.resultType === 'vector' ? a.samples[0] : undefined;
        expect(found, 'test_static_gauge').toBeDefined();
        return found!;
      },
      { timeout: 15_000, interval: 250 },
    );
    expect(sample.value).toBe(42);
  });

  it('answers an empty vector for a series that does not exist', async () => {
    expect(await queryInstant(ep(), 'no_such_series_total{job="nothing"}')).toEqual({ resultType: 'vector', samples: [] });
  });

  it('evaluates at the given time: an hour ago there was no counter yet', async () => {
    const hourAgo = new Date(Date.now() - 3_600_000);
    expect(await queryInstant(ep(), 'test_requests_total', hourAgo)).toEqual({ resultType: 'vector', samples: [] });
  });

  it('reads scalars, including +Inf, -Inf and NaN', async () => {
    expect(await queryInstant(ep(), '2 * 21')).toEqual({ resultType: 'scalar', value: 42 });
    expect(await queryInstant(ep(), '1/0')).toEqual({ resultType: 'scalar', value: Infinity });
    expect(await queryInstant(ep(), '-1/0')).toEqual({ resultType: 'scalar', value: -Infinity });
    const nan = await queryInstant(ep(), '0/0');
    expect(nan.resultType).toBe('scalar');
    expect(nan.resultType === 'scalar' && Number.isNaN(nan.value)).toBe(true);
    const vec = await queryInstant(ep(), 'vector(0/0)');
    expect(vec.resultType === 'vector' && Number.isNaN(vec.samples[0]!.value)).toBe(true);
  });

  it("fails a query that does not parse as bad-query, not retryable, with Prometheus's answer", async () => {
    const query = 'sum(rate(test_requests_total[5s]';
    const err = await rejection(queryInstant(ep(), query));
    expect(err).toMatchObject({ reason: 'bad-query', retryable: false, status: 400, query });
    expect(err.message).toContain(JSON.stringify(query));
    expect(err.message).toContain('bad_data');
    expect(err.message).toMatch(/parse error/);
    expect(err.answer).toMatch(/"errorType":"bad_data"/);
  });

  it('fails a range selector (a matrix) as bad-query: analysis needs an instant vector', async () => {
    const err = await rejection(queryInstant(ep(), 'test_requests_total[5s]'));
    expect(err).toMatchObject({ reason: 'bad-query', retryable: false });
    expect(err.message).toContain('matrix');
  });

  it('fails a port nobody listens on as unreachable, retryable', async () => {
    const port = await freePort();
    const err = await rejection(queryInstant({ url: `http://127.0.0.1:${port}`, timeoutMs: 2_000 }, 'up'));
    expect(err).toMatchObject({ reason: 'unreachable', retryable: true, query: 'up' });
    expect(err.status).toBeUndefined();
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('startPrometheus and findPrometheus', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'meshmove-prometheus-test-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function fakeBinary(name: string, script: string): string {
    const p = path.join(scratch, name);
    writeFileSync(p, `#!/bin/sh\n${script}\n`);
    chmodSync(p, 0o755);
    return p;
  }

  it('starts within seconds, and close() stops it and removes its directory', async () => {
    const started = Date.now();
    const server = await startTestPrometheus();
    const ms = Date.now() - started;
    process.stderr.write(`[test] a second Prometheus was ready in ${ms} ms\n`);
    expect(ms).toBeLessThan(15_000);
    expect(existsSync(server.configPath)).toBe(true);
    expect(existsSync(server.dataDir)).toBe(true);
    expect((await fetch(`${server.url}/-/ready`)).status).toBe(200);
    await server.close();
    await server.close(); // twice is fine
    expect(existsSync(path.dirname(server.configPath))).toBe(false);
    const err = await rejection(queryInstant({ url: server.url, timeoutMs: 2_000 }, 'up'));
    expect(err.reason).toBe('unreachable');
  });

  it('fails with the log tail when the process exits before it is ready', async () => {
    const binary = fakeBinary('dies', 'echo "level=error msg=\\"boom: cannot start\\"" >&2; exit 3');
    await expect(startPrometheus({ binary, logger: createLogger('test') })).rejects.toThrow(/exited \(code 3[\s\S]*boom: cannot start/);
  });

  it('fails with the log tail when it is not ready in time', async () => {
    const binary = fakeBinary('hangs', 'echo "still starting up"; exec sleep 60');
    await expect(startPrometheus({ binary, logger: createLogger('test'), readyTimeoutMs: 1_000 })).rejects.toThrow(
      /not reached within 1s[\s\S]*still starting up/,
    );
  });

  it('names scripts/prometheus.sh when no binary is found', () => {
    const empty = path.join(scratch, 'empty-cache');
    expect(() => findPrometheus({ PATH: '', XDG_CACHE_HOME: empty, HOME: scratch })).toThrow(/bash scripts\/prometheus\.sh/);
  });

  it('refuses a MESHMOVE_PROMETHEUS that is not executable', () => {
    expect(() => findPrometheus({ MESHMOVE_PROMETHEUS: path.join(scratch, 'nope'), PATH: '' })).toThrow(
      /MESHMOVE_PROMETHEUS=.*not an executable/,
    );
  });

  it('takes prometheus on PATH when it is >= 2.42, and passes over an older one', () => {
    for (const [dir, version] of [
      ['old', '2.30.3'],
      ['new', '2.53.1'],
    ] as const) {
      mkdirSync(path.join(scratch, dir), { recursive: true });
      fakeBinary(`${dir}/prometheus`, `echo "prometheus, version ${version} (branch: HEAD)"`);
    }
    const empty = path.join(scratch, 'empty-cache');
    expect(findPrometheus({ PATH: path.join(scratch, 'new'), XDG_CACHE_HOME: empty })).toBe(path.join(scratch, 'new', 'prometheus'));
    expect(() => findPrometheus({ PATH: path.join(scratch, 'old'), XDG_CACHE_HOME: empty })).toThrow(
      /old\/prometheus \(2\.30\) is older than 2\.42[\s\S]*bash scripts\/prometheus\.sh/,
    );
  });

  it('takes the newest cached version', () => {
    const cache = path.join(scratch, 'cache');
    for (const v of ['2.42.0+ds-5', '2.9.1+ds-1', '2.42.0+ds-5+deb12u1']) {
      const dir = path.join(cache, 'meshmove', 'bin', `prometheus-${v}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'prometheus'), '#!/bin/sh\n');
      chmodSync(path.join(dir, 'prometheus'), 0o755);
    }
    expect(findPrometheus({ PATH: '', XDG_CACHE_HOME: cache })).toBe(
      path.join(cache, 'meshmove', 'bin', 'prometheus-2.42.0+ds-5+deb12u1', 'prometheus'),
    );
  });

  it('writes one job per http_sd endpoint and per static target, with a timeout no longer than the interval', () => {
    const yaml = prometheusConfig({
      scrapeIntervalMs: 1500,
      httpSd: [{ url: 'http://127.0.0.1:1/sd', refreshIntervalMs: 2000 }],
      staticTargets: [{ target: '127.0.0.1:2', metricsPath: '/m', labels: { a: 'b' } }],
    });
    expect(yaml).toContain('scrape_interval: 1500ms');
    expect(yaml).toContain('scrape_timeout: 1500ms');
    expect(yaml).toMatch(/job_name: http-sd-0\n\s+http_sd_configs:\n\s+- url: http:\/\/127\.0\.0\.1:1\/sd\n\s+refresh_interval: 2s/);
    expect(yaml).toMatch(/job_name: static-0\n\s+metrics_path: \/m/);
  });
});
