// End to end: the paths that do not go straight through. A rejected gate rolls everything back (the
// cluster ends as the backup recorded it); a stuck rollout pauses the run with the error, and after
// the cause is fixed in the cluster `meshmove decide ID retry` finishes it.
// One Temporal dev server and one worker (real activities) for the file; each test its own twin,
// told apart by its kubeconfig context.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import { statusQuery } from '../../workflows/messages.js';
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
  backedUpLabels,
  describeSeen,
  elapsed,
  gatewayRequest,
  migratedLabels,
  namespaceLabels,
  podRevisions,
  putApiFaults,
  resolveA,
  sourceGateway,
  startE2eTwin,
  startMultiTwinStack,
  stopStack,
  targetGateway,
  tempDir,
  twinProxies,
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

afterAll(() => stopStack({ env, twins, worker }, 'rollback-and-recovery.test.ts', fileStart));

/** Every namespace back on the source: labels as backed up, every pod injected by the source, its proxy connected there. */
async function expectBackOnSource(twin: Twin, backupLocation: string): Promise<void> {
  const proxies = await twinProxies(twin);
  for (const ns of NAMESPACES) {
    const backed = await backedUpLabels(backupLocation, ns);
    expect(backed['istio-injection'], `${ns} backup`).toBe('enabled');
    expect(await namespaceLabels(twin, ns), `${ns} labels`).toEqual(backed);
    const revs = await podRevisions(twin, ns);
    expect(Object.keys(revs).length).toBeGreaterThan(0);
    expect(
      Object.values(revs).every((r) => r === SOURCE_REV),
      `${ns}: ${JSON.stringify(revs)}`,
    ).toBe(true);
    for (const p of proxies.filter((x) => x.pod.startsWith(`${ns}/`)))
      expect(p, p.pod).toMatchObject({ revision: SOURCE_REV, connected: true, stale: false });
  }
  // The old gateway serves every host, and DNS points at it.
  expect((await gatewayRequest(sourceGateway(twin), 'shop.y7test.com', '/')).status).toBe(200);
  expect((await gatewayRequest(sourceGateway(twin), 'api.y7test.com', '/orders')).status).toBe(200);
  for (const h of HOSTS) expect(await resolveA(twin, h), h).toEqual([sourceGateway(twin).address]);
}

