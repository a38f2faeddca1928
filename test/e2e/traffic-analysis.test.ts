// End to end: the field report's metric checks against a REAL Prometheus (Debian's, found by
// scripts/prometheus.sh) scraping the twin's proxies, with live traffic through DNS and the mesh for
// the whole run:
//  - the rehearsal with live traffic: 0 failed requests, by the load generator and by Prometheus;
//  - a namespace whose error rate rises once it runs on the target: caught by its analysis, moved
//    back, never migrated, DNS never switched;
//  - a client pinned to the old gateway's address: the drain check never passes, the decommission
//    gate never opens; once the client stops, retry passes;
//  - Prometheus down: the baseline fails with the query and why, nothing is relabelled.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runStatus } from '../../client/runs.js';
import { prometheusTrafficTotals, startRehearsalTraffic, untilPrometheusSeesTraffic } from '../../client/rehearsal-traffic.js';
import { loadPlan } from '../../plan/load.js';
import { freePort } from '../../lab/ports.js';
import type { PrometheusServer } from '../../lab/prometheus.js';
import type { LoadHandle, LoadReport } from '../../traffic/load.js';
import { renderLoadReport } from '../../traffic/report.js';
import type { Twin } from '../../twin/index.js';
import { startTestPrometheus } from '../support/prometheus.js';
import {
  APPROVER,
  type Cli,
  HOSTS,
  NAMESPACES,
  SOURCE_REV,
  STARTER,
  TARGET_REV,
  TERMINAL,
  type Twins,
  type PlanDoc,
  type RunningWorker,
  approveAllAndFinish,
  approveWhenOpen,
  describeSeen,
  elapsed,
  gatewayRequest,
  namespaceLabels,
  podRevisions,
  resolveA,
  sourceGateway,
  startE2eTwin,
  startMultiTwinStack,
  stopStack,
  tempDir,
  waitForRun,
  writePlan,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twins: Twins;
let worker: RunningWorker;
let cli: Cli;
const fileStart = Date.now();
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ env, twins, worker, cli } = await startMultiTwinStack());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await stopStack({ env, twins, worker }, 'traffic-analysis.test.ts', fileStart);
});

async function canListen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: address, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** One port free on both gateway addresses: a load balancer listens on the same port whichever address DNS gives. */
async function gatewayPort(): Promise<number> {
  for (;;) {
    const p = await freePort('127.0.0.10');
    if (await canListen('127.0.0.20', p)) return p;
  }
}

interface Rehearsal {
  twin: Twin;
  prom: PrometheusServer;
  port: number;
  planFile: string;
  /** The example plan unedited: what the live load sends (all of its probes' hosts and calls). */
  loadPlanFile: string;
}

/** The field-report twin with both gateways on one port, and a real Prometheus scraping its proxies every second. */
async function rehearsal(context: string, edit?: (p: PlanDoc) => void, promUrl?: (prom: PrometheusServer) => string): Promise<Rehearsal> {
  const port = await gatewayPort();
  const twin = twins.add(
    await startE2eTwin({
      context,
      overrides: {
        randomPorts: true,
        gatewayPorts: { 'istio-system/istio-ingressgateway': port, [`${TARGET_REV}/istio-ingressgateway`]: port },
      },
    }),
  );
  const prom = await startTestPrometheus({ scrapeIntervalMs: 1000, httpSd: [{ url: twin.stats.sdUrl, refreshIntervalMs: 1000 }] });
  cleanups.push(() => prom.close());
  const planFile = await writePlan(twin, await tempDir(context), (p) => {
    // Short windows for the twin (1 s scrapes): the defaults are minutes.
    p.analysis = {
      prometheus: { url: promUrl ? promUrl(prom) : prom.url, timeout: '5s' },
      interval: '1s',
      baseline: { window: '10s' },
      namespace: { window: '4s', maxErrorRateIncrease: 0.02 },
      cutover: { window: '4s', timeout: '60s' },
      drain: { window: '4s', timeout: '60s' },
    };
    edit?.(p);
  });
  const loadPlanFile = await writePlan(twin, await tempDir(`${context}-load`));
  return { twin, prom, port, planFile, loadPlanFile };
}

