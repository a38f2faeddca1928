// End to end on the twin with the real activities, through the CLI: the cutover strategies beyond
// the field report's second gateway and DNS, on the revision-upgrade example (Istio 1.15.7 →
// 1.16.5, examples/twin/revision-upgrade.yaml and examples/plans/revision-upgrade.yaml).
//
// The gateway moved in place (target.gateway: in-place, dns: none): the namespaces move wave by
// wave; then, after its own gate, the one gateway gets istio.io/rev of the target on its pod
// template, rolls, and is verified on the target; no DNS step runs; decommission keeps the gateway.
// Rejecting decommission moves the gateway back to the source revision before the namespaces.
//
// And `dns: none` with the field report's second gateway: no DNS step at all, said so by preflight
// and at the decommission gate.
//
// The revision-tag path (target.tag): the namespaces select revision tag prod-stable, which calls
// the source istiod. Before the first wave the run points the tag at the target once (as `istioctl
// tag set` does); the waves then add the discovery labels and restart, with istio.io/rev left on
// the tag. Rolled back, the tag calls the source again and every namespace is on the tag again,
// its pods on the source.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import {
  APPROVER,
  HOSTS,
  NAMESPACES,
  RBAC_FILE,
  STARTER,
  approveAllAndFinish,
  approveWhenOpen,
  describeSeen,
  elapsed,
  gatewayRequest,
  kubeGet,
  namespaceLabels,
  podRevisions,
  resolveA,
  startE2eTwin,
  startMultiTwinStack,
  stopStack,
  tempDir,
  waitForEnd,
  waitForRun,
  writePlan,
  type Cli,
  type Obj,
  type RunningWorker,
  type Twins,
} from './support/stack.js';
import {
  UPGRADE_GATEWAY,
  UPGRADE_SCENARIO,
  UPGRADE_SOURCE,
  UPGRADE_TARGET,
  gatewayPodRevisions,
  gatewayTemplateRevision,
  upgradeRbac,
  writeUpgradePlan,
} from './support/revision-upgrade.js';

const SOURCE = UPGRADE_SOURCE;
const TARGET = UPGRADE_TARGET;
const GATEWAY = UPGRADE_GATEWAY;
const TAG = 'prod-stable';
const TAG_CONFIG = `istio-revision-tag-${TAG}`;

let env: TestWorkflowEnvironment;
let twins: Twins;
let worker: RunningWorker;
let cli: Cli;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twins, worker, cli } = await startMultiTwinStack());
});

afterAll(() => stopStack({ env, twins, worker }, 'cutover-strategies.test.ts', fileStart));

async function throughGateway(twin: Twin): Promise<number[]> {
  const gw = twin.gateways[GATEWAY]!;
  return Promise.all([gatewayRequest(gw, 'shop.y7test.com', '/'), gatewayRequest(gw, 'api.y7test.com', '/orders')]).then((r) =>
    r.map((x) => x.status),
  );
}

