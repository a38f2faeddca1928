// Pure pieces of the twin's request telemetry, table-tested: Istio's workload name derivation, the
// label set a proxy reports, the deterministic error accumulator and which faults apply, the http_sd
// answer, the POST /_twin/istio/call body, and the requestErrors fault schema.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseCallBody } from '../../twin/istio/control-routes.js';
import { accumulate, faultApplies, type ErrorSite } from '../../twin/istio/request-errors.js';
import { podIdentity, RequestMetrics, REQUEST_LABELS, requestLabels, workloadName } from '../../twin/istio/request-metrics.js';
import { httpSdGroups } from '../../twin/istio/stats-server.js';
import { istioFaultsSchema, type RequestErrorFault } from '../../twin/scenario.js';

const pod = (name: string, owner?: { kind: string; name: string }, labels: Record<string, string> = {}): V1Pod => ({
  metadata: {
    name,
    namespace: 'orders',
    labels,
    ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: 'u', controller: true }] } : {}),
  },
});

describe('workload name (Istio GetDeployMetaFromPod)', () => {
  it.each([
    ['Deployment pod', pod('orders-7d9f-abcde', { kind: 'ReplicaSet', name: 'orders-7d9f' }, { 'pod-template-hash': '7d9f' }), 'orders'],
    ['ReplicaSet without the hash label', pod('rs-x', { kind: 'ReplicaSet', name: 'bare-rs' }), 'bare-rs'],
    ['StatefulSet pod', pod('orders-ledger-0', { kind: 'StatefulSet', name: 'orders-ledger' }), 'orders-ledger'],
    ['CronJob Job pod', pod('backup-28930000-xyz', { kind: 'Job', name: 'backup-28930000' }), 'backup'],
    ['plain Job pod', pod('migrate-abc', { kind: 'Job', name: 'migrate' }), 'migrate'],
    ['bare pod', pod('debug'), 'debug'],
  ] as Array<[string, V1Pod, string]>)('%s → %s', (_n, p, want) => expect(workloadName(p)).toBe(want));

  it('canonical service and revision follow the injector labels, then app/version', () => {
    expect(podIdentity(pod('a-1', undefined, { app: 'shop', version: 'v2' }))).toMatchObject({
      app: 'shop',
      version: 'v2',
      canonicalService: 'shop',
      canonicalRevision: 'v2',
    });
    expect(
      podIdentity(
        pod('a-1', undefined, { app: 'shop', 'service.istio.io/canonical-name': 'store', 'service.istio.io/canonical-revision': 'r9' }),
      ),
    ).toMatchObject({ canonicalService: 'store', canonicalRevision: 'r9', version: 'unknown' });
    expect(podIdentity(pod('solo'))).toMatchObject({
      app: 'unknown',
      canonicalService: 'solo',
      canonicalRevision: 'latest',
      principal: 'spiffe://cluster.local/ns/orders/sa/default',
    });
  });
});

describe('request labels', () => {
  it('every standard label, "unknown" for what the reporter cannot know', () => {
    const l = requestLabels({
      reporter: 'source',
      source: null,
      destination: null,
      service: null,
      responseCode: 404,
      responseFlags: 'NR',
      connectionSecurityPolicy: 'unknown',
    });
    expect(Object.keys(l)).toEqual([...REQUEST_LABELS]);
    expect(l).toMatchObject({
      source_workload: 'unknown',
      source_cluster: 'unknown',
      destination_service: 'unknown',
      destination_cluster: 'unknown',
      response_code: '404',
      response_flags: 'NR',
      grpc_response_status: '',
      request_protocol: 'http',
    });
  });

  it('counts by series and renders the text format with escaped values', () => {
    const m = new RequestMetrics();
    const me = { workload: 'w"x', namespace: 'n', principal: 'p', app: 'a', version: 'v', canonicalService: 'c', canonicalRevision: 'r' };
    const report = {
      reporter: 'source' as const,
      source: me,
      destination: null,
      service: null,
      responseCode: 200,
      responseFlags: '-',
      connectionSecurityPolicy: 'unknown' as const,
    };
    m.record(me, report);
    m.record(me, report);
    m.record(me, { ...report, responseCode: 500 });
    const text = m.render('n', 'w"x');
    expect(text).toContain('# TYPE istio_requests_total counter\n');
    expect(text).toMatch(/source_workload="w\\"x".*response_code="200".*\} 2\n/);
    expect(text).toMatch(/response_code="500".*\} 1\n/);
    expect(m.workloads()).toEqual(['n/w"x']);
  });
});

