// "The twin exports what Istio exports": real HTTP requests through the field report's gateways and
// through POST /_twin/istio/call, then a real scrape of each workload's /stats/prometheus: the
// istio_requests_total series with Istio's labels and exact counts, 404 NR / 503 NC / 503 UH at the
// gateway, injected request errors (deterministic rate, namespace or gateway, revision-scoped) in the
// answers and in the counts, and the http_sd listing Prometheus discovers the workloads from.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarRevision } from '../../mesh/syncz.js';
import { startTwin, type Twin } from '../../twin/index.js';
import { clientsFor, httpGet, MERGE, podsOf, relabelToTarget, rolloutRestart, sendJson, type Clients } from './istio-helpers.js';

const FIELD_REPORT = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const TARGET = 'istio-1-16-5';
const OLD_GW = 'istio-system/istio-ingressgateway';
process.env.MESHMOVE_LOG_LEVEL ??= 'warn';

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
}

/** Parses the Prometheus text format (only what Envoy emits: counters with quoted label values). */
function parsePrometheus(text: string): { types: Record<string, string>; samples: Sample[] } {
  const types: Record<string, string> = {};
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types[t[1]!] = t[2]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^istio_requests_total\{(.*)\} (\d+)$/.exec(line);
    if (!m) throw new Error(`unexpected line: ${line}`);
    const labels: Labels = {};
    for (const l of m[1]!.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ labels, value: Number(m[2]) });
  }
  return { types, samples };
}

const sum = (samples: Sample[], match: Labels): number =>
  samples.filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

const post = (url: string, body: string) => sendJson('POST', url, body);
const put = (url: string, body: unknown) => sendJson('PUT', url, JSON.stringify(body));