describe('the gateway moved in place (revision upgrade, dns: none)', () => {
  it('namespaces, then the gateway onto the target; no DNS step; decommission removes the old istiod and keeps the gateway', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ scenario: UPGRADE_SCENARIO, context: 'e2e-gw-in-place', rbac: upgradeRbac }));
    const plan = await writeUpgradePlan(twin, await tempDir('gw-in-place'));
    expect(await gatewayTemplateRevision(twin)).toBe(SOURCE);

    // The worker of this twin is bound by what `meshmove plan rbac` prints for this plan.
    const rbac = await cli.run(['plan', 'rbac', plan]);
    expect(rbac.code, rbac.stderr).toBe(0);
    expect(rbac.stdout).toBe(upgradeRbac(await readFile(RBAC_FILE, 'utf8')));

    const pre = await cli.run(['preflight', plan, '--kubeconfig', twin.kubeconfigPath, '--json']);
    const report = JSON.parse(pre.stdout) as { findings: { check: string; status: string; reason: string }[] };
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    const gwFinding = report.findings.find((f) => f.check === 'cutover/gateway');
    expect(gwFinding?.status, JSON.stringify(gwFinding)).toBe('pass');
    expect(gwFinding?.reason).toContain(`istio.io/rev=${SOURCE} on its pod template`);

    const id = 'e2e-gateway-in-place';
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    const atGate = await waitForRun(
      env.client,
      id,
      (s) => s.attention.gates.some((g) => g.id === 'gateway-move') || s.attention.decisions.length > 0,
      'gate gateway-move',
    );
    expect(atGate.status.phase, describeSeen(atGate)).toBe('gateway-move');
    // The namespaces moved; the gateway has not yet, and still routes to them (its istiod sees every namespace).
    for (const ns of NAMESPACES) {
      expect((await namespaceLabels(twin, ns))['istio.io/rev'], ns).toBe(TARGET);
      expect(
        Object.values(await podRevisions(twin, ns)).every((r) => r === TARGET),
        ns,
      ).toBe(true);
    }
    expect(await gatewayPodRevisions(twin)).toEqual([SOURCE]);
    expect(await throughGateway(twin)).toEqual([200, 200]);
    const gate = (await cli.status(id)).pendingGate!.summary;
    expect(gate.title).toBe(`Move the gateway ${GATEWAY} to ${TARGET} in place`);

    const end = await approveAllAndFinish(cli, env.client, id, ['gateway-move', 'decommission']);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    const s = await cli.status(id);
    const steps = s.steps.map((x) => x.id);
    expect(steps).toEqual(expect.arrayContaining(['gateway-relabel', 'gateway-restart', 'gateway-verify', 'decommission']));
    expect(steps.filter((x) => x.startsWith('dns-') || x === 'gateway-stable')).toEqual([]);
    expect(s.steps.find((x) => x.id === 'gateway-relabel')?.summary).toBe(`istio.io/rev ${SOURCE} → ${TARGET} on its pod template`);

    expect(await gatewayTemplateRevision(twin)).toBe(TARGET);
    expect(await gatewayPodRevisions(twin)).toEqual([TARGET]);
    expect(await throughGateway(twin)).toEqual([200, 200]);
    // The old istiod is gone; the gateway Deployment and Service stay.
    expect(await kubeGet(twin, `/apis/apps/v1/namespaces/istio-system/deployments/istiod-${SOURCE}`)).toBeUndefined();
    expect(await kubeGet(twin, '/apis/apps/v1/namespaces/istio-system/deployments/istio-ingressgateway')).toBeDefined();
    expect(await kubeGet(twin, '/api/v1/namespaces/istio-system/services/istio-ingressgateway')).toBeDefined();
    console.log(`[e2e] gateway in place, completed: ${elapsed(t0)}`);
  }, 600_000);

  it('rejecting decommission moves the gateway back to the source revision, then every namespace', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ scenario: UPGRADE_SCENARIO, context: 'e2e-gw-in-place-back', rbac: upgradeRbac }));
    const plan = await writeUpgradePlan(twin, await tempDir('gw-in-place-back'));
    const id = 'e2e-gateway-in-place-rollback';
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    await approveWhenOpen(cli, env.client, id, 'gateway-move');
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'decommission'), 'gate decommission');
    expect(await gatewayPodRevisions(twin)).toEqual([TARGET]);

    const rejected = await cli.run(['reject', id, 'decommission', '--reason', 'e2e: stay on 1.15 for now'], APPROVER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForEnd(env.client, id, 'the rollback');
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');

    const s = await cli.status(id);
    // Newest first: the gateway's undo ran before any namespace's.
    const undo = s.steps.filter((x) => x.id.startsWith('undo:')).map((x) => x.id);
    expect(undo[0]).toBe('undo:gateway-relabel');
    expect(await gatewayTemplateRevision(twin)).toBe(SOURCE);
    expect(await gatewayPodRevisions(twin)).toEqual([SOURCE]);
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns), ns).toEqual({ 'istio.io/rev': SOURCE, 'kubernetes.io/metadata.name': ns });
      expect(
        Object.values(await podRevisions(twin, ns)).every((r) => r === SOURCE),
        ns,
      ).toBe(true);
    }
    expect(await throughGateway(twin)).toEqual([200, 200]);
    console.log(`[e2e] gateway in place, rolled back: ${elapsed(t0)}`);
  }, 600_000);
});

