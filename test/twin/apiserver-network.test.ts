// Admission webhook dispatch, port-forward, the service proxy and pod logs, through the real client
// against real loopback servers standing in for webhook servers and istiod's debug port.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilServer } from './poll-apiserver.js';
import { ENDPOINTS_ANNOTATION, startApiServer, type ApiServer } from '../../twin/apiserver/index.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

interface Review {
  request: { uid: string; name: string; namespace: string; operation: string; object: k8s.V1Pod };
}

/** A webhook server: each path names an injector that appends itself to an annotation chain. */
function startWebhookServer(): { server: http.Server; reviews: Array<{ path: string; review: Review }> } {
  const reviews: Array<{ path: string; review: Review }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      reviews.push({ path, review });
      const injector = path.split('/').pop()!;
      const ann = review.request.object.metadata?.annotations ?? {};
      const chain = ann['test/chain'] ? `${ann['test/chain']},${injector}` : injector;
      const patch = [
        {
          op: 'add',
          path: '/metadata/annotations',
          value: {
            ...ann,
            'test/chain': chain,
            'sidecar.istio.io/status': JSON.stringify({ containers: ['istio-proxy'], revision: injector }),
          },
        },
        // Istio's injector replaces an earlier injection: drop any proxy, then add its own.
        {
          op: 'replace',
          path: '/spec/containers',
          value: [
            ...(review.request.object.spec?.containers ?? []).filter((c) => c.name !== 'istio-proxy'),
            { name: 'istio-proxy', image: `proxyv2:${injector}` },
          ],
        },
      ];
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
          },
        }),
      );
    });
  });
  return { server, reviews };
}

let server: ApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let admission: k8s.AdmissionregistrationV1Api;
let webhook: ReturnType<typeof startWebhookServer>;
let webhookPort: number;
let debugServer: http.Server;
let debugPort: number;
let deadPort: number;

const mwc = (
  name: string,
  webhookName: string,
  clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig,
  namespaceSelector: k8s.V1LabelSelector,
  extra: Partial<k8s.V1MutatingWebhook> = {},
): k8s.V1MutatingWebhookConfiguration => ({
  metadata: { name },
  webhooks: [
    {
      name: webhookName,
      clientConfig,
      namespaceSelector,
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
      ...extra,
    },
  ],
});

const pod = (name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): k8s.V1Pod => ({
  metadata: { name, labels, annotations },
  spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 15014, name: 'http-monitoring' }] }] },
});

beforeAll(async () => {
  server = await startApiServer({ podStartDelayMs: 5, rolloutPodDelayMs: 5, logger: pino({ level: 'silent' }) });
  kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  webhook = startWebhookServer();
  webhookPort = await listen(webhook.server);
  debugServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, proxies: [{ proxy: 'web-1.demo-a', cluster_sent: 'n1', cluster_acked: 'n1' }] }));
  });
  debugPort = await listen(debugServer);
  // A port that was open and is now closed: connections are refused.
  const tmp = net.createServer();
  deadPort = await listen(tmp);
  await new Promise((r) => tmp.close(r));
  await core.createNamespace({ body: { metadata: { name: 'istio-system' } } });
});

afterAll(async () => {
  await server?.close();
  webhook?.server.close();
  debugServer?.close();
});