describe('istio_requests_total and /stats/prometheus (field-report twin)', () => {
  let twin: Twin;
  let c: Clients;
  const gw = (key: string): string => twin.gateways[key]!.url;
  const scrape = async (ns: string, workload: string): Promise<Sample[]> => {
    const res = await httpGet(`${twin.stats.url}/stats/prometheus/${ns}/${workload}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const parsed = parsePrometheus(res.body);
    expect(parsed.types.istio_requests_total).toBe('counter');
    return parsed.samples;
  };
  const call = async (from: string, url: string): Promise<{ status: number; reason?: string }> => {
    const res = await post(twin.controlUrls.istioCall!, JSON.stringify({ from, url }));
    expect(res.status).toBe(200);
    return JSON.parse(res.body) as { status: number; reason?: string };
  };
  const setFaults = async (f: unknown): Promise<void> => {
    const res = await put(twin.controlUrls.istioFaults!, f);
    expect(res.status, res.body).toBe(200);
  };

  beforeAll(async () => {
    twin = await startTwin(FIELD_REPORT, { randomPorts: true });
    c = clientsFor(twin.kubeconfigPath);
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('a gateway reports every answer as reporter="source", the destination sidecar as reporter="destination"', async () => {
    for (let i = 0; i < 4; i++) expect((await httpGet(`${gw(OLD_GW)}/p${i}`, 'shop.y7test.com')).status).toBe(200);
    expect((await httpGet(`${gw(OLD_GW)}/`, 'unknown.example.com')).status).toBe(404);
    // The new gateway's istiod does not discover frontend: a route, but no cluster.
    expect((await httpGet(`${gw(`${TARGET}/istio-ingressgateway`)}/`, 'shop.y7test.com')).status).toBe(503);

    const g = await scrape('istio-system', 'istio-ingressgateway');
    const ok = g.filter((s) => s.labels.response_code === '200');
    expect(ok).toHaveLength(1);
    expect(ok[0]).toEqual({
      value: 4,
      labels: {
        reporter: 'source',
        source_workload: 'istio-ingressgateway',
        source_workload_namespace: 'istio-system',
        source_principal: 'spiffe://cluster.local/ns/istio-system/sa/default',
        source_app: 'istio-ingressgateway',
        source_version: 'unknown',
        source_canonical_service: 'istio-ingressgateway',
        source_canonical_revision: 'latest',
        source_cluster: 'Kubernetes',
        destination_workload: 'frontend',
        destination_workload_namespace: 'frontend',
        destination_principal: 'spiffe://cluster.local/ns/frontend/sa/default',
        destination_app: 'frontend',
        destination_version: 'v1',
        destination_service: 'frontend.frontend.svc.cluster.local',
        destination_service_name: 'frontend',
        destination_service_namespace: 'frontend',
        destination_canonical_service: 'frontend',
        destination_canonical_revision: 'v1',
        destination_cluster: 'Kubernetes',
        request_protocol: 'http',
        response_code: '200',
        grpc_response_status: '',
        response_flags: '-',
        connection_security_policy: 'unknown',
      },
    });
    expect(g.filter((s) => s.labels.response_code === '404')).toEqual([
      expect.objectContaining({
        value: 1,
        labels: expect.objectContaining({
          reporter: 'source',
          destination_service: 'unknown',
          destination_workload: 'unknown',
          response_flags: 'NR',
        }),
      }),
    ]);
    const newGw = await scrape(TARGET, 'istio-ingressgateway');
    expect(newGw).toEqual([
      expect.objectContaining({
        value: 1,
        labels: expect.objectContaining({
          reporter: 'source',
          source_workload: 'istio-ingressgateway',
          source_workload_namespace: TARGET,
          response_code: '503',
          response_flags: 'NC',
          destination_service: 'frontend.frontend.svc.cluster.local',
          destination_workload: 'unknown',
        }),
      }),
    ]);

    const f = await scrape('frontend', 'frontend');
    expect(f).toHaveLength(1);
    expect(f[0]!.value).toBe(4);
    expect(f[0]!.labels).toMatchObject({
      reporter: 'destination',
      source_workload: 'istio-ingressgateway',
      source_workload_namespace: 'istio-system',
      destination_workload: 'frontend',
      destination_service_name: 'frontend',
      response_code: '200',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    });
  });

  it('a gateway with no ready endpoint behind a route answers 503 UH and counts it', async () => {
    await c.apps.patchNamespacedDeployment({ name: 'inventory', namespace: 'inventory', body: { spec: { replicas: 0 } } }, MERGE);
    await expect
      .poll(
        async () =>
          (await podsOf(c, 'inventory', 'inventory')).length === 0 &&
          (await httpGet(`${gw(OLD_GW)}/inventory/x`, 'api.y7test.com')).status === 503,
        { timeout: 15_000, message: 'inventory scaled to 0' },
      )
      .toBe(true);
    const before = sum(await scrape('istio-system', 'istio-ingressgateway'), {
      response_code: '503',
      response_flags: 'UH',
      destination_service_name: 'inventory',
    });
    expect((await httpGet(`${gw(OLD_GW)}/inventory/y`, 'api.y7test.com')).status).toBe(503);
    expect(
      sum(await scrape('istio-system', 'istio-ingressgateway'), {
        response_code: '503',
        response_flags: 'UH',
        destination_service_name: 'inventory',
      }),
    ).toBe(before + 1);
    await c.apps.patchNamespacedDeployment({ name: 'inventory', namespace: 'inventory', body: { spec: { replicas: 2 } } }, MERGE);
    await expect
      .poll(async () => (await httpGet(`${gw(OLD_GW)}/inventory/z`, 'api.y7test.com')).status === 200, {
        timeout: 15_000,
        message: 'inventory back',
      })
      .toBe(true);
  });

  it('POST /_twin/istio/call: an in-mesh call, counted at the caller (source) and at the destination', async () => {
    // orders runs orders-ledger-0 and two orders pods: callers are taken round robin by name.
    for (let i = 0; i < 6; i++)
      expect(await call('orders', 'http://payments.payments.svc.cluster.local:8080/pay')).toEqual({ status: 200 });
    const orders = await scrape('orders', 'orders');
    const ledger = await scrape('orders', 'orders-ledger');
    const toPayments = {
      reporter: 'source',
      destination_workload: 'payments',
      destination_service: 'payments.payments.svc.cluster.local',
      response_code: '200',
    };
    expect(sum(orders, toPayments)).toBe(4);
    expect(sum(ledger, toPayments)).toBe(2);
    expect(orders.find((s) => s.labels.destination_workload === 'payments')!.labels).toMatchObject({
      source_workload: 'orders',
      source_workload_namespace: 'orders',
      source_canonical_service: 'orders',
      destination_principal: 'spiffe://cluster.local/ns/payments/sa/default',
      connection_security_policy: 'unknown',
    });
    const payments = await scrape('payments', 'payments');
    expect(
      sum(payments, { reporter: 'destination', source_workload: 'orders', connection_security_policy: 'mutual_tls', response_code: '200' }),
    ).toBe(4);
    expect(sum(payments, { reporter: 'destination', source_workload: 'orders-ledger', response_code: '200' })).toBe(2);

    // What the load generator gets when there is no HTTP response, and for bad bodies.
    expect(await call('orders', 'http://nothing.payments.svc.cluster.local:8080/')).toMatchObject({
      status: 0,
      reason: expect.stringContaining('does not resolve'),
    });
    expect(await call('no-such-namespace', 'http://payments.payments.svc.cluster.local:8080/')).toMatchObject({
      status: 0,
      reason: expect.stringContaining('no running pod'),
    });
    for (const bad of ['not json', '{"from":"orders"}', '{"url":"http://x/"}', '{"from":"orders","url":"::"}', '[]']) {
      const res = await post(twin.controlUrls.istioCall!, bad);
      expect(res.status, bad).toBe(400);
      expect(JSON.parse(res.body).error).toEqual(expect.any(String));
    }
  });

  it('requestErrors on a namespace: rate 0.5 fails exactly every 2nd request with 500, in the answers and the counts', async () => {
    const gwBefore = sum(await scrape('istio-system', 'istio-ingressgateway'), { destination_workload: 'payments', response_code: '500' });
    await setFaults({ requestErrors: [{ namespace: 'payments', rate: 0.5 }] });
    expect(twin.control.istioFaults().requestErrors).toEqual([{ namespace: 'payments', rate: 0.5, status: 500 }]);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await httpGet(`${gw(OLD_GW)}/payments/${i}`, 'api.y7test.com')).status);
    expect(statuses).toEqual([200, 500, 200, 500, 200, 500, 200, 500, 200, 500]);
    // The in-mesh call path sees the same fault (the accumulator continues: every 2nd request).
    const viaMesh = [];
    for (let i = 0; i < 4; i++) viaMesh.push((await call('frontend', 'http://payments.payments.svc.cluster.local:8080/x')).status);
    expect(viaMesh).toEqual([200, 500, 200, 500]);

    const g = await scrape('istio-system', 'istio-ingressgateway');
    expect(sum(g, { destination_workload: 'payments', response_code: '500', response_flags: '-' }) - gwBefore).toBe(5);
    const p = await scrape('payments', 'payments');
    expect(sum(p, { reporter: 'destination', source_workload: 'istio-ingressgateway', response_code: '500' })).toBe(5);
    expect(sum(p, { reporter: 'destination', source_workload: 'frontend', response_code: '500' })).toBe(2);
    expect(sum(await scrape('frontend', 'frontend'), { reporter: 'source', destination_workload: 'payments', response_code: '500' })).toBe(
      2,
    );
    await setFaults({ requestErrors: [] });
    expect((await httpGet(`${gw(OLD_GW)}/payments/after`, 'api.y7test.com')).status).toBe(200);
  });

  it('requestErrors on a gateway: aborted at the gateway (FI), the destination never sees them', async () => {
    const destBefore = sum(await scrape('orders', 'orders'), { reporter: 'destination' });
    await setFaults({ requestErrors: [{ gateway: OLD_GW, rate: 1, status: 503 }] });
    for (let i = 0; i < 3; i++) expect((await httpGet(`${gw(OLD_GW)}/orders/${i}`, 'api.y7test.com')).status).toBe(503);
    expect(
      sum(await scrape('istio-system', 'istio-ingressgateway'), {
        response_code: '503',
        response_flags: 'FI',
        destination_service_name: 'orders',
      }),
    ).toBe(3);
    expect(sum(await scrape('orders', 'orders'), { reporter: 'destination' })).toBe(destBefore);
    // Invalid faults are refused: both or neither of namespace/gateway, a rate out of (0,1].
    for (const bad of [
      { rate: 0.5 },
      { namespace: 'orders', gateway: OLD_GW, rate: 0.5 },
      { namespace: 'orders', rate: 0 },
      { namespace: 'orders', rate: 1.5 },
    ]) {
      expect((await put(twin.controlUrls.istioFaults!, { requestErrors: [bad] })).status, JSON.stringify(bad)).toBe(400);
    }
    await setFaults({ requestErrors: [] });
  });

  it('a revision-scoped fault hits only pods injected by that revision: errors rise after the restart onto the new control plane', async () => {
    twin.control.setIstioFaults({ requestErrors: [{ namespace: 'inventory', revision: TARGET, rate: 1 }] });
    const before: number[] = [];
    for (let i = 0; i < 4; i++) before.push((await httpGet(`${gw(OLD_GW)}/inventory/${i}`, 'api.y7test.com')).status);
    expect(before).toEqual([200, 200, 200, 200]);

    await relabelToTarget(c, 'inventory');
    // One pod recreated (by its ReplicaSet, injected by the target now), the other still the vendor's:
    // round robin over the two, so exactly every other request meets the new revision's pod.
    const [victim] = await podsOf(c, 'inventory', 'inventory');
    await c.core.deleteNamespacedPod({ name: victim!.metadata!.name!, namespace: 'inventory' });
    await expect
      .poll(
        async () => {
          const pods = await podsOf(c, 'inventory', 'inventory');
          const revs = pods
            .filter((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
            .map(sidecarRevision)
            .sort();
          return revs.length === 2 && revs[0] === 'default' && revs[1] === TARGET;
        },
        { timeout: 15_000, message: 'one inventory pod on each revision' },
      )
      .toBe(true);
    await expect
      .poll(async () => (await httpGet(`${gw(OLD_GW)}/inventory/warm`, 'api.y7test.com')).status === 500, {
        timeout: 15_000,
        message: 'the twin routes to both',
      })
      .toBe(true);
    const mixed: number[] = [];
    for (let i = 0; i < 6; i++) mixed.push((await httpGet(`${gw(OLD_GW)}/inventory/m${i}`, 'api.y7test.com')).status);
    expect(mixed.filter((x) => x === 500)).toHaveLength(3);
    expect(mixed.filter((x) => x === 200)).toHaveLength(3);
    // Alternating: the same pod never answers twice in a row.
    for (let i = 1; i < mixed.length; i++) expect(mixed[i]).not.toBe(mixed[i - 1]);

    await rolloutRestart(c, 'inventory', 'inventory');
    await expect
      .poll(
        async () => {
          const pods = await podsOf(c, 'inventory', 'inventory');
          const all = (await c.core.listNamespacedPod({ namespace: 'inventory' })).items;
          return all.length === 2 && pods.length === 2 && pods.every((p) => sidecarRevision(p) === TARGET && p.status?.phase === 'Running');
        },
        { timeout: 15_000, message: 'inventory on the target revision' },
      )
      .toBe(true);
    await expect
      .poll(async () => (await httpGet(`${gw(OLD_GW)}/inventory/probe`, 'api.y7test.com')).status, {
        timeout: 15_000,
        message: 'the twin sees only new pods',
      })
      .toBe(500);
    const after: number[] = [];
    for (let i = 0; i < 4; i++) after.push((await httpGet(`${gw(OLD_GW)}/inventory/${i}`, 'api.y7test.com')).status);
    expect(after).toEqual([500, 500, 500, 500]);
    // Orders (still on the vendor revision) is untouched by a fault on inventory anyway; and a
    // fault scoped to the vendor revision does not hit inventory's new pods.
    twin.control.setIstioFaults({ requestErrors: [{ namespace: 'inventory', revision: 'default', rate: 1 }] });
    expect((await httpGet(`${gw(OLD_GW)}/inventory/x`, 'api.y7test.com')).status).toBe(200);
    expect(sum(await scrape('inventory', 'inventory'), { reporter: 'destination', response_code: '500' })).toBeGreaterThanOrEqual(9);
    twin.control.setIstioFaults({ requestErrors: [] });
  });

  it('GET /sd lists every workload with a sidecar (gateways included) in http_sd format, each scrapeable', async () => {
    const res = await httpGet(twin.stats.sdUrl);
    expect(res.status).toBe(200);
    const groups = JSON.parse(res.body) as Array<{ targets: string[]; labels: Record<string, string> }>;
    const hostPort = new URL(twin.stats.url).host;
    const listed = groups.map((g) => `${g.labels.namespace}/${g.labels.workload}`);
    for (const w of [
      'istio-system/istio-ingressgateway',
      `${TARGET}/istio-ingressgateway`,
      'frontend/frontend',
      'orders/orders',
      'orders/orders-ledger',
      'payments/payments',
      'inventory/inventory',
    ]) {
      expect(listed).toContain(w);
    }
    expect(new Set(listed).size).toBe(listed.length);
    // istiod has no sidecar: not a target.
    expect(listed.some((w) => w.startsWith('istio-system/istiod'))).toBe(false);
    expect(groups.find((g) => g.labels.workload === 'payments')).toEqual({
      targets: [hostPort],
      labels: { __metrics_path__: '/stats/prometheus/payments/payments', namespace: 'payments', workload: 'payments' },
    });
    for (const g of groups) expect((await httpGet(`http://${g.targets[0]}${g.labels.__metrics_path__}`)).status).toBe(200);
    expect((await httpGet(`${twin.stats.url}/stats/prometheus/payments/no-such-workload`)).status).toBe(404);
  });
});

