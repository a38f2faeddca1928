// One namespace moved by meshmove's real activities on the lab's real control planes (two istiods
// sharing one plug-in root CA, as the field report requires), authenticated as the worker's
// ServiceAccount bound by exactly deploy/rbac.yaml: relabel → CA ready → restart → proxies SYNCED
// in the real target istiod's syncz (read by port-forward through the apiserver), then the
// compensation back to the source. Injection, the CA ConfigMap and syncz come from real istiod.
// Then the other cutover strategies' own steps: a gateway moved to another revision in place (its
// pod template's istio.io/rev, one rollout, the gateway template injected by the other istiod), and
// a revision tag pointed at the target and back (the real apiserver calls whichever istiod the
// tag's configuration names).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import {
  applyNamespaces,
  FIELD_REPORT_GATEWAYS,
  FIELD_REPORT_NAMESPACES,
  startLab,
  writeWorkerKubeconfig,
  type Lab,
} from '../../lab/index.js';
import { relabelGateway } from '../../activities/gateway/move.js';
import { pointTag } from '../../activities/tag/point.js';
import { createSourceTag } from './support/stack.js';
import { rbacForPlan } from '../../client/plan-rbac.js';
import { createKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import {
  relabelNamespace,
  restartWorkloads,
  restoreNamespaceLabels,
  verifyProxies,
  waitCaReady,
} from '../../activities/namespace/index.js';
import type { ClusterDeps } from '../../activities/shared/deps.js';
import { runDecommission } from '../../activities/decommission/index.js';
import { fieldReportPlan } from '../activities/preflight-twin-fixture.js';

const RBAC = fileURLToPath(new URL('../../deploy/rbac.yaml', import.meta.url));
const RUN = 'lab-run-1';
const SOURCE = 'default';
const TARGET = 'istio-1-16-5';
const NS = 'inventory';
const TAG = 'prod-stable';
/** The target's gateway (FIELD_REPORT_GATEWAYS): its pod template carries istio.io/rev=istio-1-16-5. */
const GATEWAY = FIELD_REPORT_GATEWAYS.find((g) => g.namespace === TARGET)!;

let lab: Lab;
let kube: KubeAccess;
let deps: ClusterDeps;
const plan = fieldReportPlan((p) => {
  p.cluster.context = 'lab';
});
const ref = { plan, migrationId: RUN, namespace: NS };
const run = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment().run(fn);

interface PodJson {
  metadata: { name: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] };
  status?: { phase?: string };
}

/** Who injected each live pod: the revision in sidecar.istio.io/status and the discovery address. */
async function injectedBy(namespace: string): Promise<{ revision?: string; discovery?: string }[]> {
  return (await injectedByPods(namespace)).map(({ name: _name, ...rest }) => rest);
}

async function injectedByPods(namespace: string): Promise<{ name: string; revision?: string; discovery?: string }[]> {
  const list = JSON.parse(await lab.kube.kubectl(['get', 'pods', '-n', namespace, '-o', 'json'])) as { items: PodJson[] };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => {
      const status = JSON.parse(p.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}') as { revision?: string };
      const proxy = p.spec.containers.find((c) => c.name === 'istio-proxy');
      // PROXY_CONFIG holds only what differs from ProxyConfig's defaults (discovery at istiod.istio-system).
      const pc = parse(proxy?.env?.find((e) => e.name === 'PROXY_CONFIG')?.value ?? '{}') as { discoveryAddress?: string };
      return {
        name: p.metadata.name,
        ...(status.revision ? { revision: status.revision } : {}),
        discovery: pc.discoveryAddress ?? 'istiod.istio-system.svc:15012',
      };
    });
}

beforeAll(async () => {
  lab = await startLab({ sharedRoot: true, gateways: [GATEWAY], progress: (l) => process.stderr.write(`${l}\n`) });
  await applyNamespaces(lab.kube, FIELD_REPORT_NAMESPACES);
  const workerKubeconfig = path.join(lab.dir, 'worker.kubeconfig');
  // deploy/rbac.yaml for the plan with the revision tag below (`meshmove plan rbac`): the field report's names, and the tag's patch.
  const tagged = fieldReportPlan((p) => {
    p.target.tag = TAG;
  });
  await writeWorkerKubeconfig(lab, rbacForPlan(readFileSync(RBAC, 'utf8'), tagged), workerKubeconfig);
  kube = createKubeAccess({ kubeconfig: workerKubeconfig, context: 'lab' });
  deps = { kube, tuning: { pollMs: 200, caReadyTimeoutMs: 60_000, caStableMs: 2_000, proxySettleMs: 30_000 } };
  // vi.waitFor, not expect.poll: a hook is not a test.
  await vi.waitFor(
    async () => {
      const pods = await injectedBy(NS);
      expect(pods.length === 2 && pods.every((p) => p.revision === SOURCE), 'the source injected every inventory pod').toBe(true);
    },
    { timeout: 60_000, interval: 500 },
  );
}, 1_800_000);

