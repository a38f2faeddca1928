// The worker's metrics and operations endpoint, in pieces (the whole, scraped on the real stack, is
// test/e2e/worker-ops.test.ts): the exposition format and its parser, the label values, the
// decision messages recognised, the kube client's request hook, the API server check of /readyz,
// and what /healthz, /readyz and /metrics answer.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { createKubeAccess } from '../../activities/kube/index.js';
import { observeKubeRequests, type KubeRequestOutcome } from '../../activities/kube/client.js';
import { parseGrace } from '../../client/commands/worker.js';
import { activityFailureType, MeshmoveMetrics, MetricRegistry, parseExposition } from '../../worker/metrics.js';
import { freeLoopbackPort, kubeApiAnswers, parseHostPort, startOpsServer, WorkerProbes, type Check } from '../../worker/ops-server.js';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { gateLabel } from '../../worker/run-gauges.js';
import { decisionOf } from '../../workflows/interceptors.js';

let server: http.Server;
let port: number;
let kubeconfig: string;
let replies: Record<string, number> = {};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(
        '# HELP temporal_num_pollers pollers\n# TYPE temporal_num_pollers gauge\ntemporal_num_pollers{poller_type="activity_task"} 5',
      );
      return;
    }
    const status = replies[path] ?? 404;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        status === 200
          ? { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'x' }, major: '1', minor: '31' }
          : { kind: 'Status', code: status, message: 'scripted' },
      ),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'worker-ops-')), 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
  );
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('the exposition', () => {
  it('renders counters and gauges with escaped labels, and parses back', () => {
    const r = new MetricRegistry();
    const c = r.counter('x_total', 'a counter');
    c.inc({ verb: 'get' });
    c.inc({ verb: 'get' }, 2);
    c.inc({ verb: 'say "hi"\\\n' });
    const g = r.gauge('y', 'a gauge');
    g.replace([
      { labels: { a: '1' }, value: 1.5 },
      { labels: { a: '2' }, value: 2 },
    ]);
    g.replace([{ labels: { a: '3' }, value: 3 }]); // a reading replaces the last one: series that went away disappear
    const text = r.render();
    expect(text).toContain('# TYPE x_total counter\n');
    expect(text).toContain('x_total{verb="get"} 3\n');
    expect(text).toContain('x_total{verb="say \\"hi\\"\\\\\\n"} 1\n');
    expect(parseExposition(text)).toEqual([
      { name: 'x_total', labels: { verb: 'get' }, value: 3 },
      { name: 'x_total', labels: { verb: 'say "hi"\\\n' }, value: 1 },
      { name: 'y', labels: { a: '3' }, value: 3 },
    ]);
  });

  it('kube requests by verb and status class, errors by type', () => {
    const m = new MeshmoveMetrics();
    m.kubeRequest({ verb: 'get', ok: true });
    m.kubeRequest({ verb: 'get', ok: false, status: 404, errorType: 'KubeNotFound' });
    m.kubeRequest({ verb: 'patch', ok: false, status: 503, errorType: 'KubeServerError' });
    m.kubeRequest({ verb: 'list', ok: false, errorType: 'KubeNetwork' });
    const s = parseExposition(m.registry.render());
    const v = (name: string, labels: Record<string, string>) =>
      s.find((x) => x.name === name && JSON.stringify(x.labels) === JSON.stringify(labels))?.value;
    expect(v('meshmove_kube_requests_total', { verb: 'get', code: '2xx' })).toBe(1);
    expect(v('meshmove_kube_requests_total', { verb: 'get', code: '4xx' })).toBe(1);
    expect(v('meshmove_kube_requests_total', { verb: 'patch', code: '5xx' })).toBe(1);
    expect(v('meshmove_kube_requests_total', { verb: 'list', code: 'none' })).toBe(1);
    expect(v('meshmove_kube_request_errors_total', { verb: 'list', type: 'KubeNetwork' })).toBe(1);
    expect(v('meshmove_status_refresh_errors_total', {})).toBe(0);
  });

  it('activity failure types are the failure type, "cancelled" or the error class', () => {
    expect(activityFailureType(ApplicationFailure.create({ type: 'KubeServerError', message: 'x' }))).toBe('KubeServerError');
    expect(activityFailureType(new CancelledFailure('WORKER_SHUTDOWN'))).toBe('cancelled');
    expect(activityFailureType(new TypeError('x'))).toBe('TypeError');
    expect(activityFailureType('a string')).toBe('unknown');
  });

  it('bounded labels: one gate label for every namespace, decisions by kind only', () => {
    expect(gateLabel('namespace:orders')).toBe('namespace');
    expect(gateLabel('dns-cutover')).toBe('dns-cutover');
    expect(decisionOf('gateDecision', { gate: 'start', verdict: 'approve' })).toEqual({ message: 'gate', decision: 'approve' });
    expect(decisionOf('gateDecision', { verdict: 'maybe' })).toEqual({ message: 'gate', decision: 'other' });
    expect(decisionOf('operatorDecision', { step: 'restart', decision: 'skip' })).toEqual({ message: 'step', decision: 'skip' });
    expect(decisionOf('requestRollback', { by: 'bob', reason: 'r' })).toEqual({ message: 'run', decision: 'rollback' });
    expect(decisionOf('namespaceAudit', {})).toBeUndefined();
  });
});

