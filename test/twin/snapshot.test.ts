// The twin survives a restart (`startTwin(..., { statePath })`): a migrated namespace, a changed
// DNS record and a deleted MWC come back as they were, through the real Kubernetes client (labels,
// pods with their injected sidecars, SYNCED in the target istiod's syncz over port-forward, a DNS
// answer), and the restored cluster keeps working (a further rollout restart). Also: the state
// written while running (what a SIGKILL leaves) restores, a decommissioned istiod stays gone, and a
// loopback port taken meanwhile gets the pods' endpoint annotations rewritten without a rollout.
import { X509Certificate } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findProxy, parseSyncz, sidecarRevision } from '../../mesh/syncz.js';
import { startTwin, TwinStateError, type Twin } from '../../twin/index.js';
import { readTwinState } from '../../twin/state.js';
import { clientsFor, httpGet, podsOf, portForward, relabelToTarget, rolloutRestart, type Clients } from './istio-helpers.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const TARGET = 'istio-1-16-5';
const SOURCE_MWC = 'istio-sidecar-injector';
const TARGET_MWC = 'istio-sidecar-injector-istio-1-16-5-istio-1-16-5';
process.env.MESHMOVE_LOG_LEVEL ??= 'warn';

const start = (statePath: string): Promise<Twin> =>
  startTwin(SCENARIO, { randomPorts: true, statePath, stateSave: { quietMs: 100, maxDelayMs: 500 } });

async function syncz(c: Clients, rev: string, namespace: string): Promise<ReturnType<typeof parseSyncz>> {
  const pods = await c.core.listNamespacedPod({ namespace, labelSelector: `app=istiod,istio.io/rev=${rev}` });
  const pod = pods.items.find((p) => p.status?.phase === 'Running');
  if (!pod) throw new Error(`no running istiod pod for ${rev}`);
  const pf = await portForward(c.kc, namespace, pod.metadata!.name!, 15014);
  try {
    const res = await httpGet(`http://127.0.0.1:${pf.port}/debug/syncz`);
    if (res.status !== 200) throw new Error(`syncz answered ${res.status}: ${res.body}`);
    return parseSyncz(JSON.parse(res.body));
  } finally {
    await pf.close();
  }
}

async function onTarget(c: Clients, namespace: string, exclude: Set<string> = new Set()): Promise<V1Pod[]> {
  return vi.waitFor(
    async () => {
      const pods = await podsOf(c, namespace, namespace);
      const done =
        pods.length === 2 &&
        pods.every((p) => !exclude.has(p.metadata!.uid!) && sidecarRevision(p) === TARGET && p.status?.phase === 'Running');
      expect(done, `${namespace} pods on ${TARGET}`).toBe(true);
      return pods;
    },
    { timeout: 15_000 },
  );
}

/** Whether the target istiod's syncz shows each of these orders pods SYNCED. */
async function ordersSynced(c: Clients, pods: V1Pod[]): Promise<boolean> {
  const s = await syncz(c, TARGET, TARGET);
  return pods.every((p) => findProxy(s, p.metadata!.name!, 'orders')?.overall === 'SYNCED');
}

async function mwcNames(c: Clients): Promise<string[]> {
  const list = await c.kc.makeApiClient(AdmissionregistrationV1Api).listMutatingWebhookConfiguration();
  return list.items.map((m) => m.metadata!.name!).sort();
}

async function resolveA(twin: Twin, name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 1000, tries: 2 });
  r.setServers([`${twin.dns.host}:${twin.dns.port}`]);
  return r.resolve4(name);
}