/** The revision-upgrade cluster with its namespaces on revision tag prod-stable, which calls the source. */
async function tagTwin(context: string): Promise<{ twin: Twin; plan: string }> {
  const twin = twins.add(
    await startE2eTwin({
      scenario: UPGRADE_SCENARIO,
      context,
      rbac: (yaml) => upgradeRbac(yaml, TAG),
      edit: (s) => {
        s.controlPlanes.find((c) => c.revision === UPGRADE_SOURCE)!.tags = [TAG];
        for (const ns of s.namespaces) ns.labels = { 'istio.io/rev': TAG };
      },
    }),
  );
  const plan = await writeUpgradePlan(twin, await tempDir(context), (p) => {
    p.target.tag = TAG;
  });
  return { twin, plan };
}

interface Mwc extends Obj {
  webhooks: { clientConfig: { service?: { name: string; namespace: string } } }[];
}

/** `<revision label> <istiod each webhook calls>` of the tag's configuration. */
async function tagPointsAt(twin: Twin): Promise<string> {
  const cfg = await kubeGet<Mwc>(twin, `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${TAG_CONFIG}`);
  if (!cfg) return 'absent';
  const services = [...new Set(cfg.webhooks.map((w) => w.clientConfig.service?.name ?? 'url'))];
  return `${cfg.metadata.labels?.['istio.io/rev'] ?? 'unlabeled'} ${services.join(',')}`;
}

async function allPodsOn(twin: Twin, ns: string, revision: string): Promise<boolean> {
  return Object.values(await podRevisions(twin, ns)).every((r) => r === revision);
}

describe('the revision-tag path', () => {
  it('one webhook change, then the waves restart: namespaces stay on the tag, their pods on the target', async () => {
    const t0 = Date.now();
    const { twin, plan } = await tagTwin('e2e-tag');
    expect(await tagPointsAt(twin)).toBe(`${UPGRADE_SOURCE} istiod-${UPGRADE_SOURCE}`);

    const pre = await cli.run(['preflight', plan, '--kubeconfig', twin.kubeconfigPath, '--json']);
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    const findings = (JSON.parse(pre.stdout) as { findings: { check: string; status: string; reason: string }[] }).findings;
    expect(findings.find((f) => f.check === 'cutover/tag')).toMatchObject({ status: 'pass' });
    // Injection is judged as it will be once the tag moved: the target's webhook, through the tag.
    expect(findings.filter((f) => f.check.startsWith('injection')).map((f) => f.status)).not.toContain('block');

    const id = 'e2e-revision-tag';
    await cli.start(plan, id, STARTER);
    const atStart = await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'start'), 'gate start');
    expect(atStart.attention.gates[0]!.summary.details.join('\n')).toContain(`revision tag ${TAG} pointed at ${UPGRADE_TARGET}`);
    await cli.approve(id, 'start');
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'gateway-move'), 'gate gateway-move');

    expect(await tagPointsAt(twin)).toBe(`${UPGRADE_TARGET} istiod-${UPGRADE_TARGET}`);
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns), ns).toEqual({
        'istio.io/rev': TAG,
        usergroup: UPGRADE_TARGET,
        'kubernetes.io/metadata.name': ns,
      });
      expect(await allPodsOn(twin, ns, UPGRADE_TARGET), ns).toBe(true);
    }
    const end = await approveAllAndFinish(cli, env.client, id, ['gateway-move', 'decommission']);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    const s = await cli.status(id);
    expect(s.steps.find((x) => x.id === 'tag-switch')?.summary).toBe(`${TAG_CONFIG} now calls ${UPGRADE_TARGET}'s istiod`);
    // Decommission removed the source's own injector and kept the tag, which is the target's now.
    expect(
      await kubeGet(twin, `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector-${UPGRADE_SOURCE}`),
    ).toBeUndefined();
    expect(await tagPointsAt(twin)).toBe(`${UPGRADE_TARGET} istiod-${UPGRADE_TARGET}`);
    console.log(`[e2e] revision tag, completed: ${elapsed(t0)}`);
  }, 600_000);

  it('rejecting the gateway move points the tag back at the source and puts every namespace back on the tag', async () => {
    const t0 = Date.now();
    const { twin, plan } = await tagTwin('e2e-tag-back');
    const id = 'e2e-revision-tag-rollback';
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'gateway-move'), 'gate gateway-move');
    const rejected = await cli.run(['reject', id, 'gateway-move', '--reason', 'e2e: not today'], APPROVER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForEnd(env.client, id, 'the rollback');
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');

    const s = await cli.status(id);
    const undo = s.steps.filter((x) => x.id.startsWith('undo:')).map((x) => x.id);
    // The tag's undo comes last: it was registered before any namespace moved.
    expect(undo.at(-1)).toBe('undo:tag-switch');
    expect(await tagPointsAt(twin)).toBe(`${UPGRADE_SOURCE} istiod-${UPGRADE_SOURCE}`);
    for (const ns of NAMESPACES) {
      const got = await kubeGet(twin, `/api/v1/namespaces/${ns}`);
      expect(got?.metadata.labels, ns).toEqual({ 'istio.io/rev': TAG, 'kubernetes.io/metadata.name': ns });
      expect(
        Object.keys(got?.metadata.annotations ?? {}).filter((k) => k.startsWith('meshmove.dev/')),
        ns,
      ).toEqual([]);
      expect(await allPodsOn(twin, ns, UPGRADE_SOURCE), ns).toBe(true);
    }
    expect(await gatewayPodRevisions(twin)).toEqual([UPGRADE_SOURCE]);
    console.log(`[e2e] revision tag, rolled back: ${elapsed(t0)}`);
  }, 600_000);
});

