// End to end, the way a user meets meshmove: the CLI (a separate process) starts the field report's
// migration on a real Temporal dev server; a worker with the real activities moves the simulated
// cluster (the twin, over HTTP); every gate is approved with `meshmove approve` by an allowlisted
// person other than the starter. Then the cluster itself is inspected from outside: labels, pods'
// sidecars, proxies, the new gateway over real HTTP, DNS over real UDP, what decommission removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import {
  APPROVER,
  type Cli,
  startSingleTwinStack,
  stopStack,
  HOSTS,
  NAMESPACES,
  SOURCE_REV,
  STARTER,
  TARGET_REV,
  TERMINAL,
  approveWhenOpen,
  describeSeen,
  elapsed,
  gatewayRequest,
  kubeList,
  migratedLabels,
  namespaceLabels,
  podRevisions,
  resolveA,
  sourceGateway,
  targetGateway,
  twinCounters,
  twinProxies,
  waitForRun,
  type RunningWorker,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twin: Twin;
let worker: RunningWorker;
let cli: Cli;
let planFile: string;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twin, worker, cli, planFile } = await startSingleTwinStack('full'));
});

afterAll(() => stopStack({ env, twin, worker }, 'full-migration.test.ts', fileStart));

const names = (objs: { metadata: { name: string } }[]) => objs.map((o) => o.metadata.name).sort();

