// End to end under a flaky API server: the twin answers about 10% of the requests (seeded, so a run
// is reproducible) with 429 (Retry-After), 500, 409 or a dropped connection, and it carries out some
// writes but loses their answers (the client cannot tell whether they happened and must retry).
// The migration still completes through the CLI, and nothing is applied twice: each namespace is
// relabeled once, each workload restarted once, each old object deleted once (the twin's `applied`
// counters count the writes that changed what is stored).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import {
  type Cli,
  startSingleTwinStack,
  stopStack,
  HOSTS,
  NAMESPACES,
  STARTER,
  TARGET_REV,
  approveAllAndFinish,
  describeSeen,
  elapsed,
  gatewayRequest,
  namespaceLabels,
  migratedLabels,
  podRevisions,
  putApiFaults,
  resolveA,
  targetGateway,
  twinCounters,
  type RunningWorker,
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

/**
 * The first write of each kind the migration makes (relabel, restart, probe Job, decommission) is
 * carried out and its answer lost. These rules come first so that a drawn fault cannot pre-empt them.
 */
const LOST_ANSWERS = [
  { verb: 'patch', resource: 'namespaces', name: 'orders', key: 'patch namespaces/orders' },
  { verb: 'patch', resource: 'apps/deployments', namespace: 'payments', name: 'payments', key: 'patch apps/deployments/payments/payments' },
  { verb: 'create', resource: 'batch/jobs', namespace: 'frontend', key: 'create batch/jobs' },
  {
    verb: 'delete',
    resource: 'apps/deployments',
    namespace: 'istio-system',
    name: 'istiod',
    key: 'delete apps/deployments/istio-system/istiod',
  },
] as const;

/** ~10% of reads and writes fail (watches are left alone: they are long-lived streams). */
function faultRules(seed: number) {
  const rules: Record<string, unknown>[] = LOST_ANSWERS.map(({ key: _key, ...match }) => ({ ...match, kind: 'lose-response', count: 1 }));
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
    const lostFaults = (
      (await (await fetch(twin.controlUrls.faults!)).json()) as { rules: Array<{ kind: string; count?: number }> }
    ).rules.filter((r) => r.kind === 'lose-response');
    await putApiFaults(twin, { rules: [], stuckRollouts: [] });
    console.log(
      `[e2e] under API faults: ${elapsed(t0)}; ${counters.faultedTotal} of ${counters.total + counters.faultedTotal} requests faulted: ${JSON.stringify(counters.faulted)}`,
    );

    // The faults really happened, on the kinds of requests the migration makes.
    expect(counters.faultedTotal).toBeGreaterThan(20);
    expect(Object.keys(counters.faulted).some((k) => k.startsWith('patch '))).toBe(true);
    expect(Object.keys(counters.faulted).some((k) => k.startsWith('list ') || k.startsWith('get '))).toBe(true);

    const s = await cli.status(id);
    expect(s.phase).toBe('completed');
    expect(s.namespaces.every((n) => n.state === 'migrated')).toBe(true);

    // Every lost answer was carried out and then asked again.
    expect(lostFaults.map((r) => r.count)).toEqual(LOST_ANSWERS.map(() => 0));
    for (const { key } of LOST_ANSWERS.filter((l) => l.verb !== 'create'))
      expect(counters.byObject[key], `${key} sent again after its answer was lost`).toBeGreaterThanOrEqual(2);

    // Nothing applied twice: one namespace relabel each, one restart per workload, five deletions.
    for (const ns of NAMESPACES) expect(counters.applied[`patch namespaces/${ns}`], `patch namespaces/${ns}`).toBe(1);
    for (const [res, ns, name] of [
      ['deployments', 'inventory', 'inventory'],
      ['deployments', 'payments', 'payments'],
      ['deployments', 'orders', 'orders'],
      ['statefulsets', 'orders', 'orders-ledger'],
      ['deployments', 'frontend', 'frontend'],
    ] as const) {
      const key = `apps/${res}/${ns}/${name}`;
      expect((counters.applied[`patch ${key}`] ?? 0) + (counters.applied[`update ${key}`] ?? 0), key).toBe(1);
    }
    for (const key of [
      'delete admissionregistration.k8s.io/mutatingwebhookconfigurations/istio-sidecar-injector',
      'delete apps/deployments/istio-system/istiod',
      'delete apps/deployments/istio-system/istio-ingressgateway',
      'delete services/istio-system/istiod',
      'delete services/istio-system/istio-ingressgateway',
    ])
      expect(counters.applied[key], key).toBe(1);
    // One probe Job per planned call, though the first create's answer was lost.
    const jobCreates = Object.entries(counters.applied).filter(([k]) => k.startsWith('create batch/jobs/'));
    expect(
      jobCreates.map(([, n]) => n),
      JSON.stringify(jobCreates),
    ).toEqual([1, 1, 1]);

    // And the cluster is where it should be.
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns)).toEqual(migratedLabels(ns));
      expect(
        Object.values(await podRevisions(twin, ns)).every((r) => r === TARGET_REV),
        ns,
      ).toBe(true);
    }
    expect((await gatewayRequest(targetGateway(twin), 'shop.y7test.com', '/')).status).toBe(200);
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([targetGateway(twin).address]);
  }, 900_000);
});