describe('mutating admission webhook dispatch', () => {
  it('calls matching webhooks in configuration name order, applies their patches, last wins', async () => {
    await admission.createMutatingWebhookConfiguration({
      body: mwc(
        'b-injector',
        'rev.namespace.b.example.com',
        { url: `http://127.0.0.1:${webhookPort}/inject/b` },
        { matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: ['b'] }] },
      ),
    });
    await admission.createMutatingWebhookConfiguration({
      body: mwc(
        'a-injector',
        'namespace.a.example.com',
        { url: `http://127.0.0.1:${webhookPort}/inject/a` },
        { matchLabels: { 'istio-injection': 'enabled' } },
      ),
    });
    await core.createNamespace({ body: { metadata: { name: 'both', labels: { 'istio-injection': 'enabled', 'istio.io/rev': 'b' } } } });
    await core.createNamespace({ body: { metadata: { name: 'only-b', labels: { 'istio.io/rev': 'b' } } } });
    await core.createNamespace({ body: { metadata: { name: 'none' } } });
    server.counters.reset();

    const both = await core.createNamespacedPod({ namespace: 'both', body: pod('p') });
    expect(both.metadata?.annotations?.['test/chain']).toBe('a,b');
    expect(JSON.parse(both.metadata!.annotations!['sidecar.istio.io/status']!)).toMatchObject({ revision: 'b' });
    expect(both.spec?.containers.map((c) => `${c.name}:${c.image}`)).toEqual(['app:app:1', 'istio-proxy:proxyv2:b']);
    const calls = server.counters.snapshot().webhookCalls.map((c) => `${c.configuration}/${c.webhook} ${c.namespace} ${c.outcome}`);
    expect(calls).toEqual(['a-injector/namespace.a.example.com both patched', 'b-injector/rev.namespace.b.example.com both patched']);
    expect(webhook.reviews.at(-1)?.review.request).toMatchObject({ operation: 'CREATE', namespace: 'both', name: 'p' });

    expect((await core.createNamespacedPod({ namespace: 'only-b', body: pod('p') })).metadata?.annotations?.['test/chain']).toBe('b');
    // objectSelector: the pod opts out.
    const optOut = await core.createNamespacedPod({ namespace: 'only-b', body: pod('opt-out', { 'sidecar.istio.io/inject': 'false' }) });
    expect(optOut.metadata?.annotations?.['test/chain']).toBeUndefined();
    expect((await core.createNamespacedPod({ namespace: 'none', body: pod('p') })).spec?.containers).toHaveLength(1);
    expect(server.counters.snapshot().webhooks).toEqual({
      'a-injector/namespace.a.example.com': 1,
      'b-injector/rev.namespace.b.example.com': 2,
    });
  });

  it('injects pods the ReplicaSet controller creates (generateName, empty name in the review)', async () => {
    await apps.createNamespacedDeployment({
      namespace: 'only-b',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } },
        },
      },
    });
    const p = await untilServer(
      'an injected web pod',
      async () => (await core.listNamespacedPod({ namespace: 'only-b', labelSelector: 'app=web' })).items[0],
      10_000,
    );
    expect(p.metadata?.annotations?.['test/chain']).toBe('b');
    const review = webhook.reviews.at(-1)!.review.request;
    // AdmissionRequest.name is omitempty: absent before the name is generated (as from kube-apiserver).
    expect(review.name).toBeUndefined();
    expect(review.object.metadata?.generateName).toMatch(/^web-[a-z0-9]+-$/);
  });

  it('reaches a webhook by service reference through a Running pod’s annotated address', async () => {
    await core.createNamespacedService({
      namespace: 'istio-system',
      body: {
        metadata: { name: 'istiod' },
        spec: {
          selector: { app: 'istiod' },
          ports: [{ name: 'https-webhook', port: 443, targetPort: 15017 as unknown as k8s.IntOrString }],
        },
      },
    });
    await core.createNamespacedPod({
      namespace: 'istio-system',
      body: pod('istiod-1', { app: 'istiod' }, { [ENDPOINTS_ANNOTATION]: JSON.stringify({ 15017: `127.0.0.1:${webhookPort}` }) }),
    });
    await untilServer(
      'istiod running',
      async () => (await core.readNamespacedPod({ namespace: 'istio-system', name: 'istiod-1' })).status?.phase === 'Running',
      10_000,
    );
    await admission.createMutatingWebhookConfiguration({
      body: mwc(
        'c-service',
        'svc.c.example.com',
        { service: { namespace: 'istio-system', name: 'istiod', path: '/inject/c' } },
        { matchLabels: { via: 'service' } },
      ),
    });
    await core.createNamespace({ body: { metadata: { name: 'via-svc', labels: { via: 'service' } } } });
    const p = await core.createNamespacedPod({ namespace: 'via-svc', body: pod('p') });
    expect(p.metadata?.annotations?.['test/chain']).toBe('c');
  });

  it('rejects the pod with 500 when a failurePolicy Fail webhook is down; Ignore skips it', async () => {
    await admission.createMutatingWebhookConfiguration({
      body: mwc('d-down', 'down.d.example.com', { url: `http://127.0.0.1:${deadPort}/inject/d` }, { matchLabels: { down: 'fail' } }),
    });
    await admission.createMutatingWebhookConfiguration({
      body: mwc(
        'e-down',
        'down.e.example.com',
        { url: `http://127.0.0.1:${deadPort}/inject/e` },
        { matchLabels: { down: 'ignore' } },
        { failurePolicy: 'Ignore' },
      ),
    });
    await core.createNamespace({ body: { metadata: { name: 'down-fail', labels: { down: 'fail' } } } });
    await core.createNamespace({ body: { metadata: { name: 'down-ignore', labels: { down: 'ignore' } } } });
    const err = await core.createNamespacedPod({ namespace: 'down-fail', body: pod('p') }).then(
      () => undefined,
      (e: { code: number; body: string }) => e,
    );
    expect(err?.code).toBe(500);
    const status = JSON.parse(err!.body) as { reason: string; message: string };
    expect(status.reason).toBe('InternalError');
    expect(status.message).toContain('failed calling webhook "down.d.example.com"');
    expect(status.message).toContain('connection refused');
    expect((await core.listNamespacedPod({ namespace: 'down-fail' })).items).toEqual([]);
    const ignored = await core.createNamespacedPod({ namespace: 'down-ignore', body: pod('p') });
    expect(ignored.spec?.containers).toHaveLength(1);
    expect(
      server.counters
        .snapshot()
        .webhookCalls.filter((c) => c.webhook.startsWith('down.'))
        .map((c) => c.outcome),
    ).toEqual(['error-rejected', 'error-ignored']);
  });

  it('rejects invalid webhook configurations', async () => {
    const bad = mwc('bad', 'short', { url: 'http://127.0.0.1:1/x' }, { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] });
    const code = await admission.createMutatingWebhookConfiguration({ body: bad }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    expect(code).toBe(422);
  });
});

