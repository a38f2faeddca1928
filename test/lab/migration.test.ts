// End to end on the lab's real control planes (a real kube-apiserver, two real istiod revisions
// installed from Istio's charts, the field report's layout), the way a user meets meshmove: the
// CLI starts the field-report plan on a real Temporal dev server; a worker with the real
// activities, as the ServiceAccount bound by exactly deploy/rbac.yaml, moves the cluster; gates are
// answered through the CLI by a second person; the approved run's backend wave prepares one
// namespace ahead of its restart slot. Gateways and probe pods are answered by
// lab/go/xds-standin from what the real istiods serve them over xDS; DNS is the twin's server.
import { Resolver } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  APPROVER,
  HOSTS,
  NAMESPACES,
  SOURCE_REV,
  STARTER,
  TARGET_REV,
  TERMINAL,
  approveWhenOpen,
  backedUpLabels,
  describeSeen,
  elapsed,
  gatewayRequest,
  migratedLabels,
  tempDir,
  waitForEnd,
  waitForRun,
} from '../e2e/support/stack.js';
import { loadPlan } from '../../plan/load.js';
import { plannedNamespaces } from '../../plan/schema.js';
import { startTwin } from '../../twin/index.js';
import { loadScenario } from '../../twin/scenario.js';
import { httpGet } from '../twin/istio-helpers.js';
import { activitySpan, signalNames } from '../support/histories.js';
import {
  createSourceTag,
  kubectlJson,
  namespaceLabels,
  podRevisions,
  startLabStack,
  waitInjected,
  writeLabPlan,
  type LabStack,
} from './support/stack.js';

/** The revision tag of the tag-path run (the worker's RBAC may patch its configuration). */
const TAG = 'prod-stable';

/** `kubectl rollout restart` of a namespace's Deployments, and `rollout status` until they are done. */
async function restartAndWait(ns: string): Promise<void> {
  await stack.lab.kube.kubectl(['rollout', 'restart', 'deployment', '-n', ns]);
  await stack.lab.kube.kubectl(['rollout', 'status', 'deployment', '-n', ns, '--timeout=120s']);
}

let stack: LabStack;
const fileStart = Date.now();

beforeAll(async () => {
  stack = await startLabStack({ tag: TAG });
  console.log(`[lab e2e] stack up in ${elapsed(fileStart)}`);
}, 1_800_000);

afterAll(async () => {
  await stack?.stop();
  console.log(`[lab e2e] migration.test.ts took ${elapsed(fileStart)}`);
});

async function resolveA(name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 2_000, tries: 2 });
  r.setServers([stack.dns.resolver]);
  return r.resolve4(name);
}

interface InspectView {
  pods: { name: string; sidecarRevision: string; sync: string; istiod: string }[];
}

/** `meshmove inspect namespace` as the worker: the revision istiod's syncz reports for each pod (read by port-forward). */
async function inspect(ns: string): Promise<InspectView> {
  const r = await stack.cli.run(['inspect', 'namespace', ns, '--kubeconfig', stack.kubeconfig, '--json']);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as InspectView;
}