describe('the stats server across a twin restart', () => {
  it('closes with the twin; a restored twin serves it again, counters from 0', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'twin-stats-'));
    const statePath = join(dir, 'state.json');
    try {
      const first = await startTwin(FIELD_REPORT, { randomPorts: true, statePath });
      const url = first.stats.url;
      try {
        expect((await httpGet(`${first.gateways[OLD_GW]!.url}/`, 'shop.y7test.com')).status).toBe(200);
        expect((await httpGet(`${url}/stats/prometheus/frontend/frontend`)).body).toMatch(/^istio_requests_total\{.*\} 1$/m);
      } finally {
        await first.close();
      }
      await expect(httpGet(`${url}/sd`)).rejects.toThrow();
      const second = await startTwin(FIELD_REPORT, { randomPorts: true, statePath });
      try {
        expect(second.restored).toBe(true);
        const text = (await httpGet(`${second.stats.url}/stats/prometheus/frontend/frontend`)).body;
        expect(text).not.toMatch(/^istio_requests_total/m);
        expect((await httpGet(`${second.gateways[OLD_GW]!.url}/`, 'shop.y7test.com')).status).toBe(200);
        expect((await httpGet(`${second.stats.url}/stats/prometheus/frontend/frontend`)).body).toMatch(
          /^istio_requests_total\{.*reporter="destination".*\} 1$/m,
        );
        const sd = JSON.parse((await httpGet(second.stats.sdUrl)).body) as Array<{ labels: Record<string, string> }>;
        expect(sd.map((g) => g.labels.workload)).toContain('frontend');
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
