// Backups kept in the cluster, against the lab's REAL kube-apiserver (v1.37, etcd), as the worker's
// ServiceAccount bound by exactly deploy/rbac.yaml (applied with kubectl, its backup namespace
// included). The real apiserver enforces what the twin does not: a ConfigMap holds at most 1 MiB.
// A backup of more than 1 MiB (two ~900 KB mesh configs), and one object larger than 1 MiB on its
// own, are cut into pieces under the limit, verify from another client, and read back identical.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { applyNamespaces, FIELD_REPORT_NAMESPACES, writeWorkerKubeconfig, type Lab } from '../../lab/index.js';
import { labBinaries } from '../../lab/binaries.js';
import { startKubeControlPlane, type KubeControlPlane } from '../../lab/kube.js';
import {
  ClusterBackupStore,
  CHUNK_BYTES,
  openBackupStore,
  readBackupObjects,
  runBackup,
  verifyBackup,
  writeBackup,
} from '../../activities/backup/index.js';
import { createKubeAccess, type ClientKubeAccess } from '../../activities/kube/index.js';
import { driftCheck } from '../../activities/namespace/index.js';
import { fieldReportPlan } from '../activities/preflight-twin-fixture.js';

const RBAC = fileURLToPath(new URL('../../deploy/rbac.yaml', import.meta.url));
const NS = 'meshmove-backups';
const MIB = 1024 * 1024;

let kube: KubeControlPlane;
let dir: string;
let workerKubeconfig: string;
const worker = () => createKubeAccess({ kubeconfig: workerKubeconfig, context: 'lab' }) as ClientKubeAccess;
const plan = fieldReportPlan((p) => {
  p.cluster.context = 'lab';
  p.backup = { cluster: { namespace: NS } };
});

/** ~900 KB of mesh config: under the limit alone, two of them are not. */
const bigMeshConfig = (namespace: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { mesh: `defaultConfig:\n  discoveryAddress: istiod.${namespace}.svc:15012\n# ${'x'.repeat(900_000)}\n` },
});

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshmove-lab-backup-'));
  kube = await startKubeControlPlane({ dir, bin: await labBinaries((l) => process.stderr.write(`${l}\n`)), portForwards: [] });
  await applyNamespaces(kube, FIELD_REPORT_NAMESPACES);
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-1-16-5' } },
    bigMeshConfig('istio-system', 'istio'),
    bigMeshConfig('istio-1-16-5', 'istio-istio-1-16-5'),
  ];
  await kube.kubectl(['apply', '--server-side', '-f', '-'], docs.map((d) => `---\n${stringify(d)}`).join('\n'));
  workerKubeconfig = path.join(dir, 'worker.kubeconfig');
  // kubectl apply of the whole file: the backup namespace and its Role come with it.
  await writeWorkerKubeconfig({ kube } as Lab, readFileSync(RBAC, 'utf8'), workerKubeconfig);
}, 600_000);

afterAll(async () => {
  for (const p of [...(kube?.processes ?? [])].reverse()) await p.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('backup in the cluster, on the real kube-apiserver', () => {
  it('the apiserver refuses one ConfigMap over 1 MiB (what the pieces avoid)', async () => {
    const err = await worker()
      .createConfigMap(NS, { metadata: { name: 'too-big' }, data: { x: 'y'.repeat(MIB + 10) } })
      .catch((e: unknown) => e);
    expect(err, 'a 1 MiB + 10 B ConfigMap was accepted').toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/at most 1048576 bytes|Too long|too large/i);
  });

  it('a backup of more than 1 MiB is cut into ConfigMaps under the limit; another client verifies it and the drift check reads it', async () => {
    const a = worker();
    const ref = await runBackup(a, plan, 'lab-run-1');
    expect(ref.location).toBe(`cluster:${NS}/lab-run-1`);
    const b = worker();
    const store = openBackupStore(ref.location, () => b);
    const v = await verifyBackup(store, ref.manifestDigest);
    expect(v, v.problems.join('\n')).toMatchObject({ ok: true, objects: ref.objects });
    const objects = await readBackupObjects(store, undefined, ref.manifestDigest);
    const total = objects.reduce((n, o) => n + Buffer.byteLength(`${JSON.stringify(o.object, null, 2)}\n`), 0);
    expect(total).toBeGreaterThan(MIB);
    expect(
      objects
        .filter((o) => o.entry.kind === 'ConfigMap')
        .map((o) => `${o.entry.namespace}/${o.entry.name}`)
        .sort(),
    ).toEqual(['istio-1-16-5/istio-istio-1-16-5', 'istio-system/istio']);
    const cms = await b.listConfigMaps(NS, { labelSelector: 'meshmove.dev/run-id=lab-run-1' });
    const sizes = cms.map((c) => Object.values(c.data ?? {}).reduce((n, s) => n + Buffer.byteLength(s), 0));
    expect(cms.length).toBeGreaterThanOrEqual(3); // ≥2 of pieces + the head
    for (const s of sizes) expect(s).toBeLessThanOrEqual(CHUNK_BYTES);
    console.log(
      `[lab] backup of ${ref.objects} objects, ${(total / MIB).toFixed(2)} MiB, in ${cms.length} ConfigMaps of ${sizes.map((s) => `${Math.round(s / 1024)} KiB`).join(', ')}`,
    );
    expect(await driftCheck({ kube: b }, { plan, migrationId: 'lab-run-1', namespace: 'orders', backup: ref })).toEqual({
      drifted: false,
      details: [],
    });
    // A rerun reuses it: nothing created.
    const c = worker();
    expect(await runBackup(c, plan, 'lab-run-1')).toEqual(ref);
    expect(c.requestCounts.create).toBeUndefined();
  });

  it('one object larger than a ConfigMap may be spans several pieces and reads back identical', async () => {
    const huge = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'huge.example.istio.io' },
      spec: { text: 'é€'.repeat(300_000) },
    };
    const store = new ClusterBackupStore(worker(), NS, 'lab-run-2');
    const ref = await writeBackup({ store, migrationId: 'lab-run-2', purpose: 'test', plan: 'p', context: 'lab', objects: [huge] });
    const other = openBackupStore(ref.location, worker);
    expect((await verifyBackup(other, ref.manifestDigest)).ok).toBe(true);
    const [back] = await readBackupObjects(other, undefined, ref.manifestDigest);
    expect(back!.entry.chunks!.length).toBeGreaterThanOrEqual(3);
    expect(back!.object).toEqual(huge);
  });
});