afterAll(async () => {
  await lab?.stop();
});

describe('one namespace, source → target → source, on real istiod', () => {
  let previous: Record<string, string>;
  it('relabel, CA ready (one shared root), restart: the target injects and its syncz lists every pod SYNCED', async () => {
    const relabeled = await run(() => relabelNamespace(deps, ref));
    previous = relabeled.previousLabels;
    expect(previous).toEqual({ 'istio-injection': 'enabled' });
    const ns = JSON.parse(await lab.kube.kubectl(['get', 'namespace', NS, '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
    };
    expect(ns.metadata.labels['istio.io/rev']).toBe(TARGET);
    expect(ns.metadata.labels.usergroup).toBe(TARGET);
    expect(ns.metadata.labels['istio-injection']).toBeUndefined();

    await run(() => waitCaReady(deps, ref));
    const restarted = await run(() => restartWorkloads(deps, { ...ref, key: `${RUN}/${NS}/forward`, expectRevision: TARGET }));
    expect(restarted.workloads.length).toBe(1);
    const pods = await injectedBy(NS);
    expect(pods.length).toBe(2);
    for (const p of pods) expect(p).toEqual({ revision: TARGET, discovery: `istiod-${TARGET}.${TARGET}.svc:15012` });

    const proxies = await run(() => verifyProxies(deps, { ...ref, revision: TARGET }));
    expect(proxies.problems).toEqual([]);
    expect(proxies.pods).toBe(2);
    expect(proxies.synced).toBe(2);
  });

  it('compensation: labels restored, the source injects again and lists every pod SYNCED', async () => {
    const restored = await run(() => restoreNamespaceLabels(deps, { ...ref, labels: previous }));
    expect(restored.changed).toBe(true);
    const back = await run(() => restartWorkloads(deps, { ...ref, key: `${RUN}/${NS}/rollback`, expectRevision: SOURCE }));
    expect(back.workloads.length).toBe(1);
    for (const p of await injectedBy(NS)) expect(p).toEqual({ revision: SOURCE, discovery: 'istiod.istio-system.svc:15012' });
    const proxies = await run(() => verifyProxies(deps, { ...ref, revision: SOURCE }));
    expect(proxies.problems).toEqual([]);
    expect(proxies.synced).toBe(proxies.pods);
  });
});

const virtualService = (name: string, namespace: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  hosts: [${name}.${namespace}.svc.cluster.local]
  http: [{ route: [{ destination: { host: ${name}.${namespace}.svc.cluster.local } }] }]
`;

describe('the gateway moved in place on real istiod', () => {
  const gwPlan = fieldReportPlan((p) => {
    p.cluster.context = 'lab';
    p.source.gateway = { namespace: GATEWAY.namespace, service: GATEWAY.name, selector: GATEWAY.labels };
  });
  const gwRef = { plan: gwPlan, migrationId: RUN };
  const gatewayPods = async () =>
    (await injectedByPods(GATEWAY.namespace)).filter((p) => p.name.startsWith(`${GATEWAY.name}-`)).map((p) => p.revision ?? 'none');

  it('its pod template to the other revision, one rollout, the other istiod injects and lists it SYNCED; and back', async () => {
    expect(await gatewayPods()).toEqual([TARGET]);
    const there = await run(() => relabelGateway(deps, { ...gwRef, revision: SOURCE, key: `${RUN}/gateway/forward` }));
    expect(there).toEqual({ where: 'template', previous: TARGET, changed: true });
    const rolled = await run(() =>
      restartWorkloads(deps, {
        ...gwRef,
        namespace: GATEWAY.namespace,
        key: `${RUN}/gateway/forward`,
        expectRevision: SOURCE,
        only: [`Deployment/${GATEWAY.name}`],
      }),
    );
    // Only the gateway: istiod's own Deployment in that namespace is left alone.
    expect(rolled.workloads).toEqual([`Deployment/${GATEWAY.name}`]);
    expect(await gatewayPods()).toEqual([SOURCE]);
    const onSource = await run(() =>
      verifyProxies(deps, { ...gwRef, namespace: GATEWAY.namespace, revision: SOURCE, selector: GATEWAY.labels }),
    );
    expect(onSource).toMatchObject({ pods: 1, synced: 1, problems: [] });

    const back = await run(() => relabelGateway(deps, { ...gwRef, revision: TARGET, key: `${RUN}/gateway/rollback` }));
    // The revision recorded before the first move, not the one it had a moment ago.
    expect(back).toEqual({ where: 'template', previous: TARGET, changed: true });
    await run(() =>
      restartWorkloads(deps, {
        ...gwRef,
        namespace: GATEWAY.namespace,
        key: `${RUN}/gateway/rollback`,
        expectRevision: TARGET,
        only: [`Deployment/${GATEWAY.name}`],
      }),
    );
    expect(await gatewayPods()).toEqual([TARGET]);
    const onTarget = await run(() =>
      verifyProxies(deps, { ...gwRef, namespace: GATEWAY.namespace, revision: TARGET, selector: GATEWAY.labels }),
    );
    expect(onTarget).toMatchObject({ pods: 1, synced: 1, problems: [] });
  });
});

describe('a revision tag pointed at the target and back on real istiod', () => {
  const tagPlan = fieldReportPlan((p) => {
    p.cluster.context = 'lab';
    p.target.tag = TAG;
  });
  const tagRef = { plan: tagPlan, migrationId: RUN, namespace: 'tagged' };

  it('the apiserver calls the istiod the tag names: the source, then after pointTag the target, then the source again', async () => {
    const tagConfig = await createSourceTag(lab, TAG);
    await applyNamespaces(lab.kube, [
      { name: 'tagged', labels: { 'istio.io/rev': TAG, usergroup: TARGET }, deployments: [{ name: 'tagged', replicas: 1 }] },
    ]);
    await vi.waitFor(async () => expect((await injectedBy('tagged')).map((p) => p.revision)).toEqual([SOURCE]), {
      timeout: 60_000,
      interval: 500,
    });

    expect(await run(() => pointTag(deps, { plan: tagPlan, migrationId: RUN, to: 'target' }))).toEqual({
      config: `istio-revision-tag-${TAG}`,
      changed: true,
    });
    await run(() => restartWorkloads(deps, { ...tagRef, key: `${RUN}/tagged/forward`, expectRevision: TARGET }));
    expect(await injectedBy('tagged')).toEqual([{ revision: TARGET, discovery: `istiod-${TARGET}.${TARGET}.svc:15012` }]);
    expect(await run(() => verifyProxies(deps, { ...tagRef, revision: TARGET }))).toMatchObject({ pods: 1, synced: 1, problems: [] });
    // Idempotent: a retry finds the tag there.
    expect((await run(() => pointTag(deps, { plan: tagPlan, migrationId: RUN, to: 'target' }))).changed).toBe(false);

    await run(() => pointTag(deps, { plan: tagPlan, migrationId: RUN, to: 'source' }));
    await run(() => restartWorkloads(deps, { ...tagRef, key: `${RUN}/tagged/back`, expectRevision: SOURCE }));
    expect(await injectedBy('tagged')).toEqual([{ revision: SOURCE, discovery: 'istiod.istio-system.svc:15012' }]);
    // Out of the way of decommission below.
    await lab.kube.kubectl(['delete', 'namespace', 'tagged', '--wait=false']);
    await lab.kube.kubectl(['delete', 'mutatingwebhookconfiguration', tagConfig]);
  });
});

describe('decommission on real istiod', () => {
  it('after every namespace moved and the source istiod is gone, Istio config can still be written', async () => {
    for (const { name } of FIELD_REPORT_NAMESPACES) {
      const r = { plan, migrationId: RUN, namespace: name };
      await run(() => relabelNamespace(deps, r));
      await run(() => waitCaReady(deps, r));
      await run(() => restartWorkloads(deps, { ...r, key: `${RUN}/${name}/forward-2`, expectRevision: TARGET }));
    }
    // Before: the default validator (objectSelector {}, failurePolicy Fail) calls the source istiod.
    await lab.kube.kubectl(['apply', '-f', '-'], virtualService('before', 'inventory'));

    const p = { ...plan, backup: { ...plan.backup, location: path.join(lab.dir, 'backups') } };
    await run(() => runDecommission(kube, p, RUN));
    expect(await lab.kube.kubectl(['get', 'deployment', '-n', 'istio-system', '-o', 'name'])).not.toMatch(/deployment.apps\/istiod\b/);
    // The cluster has no istiod of the source any more: its process goes as its pods went.
    await lab.istio.find((r) => r.revision === SOURCE)!.process.stop();

    await lab.kube.kubectl(['apply', '-f', '-'], virtualService('after', 'inventory'));
    // Moved to the target, as `istioctl tag set default` does: same calls as the target's own validator.
    const vwc = async (name: string) =>
      JSON.parse(await lab.kube.kubectl(['get', 'validatingwebhookconfiguration', name, '-o', 'json'])) as {
        metadata: { labels?: Record<string, string> };
        webhooks: { clientConfig: { url?: string } }[];
      };
    const moved = await vwc('istiod-default-validator');
    const targetOwn = await vwc(`istio-validator-${TARGET}-${TARGET}`);
    expect(moved.metadata.labels?.['istio.io/rev']).toBe(TARGET);
    expect(moved.webhooks.map((w) => w.clientConfig.url)).toEqual(moved.webhooks.map(() => targetOwn.webhooks[0]!.clientConfig.url));
    // And it still validates: an invalid object is refused by the target istiod.
    await expect(
      lab.kube.kubectl(['apply', '-f', '-'], virtualService('after', 'inventory').replace(/hosts: \[[^\]]*\]/, 'hosts: [bad_host!]')),
    ).rejects.toThrow(/denied the request|admission webhook/);
  });
});