describe('preflight on real control planes', () => {
  it("the 503 pitfall: discovery labels the target's discoverySelectors do not select, or a target that does not discover its own gateway's namespace, block before anything changes", async () => {
    const dir = await tempDir('lab-503');
    const typo = await writeLabPlan(
      stack,
      dir,
      (p) => {
        p.target.discoveryLabels = { usergroup: 'istio-1-16' }; // the target selects usergroup=istio-1-16-5
      },
      'typo.yaml',
    );
    const pre = await stack.cli.run(['preflight', typo, '--kubeconfig', stack.kubeconfig, '--json']);
    expect(pre.code, pre.stdout + pre.stderr).toBe(1);
    const report = JSON.parse(pre.stdout) as { findings: { check: string; status: string; reason: string }[] };
    const blocking = report.findings.filter((f) => f.status === 'block');
    expect(blocking.map((f) => f.check).sort(), JSON.stringify(blocking)).toEqual(NAMESPACES.map((ns) => `discovery/${ns}`).sort());
    for (const f of blocking) expect(f.reason).toMatch(/503/);

    // The target's own namespace (its Gateway and gateway Service) not selected: the real target
    // istiod does not see them, and preflight blocks.
    await stack.lab.kube.kubectl(['label', 'namespace', TARGET_REV, 'usergroup-']);
    try {
      const plan = await writeLabPlan(stack, dir, undefined, 'plan.yaml');
      const r = await stack.cli.run(['preflight', plan, '--kubeconfig', stack.kubeconfig, '--json']);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const findings = (JSON.parse(r.stdout) as typeof report).findings.filter((f) => f.status === 'block');
      expect(
        findings.map((f) => f.check),
        JSON.stringify(findings),
      ).toEqual([`discovery/${TARGET_REV}`]);
      expect(findings[0]!.reason).toContain(`the target gateway ${TARGET_REV}/istio-ingressgateway`);
      // What the real target istiod serves its gateway then: no route for any host.
      const served = await gatewayRequest(stack.target, 'shop.y7test.com', '/').catch((e: Error) => ({ status: 0, body: e.message }));
      expect(served.status, served.body).not.toBe(200);
    } finally {
      await stack.lab.kube.kubectl(['label', 'namespace', TARGET_REV, `usergroup=${TARGET_REV}`, '--overwrite']);
    }
    // Nothing changed in the cluster.
    for (const ns of NAMESPACES)
      expect(await namespaceLabels(stack.lab, ns), ns).toEqual({ 'kubernetes.io/metadata.name': ns, 'istio-injection': 'enabled' });
  }, 300_000);

  it('the webhook conflict: istio-injection=enabled beside istio.io/rev — the real injector takes the source, and preflight says so', async () => {
    const ns = 'payments';
    await stack.lab.kube.kubectl(['label', 'namespace', ns, `istio.io/rev=${TARGET_REV}`]);
    try {
      // A new pod of that namespace: the real webhooks decide who injects it.
      await stack.lab.kube.kubectl(['delete', 'pod', '-n', ns, '-l', 'app=payments', '--wait=false']);
      await waitInjected(stack.lab, SOURCE_REV, [ns]);
      const plan = await writeLabPlan(stack, await tempDir('lab-conflict'));
      const r = await stack.cli.run(['preflight', plan, '--kubeconfig', stack.kubeconfig, '--json']);
      const findings = (JSON.parse(r.stdout) as { findings: { check: string; status: string; reason: string }[] }).findings;
      const conflict = findings.filter((f) => f.status !== 'pass' && f.reason.includes(ns) && /istio-injection/.test(f.reason));
      expect(conflict.length, JSON.stringify(findings.filter((f) => f.status !== 'pass'))).toBeGreaterThan(0);
      expect(conflict.map((f) => f.reason).join('\n')).toMatch(
        /istio-sidecar-injector\/namespace\.sidecar-injector\.istio\.io → default|overrides istio\.io\/rev/,
      );
    } finally {
      await stack.lab.kube.kubectl(['label', 'namespace', ns, 'istio.io/rev-']);
    }
  }, 300_000);
});

