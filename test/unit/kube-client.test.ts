// The real client over real HTTP against a scripted loopback server: retries, Retry-After,
// classification, paging and patch content types, without needing the twin.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { createKubeAccess, KubeErrorType } from '../../activities/kube/index.js';

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  body: string;
}
type Reply = { status: number; body: unknown; headers?: Record<string, string> };
let script: Array<(req: Seen) => Reply> = [];
let seen: Seen[] = [];
let server: http.Server;
let kubeconfig: string;

const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: {} } });
const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
});

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body };
      seen.push(s);
      const next = script.shift();
      if (!next) {
        res.writeHead(599);
        res.end('no scripted reply');
        return;
      }
      const r = next(s);
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }, { name: other, context: { cluster: c, user: u } }]
current-context: other
`,
  );
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  script = [];
  seen = [];
});

const kube = () =>
  createKubeAccess({ kubeconfig, context: 'ctx', attempts: 3, maxInProcessDelayMs: 2_000, rateLimit: { qps: 1000, burst: 1000 } });

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

describe('ClientKubeAccess over HTTP', () => {
  it('uses the requested context', () => {
    expect(kube().contextName).toBe('ctx');
  });

  it('an unknown context is a non-retryable config error naming the known ones', () => {
    let err: unknown;
    try {
      createKubeAccess({ kubeconfig, context: 'nope' });
    } catch (e) {
      err = e;
    }
    expect((err as ApplicationFailure).type).toBe(KubeErrorType.config);
    expect((err as ApplicationFailure).message).toContain('ctx, other');
  });

  it('honours a short Retry-After on 429 and retries in-process', async () => {
    script = [
      () => ({ status: 429, body: status(429, 'TooManyRequests', 'slow'), headers: { 'Retry-After': '1' } }),
      () => ({ status: 200, body: ns('orders') }),
    ];
    const t0 = Date.now();
    const got = await kube().getNamespace('orders');
    expect(got?.metadata?.name).toBe('orders');
    expect(seen.length).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('a long Retry-After goes to Temporal as nextRetryDelay', async () => {
    script = [() => ({ status: 429, body: status(429, 'TooManyRequests', 'slow'), headers: { 'Retry-After': '60' } })];
    const f = await failure(kube().getNamespace('orders'));
    expect(f.type).toBe(KubeErrorType.throttled);
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(60_000);
    expect(seen.length).toBe(1);
  });

  it('5xx is retried, then surfaces as a retryable KubeServerError', async () => {
    script = [0, 1, 2].map(() => () => ({ status: 500, body: status(500, 'InternalError', 'boom') }));
    const f = await failure(kube().listNamespaces());
    expect(f.type).toBe(KubeErrorType.serverError);
    expect(f.nonRetryable).toBe(false);
    expect(seen.length).toBe(3);
  });

  it('403 is not retried and names the missing permission', async () => {
    script = [
      () => ({
        status: 403,
        body: status(403, 'Forbidden', 'namespaces "orders" is forbidden: User "u" cannot patch resource "namespaces"'),
      }),
    ];
    const f = await failure(kube().patchNamespace('orders', { metadata: { labels: { a: 'b' } } }));
    expect(f.type).toBe(KubeErrorType.forbidden);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('missing permission: patch namespaces (apiGroup "") cluster-wide');
    expect(seen.length).toBe(1);
  });

  it('a merge patch is sent as application/merge-patch+json', async () => {
    script = [
      (s) => ({ status: 200, body: { ...ns('orders'), metadata: { name: 'orders', labels: JSON.parse(s.body).metadata.labels } } }),
    ];
    const got = await kube().patchNamespace('orders', { metadata: { labels: { 'istio.io/rev': 'x', 'istio-injection': null } } });
    expect(seen[0]?.method).toBe('PATCH');
    expect(seen[0]?.contentType).toBe('application/merge-patch+json');
    expect(got.metadata?.labels?.['istio.io/rev']).toBe('x');
  });

  it('404 on get is undefined, on delete is "absent"', async () => {
    script = [
      () => ({ status: 404, body: status(404, 'NotFound', 'not found') }),
      () => ({ status: 404, body: status(404, 'NotFound', 'not found') }),
    ];
    const k = kube();
    expect(await k.getNamespace('gone')).toBeUndefined();
    expect(await k.deleteMutatingWebhookConfiguration('gone')).toBe('absent');
  });

  it('lists in pages following continue tokens', async () => {
    script = [
      (s) => ({
        status: 200,
        body: { kind: 'NamespaceList', apiVersion: 'v1', metadata: { continue: 'p2' }, items: [ns('a')], _url: s.url },
      }),
      () => ({ status: 200, body: { kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [ns('b')] } }),
    ];
    const got = await kube().listNamespaces({ labelSelector: 'x=y' });
    expect(got.map((n) => n.metadata?.name)).toEqual(['a', 'b']);
    expect(seen[0]?.url).toContain('labelSelector=x%3Dy');
    expect(seen[1]?.url).toContain('continue=p2');
  });

  it('a refused connection is a retryable KubeNetwork failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
    const file = join(dir, 'kubeconfig');
    // Port 1 on loopback: nothing listens there.
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: {} }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
    );
    const f = await failure(createKubeAccess({ kubeconfig: file, attempts: 2 }).getNamespace('x'));
    expect(f.type).toBe(KubeErrorType.network);
    expect(f.nonRetryable).toBe(false);
  });
});