describe('options', () => {
  it('HOST:PORT and grace durations', () => {
    expect(parseHostPort('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseHostPort('[::]:9464')).toEqual({ host: '::', port: 9464 });
    expect(parseHostPort(':9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(() => parseHostPort('9464')).toThrow(/HOST:PORT/);
    expect(parseGrace('60s')).toBe('60s');
    expect(parseGrace('1500')).toBe(1500);
    expect(() => parseGrace('soon')).toThrow(/not a duration/);
  });
});

describe("the kube client's request hook", () => {
  it('sees every request with its outcome', async () => {
    replies = { '/api/v1/namespaces/x': 200, '/api/v1/namespaces/broken': 500 };
    const seen: KubeRequestOutcome[] = [];
    observeKubeRequests((o) => seen.push(o));
    try {
      const kube = createKubeAccess({ kubeconfig, attempts: 2, maxInProcessDelayMs: 1_000 });
      expect(await kube.getNamespace('x')).toBeDefined();
      expect(await kube.getNamespace('missing')).toBeUndefined();
      await expect(kube.getNamespace('broken')).rejects.toThrow();
    } finally {
      observeKubeRequests(undefined);
    }
    expect(seen).toEqual([
      { verb: 'get', ok: true },
      { verb: 'get', ok: false, status: 404, errorType: 'KubeNotFound' },
      { verb: 'get', ok: false, status: 500, errorType: 'KubeServerError' },
      { verb: 'get', ok: false, status: 500, errorType: 'KubeServerError' },
    ]);
  });
});

describe('/readyz: the API server check', () => {
  it('answers when GET /version does', async () => {
    replies = { '/version': 200 };
    expect(await kubeApiAnswers(kubeconfig, 1_000)).toMatchObject({ ok: true });
  });
  it('not when it answers an error, cannot be reached, or there is no kubeconfig', async () => {
    replies = { '/version': 500 };
    expect(await kubeApiAnswers(kubeconfig, 1_000)).toEqual({
      ok: false,
      reason: `Kubernetes API server http://127.0.0.1:${port}: GET /version answered 500`,
    });
    const closed = join(mkdtempSync(join(tmpdir(), 'worker-ops-')), 'kubeconfig');
    writeFileSync(
      closed,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${await freeLoopbackPort()}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
    );
    expect((await kubeApiAnswers(closed, 1_000)).reason).toMatch(/cannot be reached: .*ECONNREFUSED/);
    expect((await kubeApiAnswers('/nonexistent/kubeconfig', 1_000)).reason).toMatch(/cannot load the kubeconfig/);
  });
});

describe('the operations server', () => {
  it("/healthz, /readyz with the reason, /metrics with the SDK's exposition and meshmove's", async () => {
    let ready: Check = { ok: true, reason: 'ready' };
    const metrics = new MeshmoveMetrics();
    metrics.decision({ message: 'gate', decision: 'approve', via: 'update', outcome: 'accepted' });
    const ops = await startOpsServer({
      address: { host: '127.0.0.1', port: 0 },
      probes: { live: () => ({ ok: true, reason: 'alive' }), ready: async () => ready },
      metrics,
      sdkMetricsUrl: `http://127.0.0.1:${port}/metrics`,
    });
    try {
      const get = async (p: string) => {
        const r = await fetch(`http://127.0.0.1:${ops.address.port}${p}`);
        return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
      };
      expect(await get('/healthz')).toMatchObject({ status: 200, body: 'alive\n' });
      expect(await get('/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
      ready = { ok: false, reason: 'shutting down' };
      expect(await get('/readyz')).toMatchObject({ status: 503, body: 'shutting down\n' });
      const m = await get('/metrics');
      expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const samples = parseExposition(m.body);
      expect(samples.find((s) => s.name === 'temporal_num_pollers')?.value).toBe(5);
      expect(samples.find((s) => s.name === 'meshmove_decisions_total')).toMatchObject({
        labels: { message: 'gate', decision: 'approve', via: 'update', outcome: 'accepted' },
        value: 1,
      });
      expect(samples.find((s) => s.name === 'meshmove_sdk_metrics_up')?.value).toBe(1);
      expect((await get('/other')).status).toBe(404);
    } finally {
      await ops.close();
    }
  });
});

describe('the probes of a worker', () => {
  const probes = (state: string, systemInfo: () => Promise<unknown>, kc = kubeconfig) =>
    new WorkerProbes({
      worker: { getState: () => state } as unknown as Worker,
      connection: { workflowService: { getSystemInfo: systemInfo } } as unknown as NativeConnection,
      kubeconfig: kc,
      timeoutMs: 300,
    });

  it('ready when the worker runs and Temporal and the API server answer; not from the moment shutdown begins', async () => {
    replies = { '/version': 200 };
    const p = probes('RUNNING', async () => ({}));
    expect(await p.ready()).toMatchObject({ ok: true });
    p.shutdownBegins();
    expect(await p.ready()).toEqual({ ok: false, reason: 'shutting down: draining the activities in flight' });
    expect(p.live()).toMatchObject({ ok: true }); // draining is alive
  });

  it('not ready while Temporal does not answer, or before the worker runs; alive either way unless the worker failed', async () => {
    replies = { '/version': 200 };
    const silent = probes('RUNNING', () => new Promise(() => undefined));
    expect(await silent.ready()).toEqual({ ok: false, reason: 'Temporal cannot be reached: Temporal: no answer within 300 ms' });
    expect(silent.live()).toMatchObject({ ok: true });
    expect(await probes('INITIALIZED', async () => ({})).ready()).toEqual({ ok: false, reason: 'the worker is initialized' });
    expect(probes('FAILED', async () => ({})).live()).toEqual({ ok: false, reason: 'the worker failed' });
  });
});