describe('rollback and recovery through the CLI', () => {
  it('rejecting dns-cutover moves every namespace back to the source revision, labels as backed up; DNS never left the old gateway', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ context: 'e2e-reject-dns' }));
    const plan = await writePlan(twin, await tempDir('reject-dns'));
    const id = 'e2e-reject-dns-cutover';
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'dns-cutover'), 'gate dns-cutover');
    // At the gate: everything moved, DNS not yet.
    for (const ns of NAMESPACES) expect(await namespaceLabels(twin, ns)).toEqual(migratedLabels(ns));

    // Rejecting stays open to the starter (four-eyes guards approvals, not the brakes).
    const rejected = await cli.run(['reject', id, 'dns-cutover', '--reason', 'e2e: the change window closed'], STARTER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForRun(
      env.client,
      id,
      (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0,
      'the rollback',
    );
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');

    const s = await cli.status(id);
    expect(s.phase).toBe('rolled-back');
    expect(s.namespaces.map((n) => [n.name, n.state])).toEqual(NAMESPACES.map((n) => [n, 'rolled-back']));
    expect(s.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`)).toEqual([
      `${APPROVER} approve start`,
      `${STARTER} reject dns-cutover`,
    ]);
    expect(s.backup?.location).toBeTruthy();
    await expectBackOnSource(twin, s.backup!.location);
    console.log(`[e2e] reject at dns-cutover: ${elapsed(t0)}`);
  }, 600_000);

  it('rejecting decommission (after the cutover) points DNS back at the old gateway, then moves every namespace back', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ context: 'e2e-reject-decom' }));
    const plan = await writePlan(twin, await tempDir('reject-decom'));
    const id = 'e2e-reject-decommission';
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    await approveWhenOpen(cli, env.client, id, 'dns-cutover');
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'decommission'), 'gate decommission');
    for (const h of HOSTS) expect(await resolveA(twin, h), h).toEqual([targetGateway(twin).address]);

    const rejected = await cli.run(['reject', id, 'decommission', '--reason', 'e2e: keep the old control plane'], APPROVER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForRun(
      env.client,
      id,
      (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0,
      'the rollback',
    );
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
    const s = await cli.status(id);
    expect(s.namespaces.every((n) => n.state === 'rolled-back')).toBe(true);
    await expectBackOnSource(twin, s.backup!.location);
    // Nothing was decommissioned.
    expect((await twinProxies(twin)).some((p) => p.pod.startsWith('istio-system/istio-ingressgateway'))).toBe(true);
    console.log(`[e2e] reject at decommission: ${elapsed(t0)}`);
  }, 600_000);

  it('a stuck rollout pauses the run with the error; the fault cleared in the cluster, `decide retry` completes it', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ context: 'e2e-stuck' }));
    const plan = await writePlan(twin, await tempDir('stuck'), (p) => {
      p.restart.timeout = '8s';
    });
    const id = 'e2e-stuck-rollout';
    // The orders Deployment's new pods never become Ready.
    await putApiFaults(twin, { rules: [], stuckRollouts: [{ namespace: 'orders', name: 'orders' }] });
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    const paused = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      'the pause',
    );
    expect(paused.status.phase, describeSeen(paused)).toBe('namespaces');

    const s = await cli.status(id);
    expect(s.pendingDecision, JSON.stringify(s.pendingDecision)).toMatchObject({ namespace: 'orders', step: 'restart' });
    expect(s.pendingDecision!.error).toMatch(/orders.*rollout not complete/);
    expect(s.pendingDecision!.allowed).toEqual(expect.arrayContaining(['retry', 'skip', 'rollback', 'abort']));
    expect(s.namespaces.find((n) => n.name === 'orders')?.state).toBe('migrating');
    expect(s.namespaces.find((n) => n.name === 'frontend')?.state).toBe('pending');
    // Nothing past the failed step happened: DNS untouched.
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([sourceGateway(twin).address]);

    // The starter may not retry (four-eyes); the operator fixes the cluster, then a second person retries.
    const byStarter = await cli.run(['decide', id, 'retry'], STARTER);
    expect(byStarter.code).toBe(1);
    expect(byStarter.stderr).toMatch(/four-eyes/);
    await putApiFaults(twin, { rules: [], stuckRollouts: [] });
    const retried = await cli.run(['decide', id, 'retry'], APPROVER);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain('retry for step restart in orders');

    await approveWhenOpen(cli, env.client, id, 'dns-cutover');
    await approveWhenOpen(cli, env.client, id, 'decommission');
    const end = await waitForRun(env.client, id, (x) => TERMINAL.includes(x.status.phase) || x.attention.decisions.length > 0, 'the end');
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    const final = await cli.status(id);
    expect(final.phase).toBe('completed');
    expect(final.namespaces.every((n) => n.state === 'migrated')).toBe(true);
    for (const ns of NAMESPACES) {
      expect(
        Object.values(await podRevisions(twin, ns)).every((r) => r === TARGET_REV),
        ns,
      ).toBe(true);
    }
    // The decision lives in the orders namespace's own workflow, with the refused attempt beside it.
    const orders = await env.client.workflow.getHandle(`${id}/ns/orders`).query(statusQuery);
    expect(orders.audit.map((a) => `${a.by} ${a.action} ${a.accepted}`)).toEqual([
      `${STARTER} decide retry restart false`,
      `${APPROVER} decide retry restart true`,
    ]);
    expect(orders.steps.find((x) => x.id === 'restart')).toMatchObject({ state: 'succeeded' });
    console.log(`[e2e] stuck rollout + retry: ${elapsed(t0)}`);
  }, 600_000);
});