describe('from the real cluster to a plan and a rehearsal', () => {
  // Issue 12's proof on real control planes: `plan init` and `twin snapshot` read a real
  // kube-apiserver with two real istiod revisions (as a person would, with the admin kubeconfig),
  // and selector waves resolve against it. Read-only: the cluster is as the migrations below expect.
  const admin = () => stack.lab.kube.adminKubeconfig;

  it('plan init proposes the field-report plan: same control planes, discovery labels, gateways, namespaces and hosts; preflight over it blocks nothing', async () => {
    const dir = await tempDir('lab-plan-init');
    const out = join(dir, 'proposed.yaml');
    const r = await stack.cli.run(['plan', 'init', '--kubeconfig', admin(), '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const { plan } = await loadPlan(out);
    const { plan: lab } = await loadPlan(await writeLabPlan(stack, dir));
    expect(plan.source).toEqual(lab.source);
    expect(plan.target).toEqual(lab.target);
    expect([...plannedNamespaces(plan)].sort()).toEqual([...NAMESPACES].sort());
    expect(plan.dns!.records.map((d) => d.name).sort()).toEqual([...HOSTS].sort());
    const text = await readFile(out, 'utf8');
    console.log(`[lab e2e] the plan plan init wrote for the lab's real cluster:\n${text}`);
    // Preflight over it, as the worker's ServiceAccount: its findings' statuses match those over the lab's plan.
    const pf = async (file: string) => {
      const res = await stack.cli.run(['preflight', file, '--kubeconfig', stack.kubeconfig, '--json']);
      const report = JSON.parse(res.stdout) as { findings: { check: string; status: string }[] };
      return { code: res.code, statuses: Object.fromEntries(report.findings.map((f) => [f.check, f.status])) };
    };
    // plan init leaves the DNS provider as a placeholder: give both the lab's provider.
    const proposed = await writeLabPlan(
      stack,
      dir,
      (p) => {
        p.waves = plan.waves.map((w) => ({ ...w })) as typeof p.waves;
      },
      'proposed-waves.yaml',
    );
    const [mine, theirs] = await Promise.all([pf(proposed), pf(await writeLabPlan(stack, dir))]);
    expect(mine.code).toBe(0);
    expect(mine.statuses).toEqual(theirs.statuses);
  }, 300_000);

  it('twin snapshot of the real cluster is a scenario the twin serves, and the twin snapshots back to the same scenario', async () => {
    const dir = await tempDir('lab-snapshot');
    const first = join(dir, 'lab.yaml');
    const r = await stack.cli.run(['twin', 'snapshot', '--kubeconfig', admin(), '-o', first]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    console.log(`[lab e2e] snapshot of the lab: ${r.stdout.trim()}`);
    const twin = await startTwin(first, { randomPorts: true });
    try {
      const second = join(dir, 'twin.yaml');
      const again = await stack.cli.run(['twin', 'snapshot', '--kubeconfig', twin.kubeconfigPath, '-o', second]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      // The same cluster read back, but for what the twin picks itself: its gateways' listening ports
      // (the lab's are taken) and the context's name in the description.
      const comparable = async (file: string) => {
        const s = await loadScenario(file);
        return { ...s, metadata: { ...s.metadata, description: '' }, gateways: s.gateways.map((g) => ({ ...g, port: 0 })) };
      };
      const [a, b] = await Promise.all([comparable(first), comparable(second)]);
      expect(b).toEqual(a);
      // Recognized as the control planes' own injectors (by their istio.io/rev; the lab's istiods are
      // called by URL), so no webhook configuration and no caBundle is carried as a foreign object.
      expect(a.objects.filter((o) => o.kind === 'MutatingWebhookConfiguration')).toEqual([]);
      expect(await readFile(first, 'utf8')).not.toMatch(/^\s*caBundle:/m);
      // The twin serves the real cluster's routes through the source gateway, as the lab does.
      for (const [host, path, ns] of [
        ['shop.y7test.com', '/', 'frontend'],
        ['api.y7test.com', '/payments', 'payments'],
      ] as const) {
        const res = await httpGet(`${twin.gateways['istio-system/istio-ingressgateway']!.url}${path}`, host);
        expect(res.status, `${host}${path}: ${res.body}`).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ namespace: ns });
      }
    } finally {
      await twin.close();
    }
  }, 300_000);

  it('selector waves resolve on the real cluster as the run would: every namespace the source injects', async () => {
    const plan = await writeLabPlan(
      stack,
      await tempDir('lab-select'),
      (p) => {
        p.waves = [
          { name: 'canary', concurrency: 1, select: { names: ['inv*'] } },
          { name: 'rest', concurrency: 2, select: { injectedBy: 'source' } },
        ];
      },
      'select.yaml',
    );
    const pre = await stack.cli.run(['preflight', plan, '--kubeconfig', stack.kubeconfig]);
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    expect(pre.stdout).toContain('Waves chosen by selector, as resolved now: canary: inventory; rest: frontend, orders, payments');
  }, 300_000);
});

describe('the field-report migration through the CLI, on real control planes', () => {
  it('rejected at dns-cutover: every namespace back on the source, labels byte-equal to the backup, DNS never moved', async () => {
    const t0 = Date.now();
    const plan = await writeLabPlan(stack, await tempDir('lab-reject'));
    const id = 'lab-reject-dns-cutover';
    await stack.cli.start(plan, id, STARTER);
    await approveWhenOpen(stack.cli, stack.env.client, id, 'start');
    const atGate = await waitForRun(
      stack.env.client,
      id,
      (s) => s.attention.gates.some((g) => g.id === 'dns-cutover') || s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      'gate dns-cutover',
      600_000,
    );
    expect(
      atGate.attention.gates.map((g) => g.id),
      describeSeen(atGate),
    ).toEqual(['dns-cutover']);
    for (const ns of NAMESPACES) expect(await namespaceLabels(stack.lab, ns), ns).toEqual(migratedLabels(ns));
    for (const h of HOSTS) expect(await resolveA(h), h).toEqual([stack.source.address]);

    const rejected = await stack.cli.run(['reject', id, 'dns-cutover', '--reason', 'lab e2e: the change window closed'], STARTER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForEnd(stack.env.client, id, 'the rollback', 600_000);
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
    const s = await stack.cli.status(id);
    expect(s.namespaces.map((n) => [n.name, n.state])).toEqual(NAMESPACES.map((n) => [n, 'rolled-back']));
    for (const ns of NAMESPACES) {
      const backed = await backedUpLabels(s.backup!.location, ns);
      expect(backed['istio-injection'], `${ns} backup`).toBe('enabled');
      const now = await namespaceLabels(stack.lab, ns);
      expect(JSON.stringify(Object.entries(now).sort()), `${ns} labels`).toBe(JSON.stringify(Object.entries(backed).sort()));
    }
    await waitInjected(stack.lab, SOURCE_REV);
    for (const ns of NAMESPACES) {
      for (const p of (await inspect(ns)).pods) expect(p, `${ns}/${p.name}`).toMatchObject({ sidecarRevision: SOURCE_REV, sync: 'SYNCED' });
    }
    expect((await gatewayRequest(stack.source, 'shop.y7test.com', '/')).status).toBe(200);
    for (const h of HOSTS) expect(await resolveA(h), h).toEqual([stack.source.address]);
    console.log(`[lab e2e] reject at dns-cutover: ${elapsed(t0)}`);
  }, 900_000);

  it('on a revision tag, rejected at dns-cutover: the real apiserver injected the target through the switched tag, and after the rollback the source through it again', async () => {
    const t0 = Date.now();
    // The namespaces on revision tag prod-stable (pointing at the source), their pods injected through
    // it. They carry the target's discovery label already: on the tag path every pod restarted after
    // the switch gets the target's sidecar, before its wave too, and preflight blocks otherwise
    // (cutover/tag-discovery; the lab's istiod scopes its CA writer by discoverySelectors).
    const tagConfig = await createSourceTag(stack.lab, TAG);
    for (const ns of NAMESPACES) {
      await stack.lab.kube.kubectl(['label', 'namespace', ns, `istio.io/rev=${TAG}`, `usergroup=${TARGET_REV}`, 'istio-injection-']);
      await restartAndWait(ns);
    }
    await waitInjected(stack.lab, SOURCE_REV);
    try {
      const plan = await writeLabPlan(stack, await tempDir('lab-tag'), (p) => {
        p.target.tag = TAG;
      });
      const id = 'lab-tag-reject-dns-cutover';
      await stack.cli.start(plan, id, STARTER);
      await approveWhenOpen(stack.cli, stack.env.client, id, 'start');
      const atGate = await waitForRun(
        stack.env.client,
        id,
        (s) =>
          s.attention.gates.some((g) => g.id === 'dns-cutover') || s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
        'gate dns-cutover',
        600_000,
      );
      expect(
        atGate.attention.gates.map((g) => g.id),
        describeSeen(atGate),
      ).toEqual(['dns-cutover']);
      const tagLabel = async () =>
        (await kubectlJson<{ metadata: { labels: Record<string, string> } }>(stack.lab, ['get', 'mutatingwebhookconfiguration', tagConfig]))
          .metadata.labels['istio.io/rev'];
      expect(await tagLabel()).toBe(TARGET_REV);
      for (const ns of NAMESPACES) {
        expect(await namespaceLabels(stack.lab, ns), ns).toEqual({
          'kubernetes.io/metadata.name': ns,
          'istio.io/rev': TAG,
          usergroup: TARGET_REV,
        });
        for (const p of (await inspect(ns)).pods)
          expect(p, `${ns}/${p.name}`).toMatchObject({ sidecarRevision: TARGET_REV, sync: 'SYNCED' });
      }

      const rejected = await stack.cli.run(['reject', id, 'dns-cutover', '--reason', 'lab e2e: not today'], STARTER);
      expect(rejected.code, rejected.stderr).toBe(0);
      const end = await waitForEnd(stack.env.client, id, 'the rollback', 600_000);
      expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
      expect(await tagLabel()).toBe(SOURCE_REV);
      for (const ns of NAMESPACES) {
        expect(await namespaceLabels(stack.lab, ns), ns).toEqual({
          'kubernetes.io/metadata.name': ns,
          'istio.io/rev': TAG,
          usergroup: TARGET_REV,
        });
        for (const p of (await inspect(ns)).pods)
          expect(p, `${ns}/${p.name}`).toMatchObject({ sidecarRevision: SOURCE_REV, sync: 'SYNCED' });
      }
      console.log(`[lab e2e] on a revision tag, reject at dns-cutover: ${elapsed(t0)}`);
    } finally {
      // The field report's cluster again for the test below: istio-injection, no tag.
      for (const ns of NAMESPACES) {
        await stack.lab.kube.kubectl(['label', 'namespace', ns, 'istio-injection=enabled', `istio.io/rev=${TAG}`, '--overwrite']);
        await stack.lab.kube.kubectl(['label', 'namespace', ns, 'istio.io/rev-']);
        await stack.lab.kube.kubectl(['label', 'namespace', ns, `usergroup=${TARGET_REV}`, '--overwrite']);
        await stack.lab.kube.kubectl(['label', 'namespace', ns, 'usergroup-']);
        await restartAndWait(ns);
      }
      await stack.lab.kube.kubectl(['delete', 'mutatingwebhookconfiguration', tagConfig, '--ignore-not-found']);
      await waitInjected(stack.lab, SOURCE_REV);
    }
  }, 900_000);

  it('every gate approved: every namespace on the target, SYNCED in the real target istiod, served by the new gateway by its xDS, DNS moved, the source decommissioned', async () => {
    const t0 = Date.now();
    // The backend wave prepares one namespace ahead (wave.prepareAhead): orders is relabelled and
    // CA-checked on the real control planes while payments restarts, and restarts after it.
    const plan = await writeLabPlan(stack, await tempDir('lab-full'), (p) => {
      p.waves = (p.waves as { name: string }[]).map((w) => (w.name === 'backend' ? { ...w, concurrency: 1, prepareAhead: 1 } : w));
    });
    const id = 'lab-full-migration';
    // Before: the new gateway serves none of the hosts (the target istiod does not see the routes' namespaces yet).
    expect((await gatewayRequest(stack.target, 'shop.y7test.com', '/')).status).toBe(404);
    await stack.cli.start(plan, id, STARTER);
    for (const gate of ['start', 'dns-cutover', 'decommission']) await approveWhenOpen(stack.cli, stack.env.client, id, gate, APPROVER);
    const end = await waitForEnd(stack.env.client, id, 'the end', 900_000);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    console.log(`[lab e2e] full migration: ${elapsed(t0)}`);

    const s = await stack.cli.status(id);
    expect(s.namespaces.map((n) => [n.name, n.state])).toEqual(NAMESPACES.map((n) => [n, 'migrated']));
    expect(s.namespaces.some((n) => n.waitingForRestartSlot)).toBe(false);
    const history = (ns: string) => stack.env.client.workflow.getHandle(`${id}/ns/${ns}`).fetchHistory();
    const [payments, orders] = [await history('payments'), await history('orders')];
    expect(signalNames(orders)).toContain('restartSlot');
    expect(signalNames(payments)).not.toContain('restartSlot');
    expect(activitySpan(orders, 'restartWorkloads').startedMs).toBeGreaterThanOrEqual(
      activitySpan(payments, 'restartWorkloads').completedMs,
    );
    expect(s.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`)).toEqual([
      `${APPROVER} approve start`,
      `${APPROVER} approve dns-cutover`,
      `${APPROVER} approve decommission`,
    ]);
    for (const step of ['preflight', 'backup', 'gateway-stable', 'dns-switch', 'dns-verify', 'dns-ttl', 'verify-mesh', 'decommission']) {
      expect(s.steps.find((x) => x.id === step)?.state, `step ${step}`).toBe('succeeded');
    }
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(stack.lab, ns), ns).toEqual(migratedLabels(ns));
      const revs = await podRevisions(stack.lab, ns);
      expect(Object.values(revs).length, ns).toBe(2);
      expect(
        Object.values(revs).every((r) => r === TARGET_REV),
        `${ns}: ${JSON.stringify(revs)}`,
      ).toBe(true);
      for (const p of (await inspect(ns)).pods)
        expect(p, `${ns}/${p.name}`).toMatchObject({ sidecarRevision: TARGET_REV, sync: 'SYNCED', istiod: `${TARGET_REV}/${TARGET_REV}` });
    }
    // The new gateway routes every host by the target istiod's RDS/EDS to the right namespace.
    for (const [host, path, ns] of [
      ['shop.y7test.com', '/', 'frontend'],
      ['api.y7test.com', '/orders', 'orders'],
      ['api.y7test.com', '/payments', 'payments'],
      ['api.y7test.com', '/inventory', 'inventory'],
    ] as const) {
      const r = await gatewayRequest(stack.target, host, path);
      expect(r.status, `${host}${path}: ${r.body}`).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ namespace: ns, cluster: `outbound|8080||${ns}.${ns}.svc.cluster.local` });
    }
    expect((await gatewayRequest(stack.target, 'nowhere.example.com', '/')).status).toBe(404);
    for (const h of HOSTS) expect(await resolveA(h), h).toEqual([stack.target.address]);
    // Decommission removed the source's injector, istiod and gateway; the target's stay.
    const names = async (args: string[]) =>
      (await kubectlJson<{ items: { metadata: { name: string } }[] }>(stack.lab, ['get', ...args])).items
        .map((o) => o.metadata.name)
        .sort();
    expect(await names(['mutatingwebhookconfigurations'])).toEqual([`istio-sidecar-injector-${TARGET_REV}-${TARGET_REV}`]);
    expect(await names(['deployments', '-n', 'istio-system'])).toEqual([]);
    expect(await names(['deployments', '-n', TARGET_REV])).toEqual(['istio-ingressgateway', `istiod-${TARGET_REV}`]);
    // Probe Jobs were cleaned up.
    for (const ns of NAMESPACES) expect(await names(['jobs', '-n', ns]), ns).toEqual([]);
  }, 1_200_000);
});