describe('dns: none with a second gateway (the clients are moved by someone else)', () => {
  it('no DNS step runs; preflight and the decommission gate say the old gateway goes; rejecting it moves every namespace back', async () => {
    const t0 = Date.now();
    const twin = twins.add(await startE2eTwin({ context: 'e2e-no-dns' }));
    const plan = await writePlan(twin, await tempDir('no-dns'), (p) => {
      p.dns = 'none';
    });
    const pre = await cli.run(['preflight', plan, '--kubeconfig', twin.kubeconfigPath, '--json']);
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    const findings = (JSON.parse(pre.stdout) as { findings: { check: string; status: string }[] }).findings;
    expect(findings.find((f) => f.check === 'cutover/dns')?.status).toBe('warn');

    const id = 'e2e-no-dns';
    await cli.start(plan, id, STARTER);
    await approveWhenOpen(cli, env.client, id, 'start');
    const atGate = await waitForRun(
      env.client,
      id,
      (s) => s.attention.gates.some((g) => g.id === 'decommission') || s.attention.decisions.length > 0,
      'gate decommission',
    );
    expect(atGate.attention.gates[0]?.summary.details.at(-1), describeSeen(atGate)).toContain('no DNS cutover (dns: none)');
    const s = await cli.status(id);
    expect(s.steps.map((x) => x.id).filter((x) => x.startsWith('dns-') || x.startsWith('gateway-'))).toEqual([]);
    for (const h of HOSTS) expect(await resolveA(twin, h), h).toEqual([twin.gateways['istio-system/istio-ingressgateway']!.address]);

    const rejected = await cli.run(['reject', id, 'decommission', '--reason', 'e2e: clients not moved yet'], APPROVER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForEnd(env.client, id, 'the rollback');
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
    const after = await cli.status(id);
    expect(after.namespaces.map((n) => n.state)).toEqual(NAMESPACES.map(() => 'rolled-back'));
    expect(after.steps.filter((x) => x.id.startsWith('undo:')).map((x) => x.id)).not.toContain('undo:dns-switch');
    for (const ns of NAMESPACES) expect(await namespaceLabels(twin, ns), ns).toMatchObject({ 'istio-injection': 'enabled' });
    console.log(`[e2e] dns: none with a second gateway, rolled back: ${elapsed(t0)}`);
  }, 600_000);
});