async function setDnsRecord(twin: Twin, name: string, address: string): Promise<void> {
  const res = await fetch(`${twin.apiUrl}/_twin/dns/records/${name}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ address }),
  });
  expect(res.status).toBe(200);
}

function rootOf(twin: Twin, rev: string): string {
  const cps = twin.mesh.describe().controlPlanes as Array<{ revision: string; rootFingerprint: string }>;
  return cps.find((cp) => cp.revision === rev)!.rootFingerprint;
}

describe('a twin restarted from its state file', () => {
  let dir: string;
  let statePath: string;
  let first: Twin | undefined;
  let second: Twin | undefined;
  let c: Clients;
  const before: { pods: V1Pod[]; caPem: string; roots: Record<string, string>; maxRv: number } = {
    pods: [],
    caPem: '',
    roots: {},
    maxRv: 0,
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twin-snapshot-'));
    statePath = join(dir, 'twin-state.json');
    first = await start(statePath);
    expect(first.restored).toBe(false);
    c = clientsFor(first.kubeconfigPath);

    await relabelToTarget(c, 'orders');
    await rolloutRestart(c, 'orders', 'orders');
    before.pods = await onTarget(c, 'orders');
    // vi.waitFor, not expect.poll: a hook is not a test.
    await vi.waitFor(async () => expect(await ordersSynced(c, before.pods), 'orders SYNCED in the target istiod').toBe(true), {
      timeout: 15_000,
    });
    await setDnsRecord(first, 'shop.y7test.com', '127.0.0.20');
    await c.kc.makeApiClient(AdmissionregistrationV1Api).deleteMutatingWebhookConfiguration({ name: SOURCE_MWC });
    await first.api.settle();
    before.caPem = (await c.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'orders' })).data!['root-cert.pem']!;
    before.roots = { default: rootOf(first, 'default'), [TARGET]: rootOf(first, TARGET) };
    before.maxRv = first.api.snapshot().resourceVersion;
    await first.close();
    first = undefined;

    second = await start(statePath);
    c = clientsFor(second.kubeconfigPath);
  }, 90_000);

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is a private local file holding certificates, no private keys', async () => {
    expect((await stat(statePath)).mode & 0o777).toBe(0o600);
    const text = await readFile(statePath, 'utf8');
    expect(text).toContain('BEGIN CERTIFICATE');
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(second!.restored).toBe(true);
  });

  it('keeps the namespace labels and the pods with their injected sidecars', async () => {
    const ns = await c.core.readNamespace({ name: 'orders' });
    expect(ns.metadata?.labels).toMatchObject({ 'istio.io/rev': TARGET, usergroup: TARGET });
    expect(ns.metadata?.labels?.['istio-injection']).toBeUndefined();
    const pods = await podsOf(c, 'orders', 'orders');
    expect(pods.map((p) => p.metadata!.uid).sort()).toEqual(before.pods.map((p) => p.metadata!.uid).sort());
    for (const p of pods) {
      expect(sidecarRevision(p)).toBe(TARGET);
      expect(p.metadata?.annotations?.['sidecar.istio.io/status']).toContain(TARGET);
      expect(p.spec?.containers.map((x) => x.name)).toContain('istio-proxy');
      expect(p.status?.phase).toBe('Running');
    }
    // A not-migrated namespace keeps its source sidecars.
    expect((await podsOf(c, 'payments', 'payments')).map(sidecarRevision)).toEqual(['default', 'default']);
  });

  it('the target istiod lists the restored proxies as SYNCED (syncz over port-forward)', async () => {
    await expect.poll(() => ordersSynced(c, before.pods), { timeout: 15_000, message: 'restored orders SYNCED' }).toBe(true);
  });

  it('keeps the root CAs and the istio-ca-root-cert ConfigMaps', async () => {
    expect(rootOf(second!, 'default')).toBe(before.roots.default);
    expect(rootOf(second!, TARGET)).toBe(before.roots[TARGET]);
    const ca = await c.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'orders' });
    expect(new X509Certificate(ca.data!['root-cert.pem']!).fingerprint256).toBe(new X509Certificate(before.caPem).fingerprint256);
  });

  it('answers DNS with the changed record', async () => {
    expect(await resolveA(second!, 'shop.y7test.com')).toEqual(['127.0.0.20']);
    expect(await resolveA(second!, 'api.y7test.com')).toEqual(['127.0.0.10']);
  });

  it('the deleted MWC stays deleted, and nothing is installed twice', async () => {
    expect(await mwcNames(c)).toEqual([TARGET_MWC]);
    const deployments = await c.apps.listNamespacedDeployment({ namespace: TARGET, labelSelector: 'app=istiod' });
    expect(deployments.items).toHaveLength(1);
  });

  it('resourceVersions continue upward', async () => {
    const cm = await c.core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'after-restore' }, data: { a: 'b' } },
    });
    expect(Number(cm.metadata!.resourceVersion)).toBeGreaterThan(before.maxRv);
  });

  it('a further rollout restart works: new pods injected by the target, SYNCED; the source injects no more', async () => {
    const old = new Set(before.pods.map((p) => p.metadata!.uid!));
    await rolloutRestart(c, 'orders', 'orders');
    const pods = await onTarget(c, 'orders', old);
    await expect.poll(() => ordersSynced(c, pods), { timeout: 15_000, message: 'new orders pods SYNCED' }).toBe(true);
    // payments still says istio-injection=enabled, but the MWC that matched it was deleted before the restart.
    const paymentsOld = new Set((await podsOf(c, 'payments', 'payments')).map((p) => p.metadata!.uid!));
    await rolloutRestart(c, 'payments', 'payments');
    const fresh = await vi.waitFor(
      async () => {
        const ps = await podsOf(c, 'payments', 'payments');
        const done = ps.length === 2 && ps.every((p) => !paymentsOld.has(p.metadata!.uid!) && p.status?.phase === 'Running');
        expect(done, 'payments restarted').toBe(true);
        return ps;
      },
      { timeout: 15_000 },
    );
    expect(fresh.map(sidecarRevision)).toEqual([null, null]);
    // Pods created after the restore get IPs of their own.
    const ips = (await c.core.listPodForAllNamespaces()).items.map((p) => p.status?.podIP).filter((x) => x !== undefined);
    expect(new Set(ips).size).toBe(ips.length);
  });

  it('refuses a state file written by another scenario', async () => {
    const other = join(dir, 'other.json');
    const s = JSON.parse(await readFile(statePath, 'utf8')) as { scenario: string };
    s.scenario = 'another-scenario';
    await writeFile(other, JSON.stringify(s));
    await expect(startTwin(SCENARIO, { randomPorts: true, statePath: other })).rejects.toBeInstanceOf(TwinStateError);
  });
});

describe('the state written while running, a decommissioned istiod and a port taken meanwhile', () => {
  let dir: string;
  let twin: Twin | undefined;
  let restored: Twin | undefined;
  let blocker: Server | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twin-snapshot-kill-'));
  });
  afterAll(async () => {
    await twin?.close();
    await restored?.close();
    if (blocker) await new Promise((r) => blocker!.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('restores from the periodic save, without the decommissioned istiod, rewriting moved endpoints', async () => {
    const live = join(dir, 'live.json');
    twin = await start(live);
    const c0 = clientsFor(twin.kubeconfigPath);
    await relabelToTarget(c0, 'orders');
    await rolloutRestart(c0, 'orders', 'orders');
    const migrated = await onTarget(c0, 'orders');
    // Decommission the source control plane: its MWC and istiod Deployment.
    await c0.kc.makeApiClient(AdmissionregistrationV1Api).deleteMutatingWebhookConfiguration({ name: SOURCE_MWC });
    await c0.apps.deleteNamespacedDeployment({ name: 'istiod', namespace: 'istio-system' });
    await expect
      .poll(async () => (await c0.core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=istiod' })).items.length === 0, {
        timeout: 15_000,
        message: 'source istiod pods gone',
      })
      .toBe(true);
    // What a SIGKILL would leave: the file saved in the background, copied before any close().
    const crashed = join(dir, 'crashed.json');
    await expect
      .poll(
        async () => {
          const s = await readTwinState(live);
          const pods = s?.objects.filter((o) => o.kind === 'Pod' && o.metadata.namespace === 'orders') ?? [];
          const migratedUids = new Set(migrated.map((p) => p.metadata!.uid));
          return (
            s !== undefined &&
            !s.objects.some((o) => o.kind === 'Deployment' && o.metadata.name === 'istiod' && o.metadata.namespace === 'istio-system') &&
            pods.filter((p) => migratedUids.has(p.metadata.uid)).length === 2 &&
            pods.every((p) => p.status?.phase === 'Running')
          );
        },
        { timeout: 10_000, interval: 100, message: 'the background save to catch up' },
      )
      .toBe(true);
    await copyFile(live, crashed);
    const state = (await readTwinState(crashed))!;
    await twin.close();
    twin = undefined;

    // Someone else took the target istiod's monitoring port in between.
    const monitoringUrl = state.endpoints[`istiod/${TARGET}/monitoring`]!;
    blocker = createServer((_q, res) => res.writeHead(418).end('not istiod'));
    await new Promise<void>((r) => blocker!.listen(Number(new URL(monitoringUrl).port), '127.0.0.1', () => r()));

    restored = await start(crashed);
    const c = clientsFor(restored.kubeconfigPath);
    const cps = (restored.mesh.describe().controlPlanes as Array<{ revision: string }>).map((x) => x.revision);
    expect(cps).toEqual([TARGET]);
    expect(restored.mesh.endpointUrls()[`istiod/${TARGET}/monitoring`]).not.toBe(monitoringUrl);
    // port-forward reaches the real syncz (the annotation was rewritten), the pods were not replaced.
    await expect.poll(() => ordersSynced(c, migrated), { timeout: 15_000, message: 'orders SYNCED after the restore' }).toBe(true);
    await restored.api.settle();
    const pods = await podsOf(c, 'orders', 'orders');
    expect(pods.map((p) => p.metadata!.uid).sort()).toEqual(migrated.map((p) => p.metadata!.uid).sort());
    const istiodBefore = state.objects
      .filter((o) => o.kind === 'Pod' && o.metadata.namespace === TARGET && o.metadata.labels?.app === 'istiod')
      .map((o) => o.metadata.uid);
    const istiods = await c.core.listNamespacedPod({ namespace: TARGET, labelSelector: 'app=istiod' });
    expect(istiods.items.map((p) => p.metadata!.uid)).toEqual(istiodBefore);
    expect(JSON.parse(istiods.items[0]!.metadata!.annotations!['twin.meshmove.dev/endpoints']!)['15014']).toBe(
      restored.mesh.endpointUrls()[`istiod/${TARGET}/monitoring`],
    );
    expect(await mwcNames(c)).toEqual([TARGET_MWC]);
    expect((await c.apps.listNamespacedDeployment({ namespace: 'istio-system', labelSelector: 'app=istiod' })).items).toHaveLength(0);
    // New pods still get injected by the target (webhook through the restored istiod pod).
    await rolloutRestart(c, 'orders', 'orders');
    await onTarget(c, 'orders', new Set(migrated.map((p) => p.metadata!.uid!)));
  }, 90_000);
});
