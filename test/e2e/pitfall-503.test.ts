// End to end: the field report's 503 pitfall — a namespace the target control plane does not
// discover gets 503 from the new gateway. meshmove must catch it before the DNS cutover, never after:
//  - a plan whose discovery labels do not match the target's discoverySelectors → preflight blocks
//    (`meshmove preflight` exits 1; a started run pauses in preflight and changes nothing);
//  - a namespace that falls out of the target's discovery mid-run (its mesh config narrowed after
//    preflight passed) → the gateway probe of that namespace fails, the run pauses before the
//    dns-cutover gate; rolled back, DNS was never switched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
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
  approveWhenOpen,
  describeSeen,
  elapsed,
  gatewayRequest,
  kubeGet,
  namespaceLabels,
  podRevisions,
  resolveA,
  sourceGateway,
  startE2eTwin,
  startMultiTwinStack,
  stopStack,
  targetGateway,
  tempDir,
  twinCounters,
  waitForRun,
  writePlan,
  type RunningWorker,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twins: Twins;
let worker: RunningWorker;
let cli: Cli;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twins, worker, cli } = await startMultiTwinStack());
});

afterAll(() => stopStack({ env, twins, worker }, 'pitfall-503.test.ts', fileStart));

describe("the field report's 503 pitfall is caught before DNS cutover", () => {
  it('discovery labels that the target does not select: preflight blocks; the run pauses in preflight having changed nothing', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ context: 'e2e-503-preflight' }));
    const originalLabels = Object.fromEntries(
      await Promise.all(NAMESPACES.map(async (ns) => [ns, await namespaceLabels(twin, ns)] as const)),
    );
    const plan = await writePlan(twin, await tempDir('503-preflight'), (p) => {
      p.target.discoveryLabels = { usergroup: 'istio-1-16' }; // a typo: the target selects usergroup=istio-1-16-5
    });

    // `meshmove preflight` against the cluster: the discovery line blocks, exit 1.
    const pre = await cli.run(['preflight', plan, '--kubeconfig', twin.kubeconfigPath]);
    expect(pre.code, pre.stderr).toBe(1);
    for (const ns of NAMESPACES) expect(pre.stdout).toMatch(new RegExp(`✗ discovery/${ns}: .*503`));
    expect(pre.stdout).toContain('blocking');
    const preJson = await cli.run(['preflight', plan, '--kubeconfig', twin.kubeconfigPath, '--json']);
    expect(preJson.code).toBe(1);
    const report = JSON.parse(preJson.stdout) as { blocking: number; findings: { check: string; status: string }[] };
    expect(
      report.findings
        .filter((f) => f.status === 'block')
        .map((f) => f.check)
        .sort(),
    ).toEqual(NAMESPACES.map((ns) => `discovery/${ns}`).sort());

    // Started anyway: the run's own preflight blocks before the start gate.
    const id = 'e2e-503-preflight';
    await cli.start(plan, id, STARTER);
    const paused = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || s.attention.gates.length > 0 || TERMINAL.includes(s.status.phase),
      'the preflight pause',
    );
    expect(paused.attention.gates, describeSeen(paused)).toEqual([]);
    const s = await cli.status(id);
    expect(s.phase).toBe('preflight');
    expect(s.pendingDecision).toMatchObject({ step: 'preflight' });
    expect(s.pendingDecision!.error).toMatch(/discovery\/inventory: .*503/);
    expect(s.pendingDecision!.error).toContain("make plan.target.discoveryLabels match the target's discoverySelectors");

    const aborted = await cli.run(['decide', id, 'abort', '--reason', 'e2e: fix the plan first'], APPROVER);
    expect(aborted.code, aborted.stderr).toBe(0);
    await waitForRun(env.client, id, (x) => TERMINAL.includes(x.status.phase), 'the abort');
    expect((await cli.status(id)).phase).toBe('aborted');

    // Nothing changed in the cluster: no namespace patched, labels and sidecars as before, DNS on the old gateway.
    const counters = await twinCounters(twin);
    expect(
      Object.keys(counters.byObject).filter(
        (k) => k.startsWith('patch namespaces/') || k.includes('deployments/') || k.includes('statefulsets/'),
      ),
    ).toEqual([]);
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns)).toEqual(originalLabels[ns]);
      expect(Object.values(await podRevisions(twin, ns)).every((r) => r === SOURCE_REV)).toBe(true);
    }
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([sourceGateway(twin).address]);
    console.log(`[e2e] 503 caught by preflight: ${elapsed(t0)}`);
  }, 600_000);

  it('a namespace undiscovered by the target mid-run: its gateway probe fails before the dns-cutover gate; DNS never switched', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ context: 'e2e-503-probe' }));
    const plan = await writePlan(twin, await tempDir('503-probe'));
    const id = 'e2e-503-probe';
    await cli.start(plan, id, STARTER);
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'start'), 'gate start');

    // Preflight passed. Now someone narrows the target's discoverySelectors so that orders falls out
    // of them, whatever its labels (as a real edit of the mesh config would).
    const cmName = `istio-${TARGET_REV}`;
    const cm = await kubeGet<{ data: Record<string, string> }>(twin, `/api/v1/namespaces/${TARGET_REV}/configmaps/${cmName}`);
    const mesh = parse(cm!.data.mesh!) as Record<string, unknown>;
    mesh.discoverySelectors = [
      {
        matchLabels: { usergroup: TARGET_REV },
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['orders'] }],
      },
    ];
    const res = await fetch(`${twin.apiUrl}/api/v1/namespaces/${TARGET_REV}/configmaps/${cmName}`, {
      method: 'PATCH',
      headers: { Authorization: 'Bearer meshmove-twin', 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { mesh: stringify(mesh) } }),
    });
    expect(res.status, await res.text()).toBe(200);

    await approveWhenOpen(cli, env.client, id, 'start');
    const paused = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || s.attention.gates.length > 0 || TERMINAL.includes(s.status.phase),
      'the pause',
    );
    expect(
      paused.attention.gates.map((g) => g.id),
      describeSeen(paused),
    ).toEqual([]);
    const s = await cli.status(id);
    expect(s.phase).toBe('namespaces');
    expect(s.pendingDecision, JSON.stringify(s.pendingDecision)).toMatchObject({ namespace: 'orders', step: 'verify-traffic' });
    expect(s.pendingDecision!.error).toMatch(/api\.y7test\.com\/orders.*503|503.*api\.y7test\.com/);
    // The pitfall itself, seen from outside: the new gateway answers 503 for orders' route...
    const viaNew = await gatewayRequest(targetGateway(twin), 'api.y7test.com', '/orders');
    expect(viaNew.status).toBe(503);
    // ...while DNS still sends clients to the old gateway, which serves them.
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([sourceGateway(twin).address]);
    expect((await gatewayRequest(sourceGateway(twin), 'api.y7test.com', '/orders')).status).toBe(200);

    // Roll the run back from the paused namespace.
    const rb = await cli.run(['decide', id, 'rollback', '--reason', 'e2e: orders is not discovered by the target'], APPROVER);
    expect(rb.code, rb.stderr).toBe(0);
    const end = await waitForRun(
      env.client,
      id,
      (x) => TERMINAL.includes(x.status.phase) || x.attention.decisions.length > 0,
      'the rollback',
    );
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
    const counters = await twinCounters(twin);
    // The DNS switch never ran; the records never left the old gateway.
    const final = await cli.status(id);
    expect(final.steps.filter((x) => x.id.startsWith('dns-')).map((x) => `${x.id} ${x.state}`)).toEqual([]);
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([sourceGateway(twin).address]);
    expect(Object.keys(counters.byObject).filter((k) => k.startsWith('patch namespaces/frontend'))).toEqual([]);
    console.log(`[e2e] 503 caught by the gateway probe: ${elapsed(t0)}`);
  }, 600_000);
});
