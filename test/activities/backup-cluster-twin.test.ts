// Backups kept in the cluster (plan `backup.cluster.namespace`), against the twin over HTTP, as the
// worker's ServiceAccount bound by exactly deploy/rbac.yaml: the before-migration backup, the drift
// check and the decommission backup write and read ConfigMaps in the backup namespace only; another
// client (another worker, no shared disk) verifies and reads them; a crashed attempt's leftovers are
// replaced; tampering is refused; a missing namespace is the operator's to create.
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterBackupStore, openBackupStore, readManifest, runBackup, verifyBackup } from '../../activities/backup/index.js';
import { runDecommission } from '../../activities/decommission/index.js';
import { createKubeAccess, type ClientKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import { driftCheck } from '../../activities/namespace/index.js';
import { parsePlanText } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';
import { startTwin, writeKubeconfigAs, type Twin } from '../../twin/index.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const PLAN = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
const RBAC = readFileSync(fileURLToPath(new URL('../../deploy/rbac.yaml', import.meta.url)), 'utf8');
const NS = 'meshmove-backups';

let twin: Twin;
let admin: CoreV1Api;
let workerKubeconfig: string;
let plan: Plan;
/** A worker's cluster access: its own client each time, as another process would have. */
const worker = (): ClientKubeAccess =>
  createKubeAccess({
    kubeconfig: workerKubeconfig,
    context: twin.context,
    rateLimit: { qps: 1000, burst: 1000 },
    maxInProcessDelayMs: 3_000,
  }) as ClientKubeAccess;
const clusterPlan = (namespace = NS): Plan => ({ ...plan, backup: { cluster: { namespace } } });
const backupConfigMaps = async (): Promise<V1ConfigMap[]> =>
  (await admin.listNamespacedConfigMap({ namespace: NS })).items.filter(
    (c) => c.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'meshmove',
  );

beforeAll(async () => {
  twin = await startTwin(SCENARIO, { randomPorts: true });
  const kc = new KubeConfig();
  kc.loadFromFile(twin.kubeconfigPath);
  admin = kc.makeApiClient(CoreV1Api);
  // What whoever installs meshmove does (deploy/rbac.yaml creates it); the worker cannot.
  await admin.createNamespace({ body: { metadata: { name: NS } } });
  workerKubeconfig = join(await mkdtemp(join(tmpdir(), 'meshmove-backup-cluster-')), 'kubeconfig');
  await writeKubeconfigAs(twin, RBAC, workerKubeconfig, { context: twin.context });
  plan = parsePlanText(readFileSync(PLAN, 'utf8'), PLAN);
});
afterAll(async () => {
  await twin?.close();
});

describe("backup in the cluster (twin, the worker's RBAC)", () => {
  it('writes labelled ConfigMaps in the backup namespace only; another client verifies it and the drift check reads it; same objects as a directory backup', async () => {
    const a = worker();
    const ref = await runBackup(a, clusterPlan(), 'run-1');
    expect(ref.location).toBe(`cluster:${NS}/run-1`);
    // Writes: ConfigMap creates only (the collection is reads), all in the backup namespace.
    expect(Object.keys(a.requestCounts).sort()).toEqual(['create', 'get', 'list']);
    const cms = await backupConfigMaps();
    expect(cms.length).toBeGreaterThanOrEqual(2);
    for (const cm of cms)
      expect(cm.metadata?.labels).toMatchObject({ 'meshmove.dev/run-id': 'run-1', 'meshmove.dev/backup-purpose': 'before-migration' });

    // Another worker: nothing on its disk, the same answer.
    const b = worker();
    const v = await verifyBackup(
      openBackupStore(ref.location, () => b),
      ref.manifestDigest,
    );
    expect(v, v.problems.join('\n')).toMatchObject({ ok: true, objects: ref.objects });
    expect(await driftCheck({ kube: b }, { plan: clusterPlan(), migrationId: 'run-1', namespace: 'orders', backup: ref })).toEqual({
      drifted: false,
      details: [],
    });

    const dirPlan: Plan = { ...plan, backup: { location: await mkdtemp(join(tmpdir(), 'meshmove-backup-dir-')) } };
    const dirRef = await runBackup(b, dirPlan, 'run-1');
    const entries = async (s: Parameters<typeof readManifest>[0]) =>
      (await readManifest(s))!.manifest.objects.map(({ chunks: _c, ...e }) => e);
    expect(await entries(openBackupStore(ref.location, () => b))).toEqual(await entries(dirRef.location));
  });

  it("a rerun reuses the finished backup; a crashed attempt's leftovers (no manifest) are replaced", async () => {
    const first = await runBackup(worker(), clusterPlan(), 'run-2');
    const w = worker();
    expect(await runBackup(w, clusterPlan(), 'run-2')).toEqual(first);
    expect(w.requestCounts.create).toBeUndefined();

    // A crash after some pieces, before the head: a leftover with this backup's label.
    const crashed = new ClusterBackupStore(worker(), NS, 'run-3');
    await crashed.writeObjects([{ file: 'objects/stale.json', text: 'stale leftover' }]);
    await admin.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: `${crashed.head}-o-0042`,
          labels: {
            'meshmove.dev/backup': (await backupConfigMaps()).find((c) => c.metadata?.name?.startsWith(crashed.head))!.metadata!.labels![
              'meshmove.dev/backup'
            ]!,
          },
        },
        data: { x: 'y' },
      },
    });
    const ref = await runBackup(worker(), clusterPlan(), 'run-3');
    expect((await verifyBackup(openBackupStore(ref.location, worker), ref.manifestDigest)).ok).toBe(true);
    const mine = (await backupConfigMaps()).filter((c) => c.metadata!.name!.startsWith(crashed.head));
    expect(mine.map((c) => c.metadata!.name)).not.toContain(`${crashed.head}-o-0042`);
    expect(JSON.stringify(mine)).not.toContain('stale leftover');
  });

  it('tampering: verify names the piece, the drift check refuses the backup and a rerun refuses to overwrite it (non-retryable)', async () => {
    const ref = await runBackup(worker(), clusterPlan(), 'run-4');
    const head = new ClusterBackupStore(worker(), NS, 'run-4').head;
    // The orders namespace's labels, in whichever piece they are.
    const pieces = (await backupConfigMaps()).filter((c) => c.metadata!.name!.startsWith(`${head}-o-`));
    const piece = pieces.find((c) =>
      Object.values(c.data ?? {}).some((t) => t.includes('"kind": "Namespace"') && t.includes('"name": "orders"')),
    )!;
    const key = Object.keys(piece.data!).find(
      (k) => piece.data![k]!.includes('"name": "orders"') && piece.data![k]!.includes('"enabled"'),
    )!;
    piece.data![key] = piece.data![key]!.replace('"enabled"', '"disabled"');
    await admin.replaceNamespacedConfigMap({ namespace: NS, name: piece.metadata!.name!, body: piece });
    const v = await verifyBackup(openBackupStore(ref.location, worker), ref.manifestDigest);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toContain(`piece ${piece.metadata!.name}/${key} sha256`);
    const drift = await driftCheck(
      { kube: worker() },
      { plan: clusterPlan(), migrationId: 'run-4', namespace: 'orders', backup: ref },
    ).catch((e: unknown) => e);
    expect(drift).toMatchObject({ type: 'BackupUnusable', nonRetryable: true });
    await expect(runBackup(worker(), clusterPlan(), 'run-4')).rejects.toSatisfy(
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'BackupCorrupt' && e.nonRetryable === true,
    );
  });

  it('no backup namespace: a non-retryable failure saying how to create it; the worker creates nothing', async () => {
    const w = worker();
    const err = await runBackup(w, clusterPlan('not-created'), 'run-5').catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BackupStoreUnavailable', nonRetryable: true });
    expect((err as Error).message).toMatch(/kubectl create namespace not-created/);
    expect(w.requestCounts.create).toBeUndefined();
  });

  it('the decommission backup goes to the cluster too, and is readable by another worker', async () => {
    const res = await runDecommission(worker(), clusterPlan(), 'run-6');
    expect(res.backup.location).toBe(`cluster:${NS}/run-6-decommission`);
    const v = await verifyBackup(openBackupStore(res.backup.location, worker), res.backup.manifestDigest);
    expect(v, v.problems.join('\n')).toMatchObject({ ok: true, objects: res.deleted.length + (res.moved ?? []).length });
    expect((await backupConfigMaps()).some((c) => c.metadata?.labels?.['meshmove.dev/backup-purpose'] === 'decommission')).toBe(true);
    // A rerun (after a crash) reads the same list from the cluster and reports the same result.
    expect(await runDecommission(worker(), clusterPlan(), 'run-6')).toEqual(res);
  });
});

// Keep the type import used when the file is read alone.
export type { KubeAccess };