/** The run's phase, polled, for the load generator's per-phase counts. */
function phaseOf(client: Client, id: string): { phase: () => string; stop: () => void } {
  let phase = 'before-start';
  let stopped = false;
  void (async () => {
    while (!stopped) {
      phase = await runStatus(client, id)
        .then((s) => s.phase)
        .catch(() => phase);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return { phase: () => phase, stop: () => (stopped = true) };
}

async function liveTraffic(r: Rehearsal, phase: () => string): Promise<LoadHandle> {
  const { plan } = await loadPlan(r.loadPlanFile);
  const load = startRehearsalTraffic({
    plan,
    gatewayPort: r.port,
    callUrl: r.twin.controlUrls.istioCall!,
    ratePerSecond: 5,
    maxDurationMs: 10 * 60_000,
    phase,
  });
  cleanups.push(() => load.stop());
  return load;
}

/** Until Prometheus has scraped requests from the load (the baseline needs a few samples). */
async function prometheusSeesTraffic(prom: PrometheusServer): Promise<void> {
  if (!(await untilPrometheusSeesTraffic(prom.url, 30_000, 5_000))) throw new Error(`Prometheus ${prom.url} saw no traffic within 30s`);
}

function show(name: string, report: LoadReport): void {
  console.log(`[e2e] ${name}: ${renderLoadReport(report).split('\n').join('\n[e2e]   ')}`);
}

describe('traffic evidence through a real Prometheus', () => {
  it('the rehearsal with live traffic: every check passes on measured traffic, and not one request fails', async () => {
    const t0 = Date.now();
    const r = await rehearsal('e2e-traffic-clean');
    const id = 'e2e-traffic-clean';
    const tracker = phaseOf(env.client, id);
    const load = await liveTraffic(r, tracker.phase);
    await prometheusSeesTraffic(r.prom);
    await new Promise((res) => setTimeout(res, 5_000)); // a baseline over several scrapes
    const runStart = Date.now();
    await cli.start(r.planFile, id, STARTER);
    const end = await approveAllAndFinish(cli, env.client, id);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    await new Promise((res) => setTimeout(res, 2_000)); // the last scrape of the last requests
    tracker.stop();
    const report = await load.stop();
    show('live traffic during the rehearsal', report);

    // The load generator: thousands of requests over every phase, through both gateways, none failed.
    expect(report.sent).toBeGreaterThan(500);
    expect(report.failed, JSON.stringify(report.failures)).toBe(0);
    expect(report.dropped).toBe(0);
    expect(Object.keys(report.byAddress).sort()).toEqual(['127.0.0.10', '127.0.0.20']);
    for (const p of ['namespaces', 'dns-cutover', 'verifying']) expect(report.byPhase[p]?.sent ?? 0, p).toBeGreaterThan(0);

    // Prometheus agrees: the proxies reported the requests, and no failed answer.
    const totals = await prometheusTrafficTotals(r.prom.url, Date.now() - runStart + 10_000);
    console.log(
      `[e2e] Prometheus over the run: ${totals.requests.toFixed(0)} requests, ${totals.failed.toFixed(0)} failed (${totals.queries.join('; ')})`,
    );
    expect(totals.requests).toBeGreaterThan(report.sent / 3);
    expect(totals.failed).toBe(0);

    // Each check ran on measured numbers.
    const s = await cli.status(id);
    const step = (sid: string) => s.steps.find((x) => x.id === sid);
    expect(step('traffic-baseline')).toMatchObject({ state: 'succeeded' });
    expect(step('traffic-baseline')!.summary).toMatch(
      /^4 namespace\(s\) with traffic \([\d.]+ req\/s\), 0 without; no errors; old gateway [\d.]+ req\/s$/,
    );
    expect(step('traffic-shift')).toMatchObject({ state: 'succeeded' });
    expect(step('gateway-drained')!.summary).toMatch(/the old gateway has carried no request for \d+s/);
    for (const ns of NAMESPACES) {
      const child = await runStatus(env.client, `${id}/ns/${ns}`);
      expect(
        child.steps.find((x) => x.id === 'verify-metrics'),
        ns,
      ).toMatchObject({ state: 'succeeded', summary: expect.stringMatching(/^error rate 0\.00%/) });
    }
    console.log(`[e2e] rehearsal with live traffic: run ${elapsed(runStart)}, test ${elapsed(t0)}`);
  }, 600_000);

  it('a namespace whose error rate rises on the target: its analysis fails, it is moved back, DNS never switches', async () => {
    const t0 = Date.now();
    const r = await rehearsal('e2e-traffic-regression', (p) => {
      p.failurePolicy = { onNamespaceFailure: 'rollback-namespace', failureBudget: 1 };
      // Only the live load reaches orders, so the analysis (not a probe that happens to hit an error) is what must catch it.
      p.verification.gateway = p.verification.gateway.filter((g: { namespace: string }) => g.namespace !== 'orders');
      p.verification.crossNamespace = p.verification.crossNamespace.filter((c: { url: string }) => !c.url.includes('//orders.'));
    });
    // One request in five to orders fails once its pods run the target's sidecar.
    r.twin.control.setIstioFaults({
      ...r.twin.control.istioFaults(),
      requestErrors: [{ namespace: 'orders', revision: TARGET_REV, rate: 0.2, status: 500 }],
    });
    const id = 'e2e-traffic-regression';
    const tracker = phaseOf(env.client, id);
    const load = await liveTraffic(r, tracker.phase);
    await prometheusSeesTraffic(r.prom);
    await new Promise((res) => setTimeout(res, 3_000));
    await cli.start(r.planFile, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    const paused = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      'the failure-budget pause',
    );
    const s = await cli.status(id);
    expect(s.pendingDecision, describeSeen(paused)).toMatchObject({ step: 'failure-budget' });
    const orders = s.namespaces.find((n) => n.name === 'orders')!;
    expect(orders.state).toBe('failed');
    expect(orders.error).toMatch(/orders: error rate \d+\.\d\d% over the last 4s is above its baseline 0\.00% \+ 2\.00%/);
    const child = await runStatus(env.client, `${id}/ns/orders`);
    expect(child.steps.find((x) => x.id === 'verify-metrics')).toMatchObject({ state: 'failed' });
    expect(child.steps.find((x) => x.id === 'verify-traffic')).toMatchObject({ state: 'succeeded' });
    // Moved back by its own workflow: labels as before, every pod on the source again.
    expect(await namespaceLabels(r.twin, 'orders')).toMatchObject({ 'istio-injection': 'enabled' });
    expect(Object.values(await podRevisions(r.twin, 'orders')).every((rev) => rev === SOURCE_REV)).toBe(true);
    // The dns-cutover gate never opened; the records still point at the old gateway.
    expect(s.gates.map((g) => g.id)).not.toContain('dns-cutover');
    for (const h of HOSTS) expect(await resolveA(r.twin, h)).toEqual([sourceGateway(r.twin).address]);

    tracker.stop();
    const report = await load.stop();
    show('live traffic while orders regressed', report);
    // The injected errors are real answers the clients saw, during the namespaces phase only.
    expect(report.byStatus['500'] ?? 0).toBeGreaterThan(0);
    expect(Object.entries(report.byPhase).filter(([p, c]) => c.failed > 0 && p !== 'namespaces' && p !== 'rolling-back')).toEqual([]);
    await cli.ok(['decide', id, 'abort', '--reason', 'e2e: orders regressed on the target'], APPROVER);
    await waitForRun(env.client, id, (x) => TERMINAL.includes(x.status.phase), 'the abort');
    console.log(`[e2e] regression caught before DNS cutover: ${elapsed(t0)}`);
  }, 600_000);

  it('a client pinned to the old gateway: the drain never passes and decommission stays closed; once it stops, retry passes', async () => {
    const t0 = Date.now();
    const r = await rehearsal('e2e-traffic-pinned', (p) => {
      p.analysis.drain = { window: '4s', timeout: '12s' };
    });
    const id = 'e2e-traffic-pinned';
    const tracker = phaseOf(env.client, id);
    const load = await liveTraffic(r, tracker.phase);
    // A client that ignores DNS: it calls the old gateway's address directly, twice a second.
    let pinned = true;
    let pinnedSent = 0;
    const pinnedLoop = (async () => {
      while (pinned) {
        await gatewayRequest(sourceGateway(r.twin), 'shop.y7test.com').catch(() => undefined);
        pinnedSent++;
        await new Promise((res) => setTimeout(res, 500));
      }
    })();
    await prometheusSeesTraffic(r.prom);
    await new Promise((res) => setTimeout(res, 3_000));
    await cli.start(r.planFile, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    await approveWhenOpen(cli, env.client, id, 'dns-cutover');
    // While it waits, `meshmove status` says what the wait sees.
    await waitForRun(
      env.client,
      id,
      (x) => x.status.currentStep === 'gateway-drained' || x.attention.decisions.length > 0,
      'the drain wait',
    );
    const during = await cli.run(['status', id]);
    expect(during.stdout).toMatch(/waiting: old gateway still at [\d.]+ req\/s; gives up in \d+s/);
    const paused = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      'the drain failure',
    );
    const s = await cli.status(id);
    expect(s.pendingDecision, describeSeen(paused)).toMatchObject({ step: 'gateway-drained' });
    expect(s.pendingDecision!.error).toMatch(
      /the old gateway still carries traffic after 12s: Prometheus answered [\d.]+ \(.*req\/s\) to sum\(rate\(istio_requests_total\{reporter="source",source_workload="istio-ingressgateway",source_workload_namespace="istio-system"\}\[4s\]\)\); decommission stays closed/,
    );
    expect(s.steps.find((x) => x.id === 'traffic-shift')).toMatchObject({ state: 'succeeded' });
    expect(s.gates.map((g) => g.id)).not.toContain('decommission');

    // The pinned client moves on; retry waits for a whole window of zeros, then the gate opens.
    pinned = false;
    await pinnedLoop;
    await cli.ok(['decide', id, 'retry', '--reason', 'e2e: the pinned client was repointed'], APPROVER);
    await approveWhenOpen(cli, env.client, id, 'decommission');
    const end = await waitForRun(env.client, id, (x) => TERMINAL.includes(x.status.phase), 'the end of the run');
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    tracker.stop();
    const report = await load.stop();
    show('live traffic with a pinned client', report);
    expect(report.failed, JSON.stringify(report.failures)).toBe(0);
    console.log(
      `[e2e] pinned client: ${pinnedSent} requests to the old gateway; drain held decommission closed, then passed: ${elapsed(t0)}`,
    );
  }, 600_000);

  it('Prometheus down: the baseline fails with the query and why, and nothing is relabelled', async () => {
    const t0 = Date.now();
    const closed = await freePort();
    const r = await rehearsal('e2e-traffic-noprom', undefined, () => `http://127.0.0.1:${closed}`);
    const before = Object.fromEntries(await Promise.all(NAMESPACES.map(async (ns) => [ns, await namespaceLabels(r.twin, ns)] as const)));
    const id = 'e2e-traffic-noprom';
    await cli.start(r.planFile, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    const paused = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      'the baseline failure',
    );
    const s = await cli.status(id);
    expect(s.pendingDecision, describeSeen(paused)).toMatchObject({ step: 'traffic-baseline' });
    expect(s.pendingDecision!.error).toContain(`Prometheus http://127.0.0.1:${closed}`);
    expect(s.pendingDecision!.error).toMatch(/istio_requests_total/);
    expect(s.pendingDecision!.error).toMatch(/unreachable|refused|ECONNREFUSED/i);
    for (const ns of NAMESPACES) expect(await namespaceLabels(r.twin, ns)).toEqual(before[ns]);
    await cli.ok(['decide', id, 'abort', '--reason', 'e2e: no Prometheus'], APPROVER);
    await waitForRun(env.client, id, (x) => TERMINAL.includes(x.status.phase), 'the abort');
    console.log(`[e2e] Prometheus down caught at the baseline: ${elapsed(t0)}`);
  }, 600_000);
});