describe('request errors', () => {
  it.each([
    [0.5, [false, true, false, true]],
    [1, [true, true, true]],
    [0.25, [false, false, false, true, false, false, false, true]],
    [0.1, [false, false, false, false, false, false, false, false, false, true]],
    [1 / 3, [false, false, true, false, false, true]],
  ])('rate %s fails deterministically', (rate, want) => {
    let acc = 0;
    const got = want.map(() => {
      const r = accumulate(acc, rate);
      acc = r.acc;
      return r.fail;
    });
    expect(got).toEqual(want);
  });

  const f = (x: Partial<RequestErrorFault>): RequestErrorFault => ({ rate: 1, status: 500, ...x });
  it.each([
    [f({ namespace: 'orders' }), { kind: 'destination', namespace: 'orders', revision: 'default' }, true],
    [f({ namespace: 'orders' }), { kind: 'destination', namespace: 'payments', revision: 'default' }, false],
    [f({ namespace: 'orders', revision: 'istio-1-16-5' }), { kind: 'destination', namespace: 'orders', revision: 'default' }, false],
    [f({ namespace: 'orders', revision: 'istio-1-16-5' }), { kind: 'destination', namespace: 'orders', revision: 'istio-1-16-5' }, true],
    [f({ namespace: 'orders', revision: 'istio-1-16-5' }), { kind: 'destination', namespace: 'orders', revision: null }, false],
    [f({ namespace: 'orders' }), { kind: 'gateway', gateway: 'orders/gw', revision: null }, false],
    [f({ gateway: 'istio-system/gw' }), { kind: 'gateway', gateway: 'istio-system/gw', revision: null }, true],
    [f({ gateway: 'istio-system/gw' }), { kind: 'destination', namespace: 'istio-system', revision: null }, false],
  ] as Array<[RequestErrorFault, ErrorSite, boolean]>)('%j at %j → %s', (fault, site, want) =>
    expect(faultApplies(fault, site)).toBe(want),
  );

  it.each([
    [{ namespace: 'orders', rate: 0.5 }, true],
    [{ gateway: 'istio-system/istio-ingressgateway', rate: 1, status: 503 }, true],
    [{ rate: 0.5 }, false],
    [{ namespace: 'orders', gateway: 'a/b', rate: 0.5 }, false],
    [{ namespace: 'orders', rate: 0 }, false],
    [{ namespace: 'orders', rate: 1.01 }, false],
    [{ gateway: 'no-slash', rate: 0.5 }, false],
  ])('schema %j valid=%s', (entry, valid) => {
    expect(istioFaultsSchema.safeParse({ requestErrors: [entry] }).success).toBe(valid);
  });

  it('defaults status to 500 and the list to []', () => {
    expect(istioFaultsSchema.parse({}).requestErrors).toEqual([]);
    expect(istioFaultsSchema.parse({ requestErrors: [{ namespace: 'x', rate: 0.5 }] }).requestErrors[0]!.status).toBe(500);
  });
});

describe('http_sd and the call body', () => {
  it('http_sd groups', () => {
    expect(httpSdGroups('127.0.0.1:9', [{ namespace: 'a', workload: 'b' }])).toEqual([
      { targets: ['127.0.0.1:9'], labels: { __metrics_path__: '/stats/prometheus/a/b', namespace: 'a', workload: 'b' } },
    ]);
  });

  it.each([
    [
      '{"from":"orders","url":"http://payments.payments.svc.cluster.local:8080/x"}',
      { from: 'orders', url: 'http://payments.payments.svc.cluster.local:8080/x' },
    ],
    ['nope', 'error'],
    ['null', 'error'],
    ['{"from":"Orders!","url":"http://a/"}', 'error'],
    ['{"from":"orders","url":42}', 'error'],
    ['{"from":"orders","url":"not a url"}', 'error'],
  ])('%s', (body, want) => {
    const got = parseCallBody(Buffer.from(body));
    if (want === 'error') expect(got).toHaveProperty('error');
    else expect(got).toEqual(want);
  });
});
