// The access layer against the twin's strict API server: retries on injected 429/500, dropped
// connections and lost responses (the write happened, the answer never came) with no mutation
// applied twice, port-forward to istiod's debug port, and
// the classification of a port-forward to a pod that does not exist.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { createKubeAccess, KubeErrorType, localGet } from '../../activities/kube/index.js';
import { startFieldReportTwin, type TwinHandle } from '../activities/preflight-twin-fixture.js';

let twin: TwinHandle;
beforeAll(async () => {
  twin = await startFieldReportTwin();
});
afterAll(async () => {
  await twin.close();
});
beforeEach(async () => {
  await twin.control('PUT', '/_twin/faults', { rules: [] });
  await twin.control('DELETE', '/_twin/requests');
});

describe('KubeAccess on the twin', () => {
  it('reads istiod /debug/syncz through a port-forward', async () => {
    const body = await twin.kube.readIstiodDebug('istio-1-16-5', 'istio-1-16-5', '/debug/syncz');
    expect(Array.isArray(JSON.parse(body))).toBe(true);
    const metrics = await twin.kube.readIstiodDebug('default', 'istio-system', '/metrics');
    expect(metrics).toMatch(/pilot_xds/);
  });

  it('keeps one port-forward per istiod pod for the reads that follow (one tunnel, not one per read)', async () => {
    const kube = createKubeAccess({ kubeconfig: twin.kubeconfigPath, rateLimit: { qps: 500, burst: 500 } });
    for (let i = 0; i < 5; i++)
      expect(Array.isArray(JSON.parse(await kube.readIstiodDebug('istio-1-16-5', 'istio-1-16-5', '/debug/syncz')))).toBe(true);
    const req = await twin.requests();
    expect(req.byVerbResource['create pods/portforward']).toBe(1);
    // The istiod pods are listed once for reads close together.
    expect(req.byVerbResource['list pods']).toBe(1);
  });

  it('a port-forward to a missing pod fails as NotFound, not as a hang', async () => {
    const err = await twin.kube
      .withPortForward({ namespace: 'istio-system', name: 'no-such-pod' }, 15014, (port) => localGet(port, '/', 5000))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(KubeErrorType.notFound);
    expect((err as ApplicationFailure).message).toContain('pods/no-such-pod/portforward in namespace istio-system');
    expect((err as ApplicationFailure).message).toContain('pods "no-such-pod" not found');
  });

  it("a port-forward the apiserver refuses (500) carries the apiserver's reason, not only the status", async () => {
    await twin.control('PUT', '/_twin/faults', {
      rules: [{ verb: 'create', resource: 'pods/portforward', kind: 'status', status: 500, rate: 1 }],
    });
    // A fresh access: twin.kube keeps the port-forward opened by the test before.
    const kube = createKubeAccess({ kubeconfig: twin.kubeconfigPath, rateLimit: { qps: 500, burst: 500 }, maxInProcessDelayMs: 3_000 });
    const err = await kube.readIstiodDebug('istio-1-16-5', 'istio-1-16-5', '/debug/syncz').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(KubeErrorType.serverError);
    expect((err as ApplicationFailure).nonRetryable).toBe(false);
    // The twin answers as kube-apiserver does: a Status whose message says what failed.
    expect((err as ApplicationFailure).message).toMatch(
      /pods\/istiod-[\w-]+\/portforward in namespace istio-1-16-5: server error 500: Internal error occurred: injected fault$/,
    );
    // Retried in-process like any 500, then left to Temporal.
    expect((await twin.requests()).faulted['create pods/portforward']).toBe(4);
  });

  it('429 with Retry-After and 500 on a patch are retried; the namespace is patched once', async () => {
    await twin.control('PUT', '/_twin/faults', {
      rules: [
        { verb: 'patch', resource: 'namespaces', kind: 'status', status: 429, retryAfterSeconds: 1, count: 1 },
        { verb: 'patch', resource: 'namespaces', kind: 'status', status: 500, count: 1 },
      ],
    });
    const ns = await twin.kube.patchNamespace('orders', { metadata: { labels: { 'meshmove-test': 'x' } } });
    expect(ns.metadata?.labels?.['meshmove-test']).toBe('x');
    const req = await twin.requests();
    expect(req.faultedTotal).toBe(2);
    expect(req.byObject['patch namespaces/orders']).toBe(1);
  });

  it('a dropped connection is retried; a 409 is not resent unchanged (the caller re-reads and decides again)', async () => {
    await twin.control('PUT', '/_twin/faults', {
      rules: [
        { verb: 'patch', resource: 'namespaces', kind: 'status', status: 409, count: 1 },
        { verb: 'get', resource: 'namespaces', kind: 'drop', count: 1 },
      ],
    });
    const conflict = await twin.kube
      .patchNamespace('payments', { metadata: { labels: { 'meshmove-test': 'y' } } })
      .catch((e: unknown) => e);
    expect(conflict).toMatchObject({ type: 'KubeConflict', nonRetryable: false });
    expect((await twin.requests()).faulted).toEqual({ 'patch namespaces': 1 });
    // The next write (the caller's, after its re-read) goes through.
    await twin.kube.patchNamespace('payments', { metadata: { labels: { 'meshmove-test': 'y' } } });
    expect((await twin.kube.getNamespace('payments'))?.metadata?.labels?.['meshmove-test']).toBe('y');
    const req = await twin.requests();
    expect(req.faultedTotal).toBe(2);
    expect(req.byObject['patch namespaces/payments']).toBe(1);
  });

  it('a lost response to a patch is retried, and the retry changes nothing', async () => {
    await twin.control('PUT', '/_twin/faults', {
      rules: [{ verb: 'patch', resource: 'namespaces', name: 'inventory', kind: 'lose-response', count: 1 }],
    });
    const ns = await twin.kube.patchNamespace('inventory', { metadata: { labels: { 'meshmove-test': 'z' } } });
    expect(ns.metadata?.labels?.['meshmove-test']).toBe('z');
    const req = await twin.requests();
    expect(req.faulted).toEqual({ 'patch namespaces': 1 });
    // Both attempts reached the server; only the first changed the namespace.
    expect(req.byObject['patch namespaces/inventory']).toBe(2);
    expect(req.applied['patch namespaces/inventory']).toBe(1);
    // A patch that does change something counts again.
    await twin.kube.patchNamespace('inventory', { metadata: { labels: { 'meshmove-test': 'zz' } } });
    expect((await twin.requests()).applied['patch namespaces/inventory']).toBe(2);
  });

  it('a lost response to a create or a delete: the retry finds the work done', async () => {
    await twin.control('PUT', '/_twin/faults', {
      rules: [
        { verb: 'create', resource: 'batch/jobs', kind: 'lose-response', count: 1 },
        { verb: 'delete', resource: 'batch/jobs', kind: 'lose-response', count: 1 },
      ],
    });
    const job = {
      metadata: { name: 'lost-answer' },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } },
    };
    const made = await twin.kube.createJob('orders', job);
    expect(made.created).toBe(false);
    expect(made.job.metadata?.name).toBe('lost-answer');
    expect(await twin.kube.deleteJob('orders', 'lost-answer')).toBe('absent');
    const req = await twin.requests();
    expect(req.faultedTotal).toBe(2);
    expect(req.applied['create batch/jobs/orders/lost-answer']).toBe(1);
    expect(req.applied['delete batch/jobs/orders/lost-answer']).toBe(1);
  });

  it('a persistent 500 surfaces as a retryable KubeServerError for Temporal', async () => {
    await twin.control('PUT', '/_twin/faults', { rules: [{ verb: 'list', resource: 'pods', kind: 'status', status: 500, rate: 1 }] });
    const err = await twin.kube.listPods('orders').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(KubeErrorType.serverError);
    expect((err as ApplicationFailure).nonRetryable).toBe(false);
  });

  it('a 422 from the strict server is non-retryable KubeInvalid', async () => {
    const err = await twin.kube.patchNamespace('orders', { metadata: { labels: { 'bad label!': 'x' } } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as ApplicationFailure).type).toBe(KubeErrorType.invalid);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });
});