describe('pod network: port-forward, service proxy, logs', () => {
  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: 'cp' } } });
    await core.createNamespacedPod({
      namespace: 'cp',
      body: pod('istiod-x', { app: 'istiod' }, { [ENDPOINTS_ANNOTATION]: JSON.stringify({ 15014: `127.0.0.1:${debugPort}` }) }),
    });
    await core.createNamespacedService({
      namespace: 'cp',
      body: {
        metadata: { name: 'istiod' },
        spec: {
          selector: { app: 'istiod' },
          ports: [{ name: 'http-monitoring', port: 15014, targetPort: 'http-monitoring' as unknown as k8s.IntOrString }],
        },
      },
    });
    await untilServer(
      'istiod-x running',
      async () => (await core.readNamespacedPod({ namespace: 'cp', name: 'istiod-x' })).status?.phase === 'Running',
      10_000,
    );
  });

  it('forwards a local port to the pod through client-node PortForward, as istioctl does', async () => {
    const forward = new k8s.PortForward(kc);
    const local = net.createServer((socket) => {
      void forward.portForward('cp', 'istiod-x', [15014], socket, null, socket);
    });
    const localPort = await listen(local);
    try {
      const res = await fetch(`http://127.0.0.1:${localPort}/debug/syncz`, { headers: { Connection: 'close' } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ path: '/debug/syncz', proxies: [{ proxy: 'web-1.demo-a' }] });
    } finally {
      local.close();
    }
    expect(server.counters.snapshot().byVerbResource['create pods/portforward']).toBeGreaterThanOrEqual(1);
  });

  it('refuses port-forward to a pod that does not exist', async () => {
    const forward = new k8s.PortForward(kc);
    await expect(
      forward.portForward('cp', 'no-such-pod', [15014], process.stdout, null, new (await import('node:stream')).PassThrough()),
    ).rejects.toBeTruthy();
  });

  it('proxies to a ready backend of a service by port number or name', async () => {
    const byNumber = await fetch(`${server.url}/api/v1/namespaces/cp/services/istiod:15014/proxy/debug/syncz?x=1`);
    expect(byNumber.status).toBe(200);
    expect(await byNumber.json()).toMatchObject({ path: '/debug/syncz?x=1' });
    const byName = await core.connectGetNamespacedServiceProxyWithPath({
      namespace: 'cp',
      name: 'http:istiod:http-monitoring',
      path: 'metrics',
    });
    // client-node parses the JSON body itself.
    expect(typeof byName === 'string' ? (JSON.parse(byName) as unknown) : byName).toMatchObject({ path: '/metrics' });
    const noEndpoints = await fetch(`${server.url}/api/v1/namespaces/default/services/kubernetes:443/proxy/`);
    expect(noEndpoints.status).toBe(503);
    expect(await noEndpoints.json()).toMatchObject({
      reason: 'ServiceUnavailable',
      message: 'no endpoints available for service "kubernetes"',
    });
    expect((await fetch(`${server.url}/api/v1/namespaces/cp/services/nope:1/proxy/`)).status).toBe(404);
    const ep = await core.readNamespacedEndpoints({ namespace: 'cp', name: 'istiod' });
    expect(ep.subsets?.[0]?.addresses?.map((a) => a.targetRef?.name)).toEqual(['istiod-x']);
    expect(ep.subsets?.[0]?.ports).toEqual([{ name: 'http-monitoring', port: 15014, protocol: 'TCP' }]);
  });

  it('serves pod logs per container, with kubelet lines and appended text', async () => {
    server.appendPodLog('cp', 'istiod-x', 'probe: ok\nsecond line');
    const log = await core.readNamespacedPodLog({ namespace: 'cp', name: 'istiod-x' });
    expect(log).toContain('[twin-kubelet] started container app');
    expect(log.endsWith('probe: ok\nsecond line\n')).toBe(true);
    const tail = await core.readNamespacedPodLog({ namespace: 'cp', name: 'istiod-x', tailLines: 1 });
    expect(tail).toBe('second line\n');
    const posted = await fetch(`${server.url}/_twin/pods/cp/istiod-x/log?container=app`, { method: 'POST', body: 'over http' });
    expect(posted.status).toBe(204);
    expect(await core.readNamespacedPodLog({ namespace: 'cp', name: 'istiod-x', container: 'app', tailLines: 1 })).toBe('over http\n');
    // Two containers and no container named: 400, as the real apiserver.
    const injected = (await core.listNamespacedPod({ namespace: 'only-b', labelSelector: 'app=web' })).items[0]!;
    const code = await core.readNamespacedPodLog({ namespace: 'only-b', name: injected.metadata!.name! }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    expect(code).toBe(400);
  });
});
