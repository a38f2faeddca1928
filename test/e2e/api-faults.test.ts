// End to end under a flaky API server: the twin answers about 10% of the requests (seeded, so a run
// is reproducible) with 429 (Retry-After), 500, 409 or a dropped connection. The migration still
// completes through the CLI, and nothing is applied twice: each namespace is patched once, each
// workload restarted once (the counters count only requests that reached the server's storage).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import {
  type Cli, startSingleTwinStack, stopStack, HOSTS, NAMESPACES, STARTER, TARGET_REV, approveAllAndFinish,
  describeSeen, elapsed, gatewayRequest, namespaceLabels, migratedLabels, podRevisions, putApiFaults,
  resolveA, targetGateway, twinCounters, type RunningWorker,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twin: Twin;
let worker: RunningWorker;
let cli: Cli;
let planFile: string;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twin, worker, cli, planFile } = await startSingleTwinStack('faults'));
});

afterAll(() => stopStack({ env, twin, worker }, 'api-faults.test.ts', fileStart));

const READS = ['get', 'list'];
const WRITES = ['create', 'update', 'patch', 'delete'];

/** ~10% of reads and writes fail (watches are left alone: they are long-lived streams). */
function faultRules(seed: number) {
  const rules: Record<string, unknown>[] = [];
  for (const verb of [...READS, ...WRITES]) {
    rules.push({ verb, kind: 'status', status: 429, retryAfterSeconds: 1, rate: 0.03, seed: seed + rules.length });
    rules.push({ verb, kind: 'status', status: 500, rate: 0.03, seed: seed + rules.length });
    // A conflict is what a write gets when someone else wrote first; on reads it is not a thing.
    if (WRITES.includes(verb)) rules.push({ verb, kind: 'status', status: 409, rate: 0.03, seed: seed + rules.length });
    rules.push({ verb, kind: 'drop', rate: READS.includes(verb) ? 0.04 : 0.01, seed: seed + rules.length });
  }
  return rules;
}

describe('the migration on an API server that fails ~10% of requests', () => {
  it('completes through the CLI, and every change is applied once', async () => {
    const t0 = Date.now();
    const id = 'e2e-api-faults';
    await putApiFaults(twin, { rules: faultRules(4242), stuckRollouts: [] });
    twin.control.resetCounters();

    await cli.start(planFile, id, STARTER);
    const end = await approveAllAndFinish(cli, env.client, id);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    const counters = await twinCounters(twin);
    await putApiFaults(twin, { rules: [], stuckRollouts: [] });
    console.log(`[e2e] under API faults: ${elapsed(t0)}; ${counters.faultedTotal} of ${counters.total + counters.faultedTotal} requests faulted: ${JSON.stringify(counters.faulted)}`);

    // The faults really happened, on the kinds of requests the migration makes.
    expect(counters.faultedTotal).toBeGreaterThan(20);
    expect(Object.keys(counters.faulted).some((k) => k.startsWith('patch '))).toBe(true);
    expect(Object.keys(counters.faulted).some((k) => k.startsWith('list ') || k.startsWith('get '))).toBe(true);

    const s = await cli.status(id);
    expect(s.phase).toBe('completed');
    expect(s.namespaces.every((n) => n.state === 'migrated')).toBe(true);

    // Nothing applied twice: one namespace patch each, one restart per workload, five deletions.
    for (const ns of NAMESPACES) expect(counters.byObject[`patch namespaces/${ns}`], `patch namespaces/${ns}`).toBe(1);
    for (const [res, ns, name] of [['deployments', 'inventory', 'inventory'], ['deployments', 'payments', 'payments'], ['deployments', 'orders', 'orders'], ['statefulsets', 'orders', 'orders-ledger'], ['deployments', 'frontend', 'frontend']] as const) {
      const key = `apps/${res}/${ns}/${name}`;
      expect((counters.byObject[`patch ${key}`] ?? 0) + (counters.byObject[`update ${key}`] ?? 0), key).toBe(1);
    }
    for (const key of [
      'delete admissionregistration.k8s.io/mutatingwebhookconfigurations/istio-sidecar-injector',
      'delete apps/deployments/istio-system/istiod',
      'delete apps/deployments/istio-system/istio-ingressgateway',
      'delete services/istio-system/istiod',
      'delete services/istio-system/istio-ingressgateway',
    ]) expect(counters.byObject[key], key).toBe(1);

    // And the cluster is where it should be.
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns)).toEqual(migratedLabels(ns));
      expect(Object.values(await podRevisions(twin, ns)).every((r) => r === TARGET_REV), ns).toBe(true);
    }
    expect((await gatewayRequest(targetGateway(twin), 'shop.y7test.com', '/')).status).toBe(200);
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([targetGateway(twin).address]);
  }, 900_000);
});