describe('full migration of the field-report cluster through the CLI', () => {
  it('every gate approved by a second person → every namespace on the target, SYNCED, served by the new gateway, DNS moved, only the source decommissioned', async () => {
    const id = 'e2e-full';
    const t0 = Date.now();
    const crdsBefore = names(await kubeList(twin, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'));
    const targetDeploysBefore = names(await kubeList(twin, `/apis/apps/v1/namespaces/${TARGET_REV}/deployments`));
    const targetServicesBefore = names(await kubeList(twin, `/api/v1/namespaces/${TARGET_REV}/services`));
    const mwcBefore = names(await kubeList(twin, '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'));
    expect(mwcBefore).toContain('istio-sidecar-injector');
    expect(crdsBefore.length).toBeGreaterThan(0);

    await cli.start(planFile, id, STARTER);
    for (const gate of ['start', 'dns-cutover', 'decommission']) {
      await approveWhenOpen(cli, env.client, id, gate, APPROVER);
      // DNS still on the old gateway until the dns-cutover gate is approved.
      if (gate === 'start') for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([sourceGateway(twin).address]);
    }
    const end = await waitForRun(env.client, id, (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0, 'the end');
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    console.log(`[e2e] full migration: ${elapsed(t0)}`);

    // ---- status --json (the CLI, as a script reads it) ----
    const s = await cli.status(id);
    expect(s.phase).toBe('completed');
    expect(s.pendingGate).toBeNull();
    expect(s.pendingDecision).toBeNull();
    expect(s.namespaces.map((n) => [n.name, n.state])).toEqual(NAMESPACES.map((n) => [n, 'migrated']));
    const accepted = s.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`);
    expect(accepted).toEqual([`${APPROVER} approve start`, `${APPROVER} approve dns-cutover`, `${APPROVER} approve decommission`]);
    for (const step of ['preflight', 'backup', 'gateway-stable', 'dns-switch', 'dns-verify', 'dns-ttl', 'verify-mesh', 'decommission']) {
      expect(s.steps.find((x) => x.id === step)?.state, `step ${step}`).toBe('succeeded');
    }
    // The decommission gate said what happens to istiod-default-validator and what stays behind.
    const decommissionGate = s.gates.find((g) => g.id === 'decommission')!.summary.details.join('\n');
    expect(decommissionGate).toMatch(
      /repoint ValidatingWebhookConfiguration\/istiod-default-validator from istiod.istio-system.svc\/validate to the target istiod istiod-istio-1-16-5.istio-1-16-5.svc\/validate/,
    );
    expect(decommissionGate).toMatch(/leaves behind: .*istio-validator-istio-system.*HorizontalPodAutoscaler.*istio-ca-secret/);

    // ---- every namespace on the target revision, with SYNCED proxies ----
    const proxies = await twinProxies(twin);
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns), ns).toEqual(migratedLabels(ns));
      const revs = await podRevisions(twin, ns);
      expect(Object.keys(revs).length, `${ns} pods`).toBeGreaterThan(0);
      expect(
        Object.values(revs).every((r) => r === TARGET_REV),
        `${ns}: ${JSON.stringify(revs)}`,
      ).toBe(true);
      const nsProxies = proxies.filter((p) => p.pod.startsWith(`${ns}/`));
      expect(nsProxies.map((p) => p.pod).sort()).toEqual(
        Object.keys(revs)
          .map((p) => `${ns}/${p}`)
          .sort(),
      );
      for (const p of nsProxies) {
        expect(p, p.pod).toMatchObject({ revision: TARGET_REV, connected: true, stale: false });
      }
    }
    expect(proxies.some((p) => p.revision === SOURCE_REV && !p.pod.startsWith('istio-system/'))).toBe(false);
    // The same through `meshmove inspect`, which reads the target istiod's syncz over a port-forward as istioctl does.
    for (const ns of NAMESPACES) {
      const r = await cli.run(['inspect', 'namespace', ns, '--kubeconfig', twin.kubeconfigPath, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const view = JSON.parse(r.stdout) as { pods: { name: string; sidecarRevision: string; sync: string; istiod: string }[] };
      expect(view.pods.length).toBeGreaterThan(0);
      for (const p of view.pods)
        expect(p, `${ns}/${p.name}`).toMatchObject({ sidecarRevision: TARGET_REV, sync: 'SYNCED', istiod: `${TARGET_REV}/${TARGET_REV}` });
    }

    // ---- the new gateway serves every host (real HTTP with a Host header) ----
    const probes: [string, string, string][] = [
      ['shop.y7test.com', '/', 'frontend'],
      ['api.y7test.com', '/orders', 'orders'],
      ['api.y7test.com', '/payments', 'payments'],
      ['api.y7test.com', '/inventory', 'inventory'],
    ];
    for (const [host, path, ns] of probes) {
      const r = await gatewayRequest(targetGateway(twin), host, path);
      expect(r.status, `${host}${path}: ${r.body}`).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ namespace: ns });
    }

    // ---- DNS resolves to the new gateway ----
    for (const h of HOSTS) expect(await resolveA(twin, h)).toEqual([targetGateway(twin).address]);

    // ---- decommission removed only the source revision's objects ----
    const mwcAfter = names(await kubeList(twin, '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'));
    expect(mwcAfter).toEqual(mwcBefore.filter((n) => n !== 'istio-sidecar-injector'));
    expect(names(await kubeList(twin, '/apis/apps/v1/namespaces/istio-system/deployments'))).toEqual([]);
    expect(names(await kubeList(twin, '/api/v1/namespaces/istio-system/services'))).toEqual([]);
    expect(names(await kubeList(twin, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'))).toEqual(crdsBefore);
    expect(names(await kubeList(twin, `/apis/apps/v1/namespaces/${TARGET_REV}/deployments`))).toEqual(targetDeploysBefore);
    expect(names(await kubeList(twin, `/api/v1/namespaces/${TARGET_REV}/services`))).toEqual(targetServicesBefore);
    // istio-system itself, its mesh config, and the Istio config objects stay.
    expect(names(await kubeList(twin, '/api/v1/namespaces')).includes('istio-system')).toBe(true);
    expect(names(await kubeList(twin, '/apis/networking.istio.io/v1beta1/namespaces/istio-system/gateways'))).toEqual(['y7test-gateway']);
    // istiod-default-validator (every Istio object, fail-closed) now calls the target istiod: Istio
    // config writes still work with the source istiod gone.
    const validator = (await kubeList(twin, '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations')).find(
      (v) => v.metadata.name === 'istiod-default-validator',
    ) as unknown as {
      metadata: { labels: Record<string, string> };
      webhooks: { clientConfig: { service?: { name: string; namespace: string } } }[];
    };
    expect(validator.metadata.labels['istio.io/rev']).toBe(TARGET_REV);
    expect(validator.webhooks.map((w) => w.clientConfig.service)).toEqual([
      { name: `istiod-${TARGET_REV}`, namespace: TARGET_REV, path: '/validate', port: 443 },
    ]);
    const write = await fetch(`${twin.apiUrl}/apis/networking.istio.io/v1beta1/namespaces/orders/virtualservices`, {
      method: 'POST',
      headers: { Authorization: 'Bearer meshmove-twin', 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'after-decommission', namespace: 'orders' },
        spec: { hosts: ['after.y7test.com'], http: [{ route: [{ destination: { host: 'orders.orders.svc.cluster.local' } }] }] },
      }),
    });
    expect(write.status, await write.text()).toBe(201);
    // Every delete the run sent: the five source objects, and the probe Jobs meshmove itself created
    // to run the cross-namespace probes (cleaned up after reading their result).
    const deletes = Object.keys((await twinCounters(twin)).byObject).filter((k) => k.startsWith('delete '));
    const probeJobs = deletes.filter((k) => /^delete batch\/jobs\/[a-z-]+\/meshmove-probe-[0-9a-f]+$/.test(k));
    expect(probeJobs.every((k) => NAMESPACES.some((ns) => k.startsWith(`delete batch/jobs/${ns}/`)))).toBe(true);
    expect(deletes.filter((k) => !probeJobs.includes(k)).sort()).toEqual(
      [
        'delete admissionregistration.k8s.io/mutatingwebhookconfigurations/istio-sidecar-injector',
        'delete apps/deployments/istio-system/istio-ingressgateway',
        'delete apps/deployments/istio-system/istiod',
        'delete services/istio-system/istio-ingressgateway',
        'delete services/istio-system/istiod',
      ].sort(),
    );
  }, 600_000);
});
