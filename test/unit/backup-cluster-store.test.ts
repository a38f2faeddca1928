// The cluster backup store's pieces, with an in-memory ConfigMap API (the real apiserver and the
// twin are in test/activities/backup-cluster-twin.test.ts and test/lab/backup-cluster.test.ts):
// cutting texts into pieces (never inside a character), packing them into ConfigMaps under the
// size limit, the manifest written last (and itself cut when large), tampering and an unfinished
// backup, the plan's `backup` key, and the Role deploy/rbac.yaml gives the worker for it.
import { readFileSync } from 'node:fs';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { backupOnce, existingBackup, openBackupStore } from '../../activities/backup/index.js';
import { ClusterBackupStore, headName, packObjects, parseClusterLocation, splitUtf8 } from '../../activities/backup/cluster-store.js';
import { readBackupObjects, readManifest, verifyBackup, DirectoryBackupStore } from '../../activities/backup/store.js';
import { partialKubeAccess, type KubeAccess, type KubeObject } from '../../activities/kube/index.js';
import { kubeFailure, KubeErrorType } from '../../activities/kube/errors.js';
import { parsePlanText, PlanError } from '../../plan/load.js';
import { RbacPolicy, serviceAccountUser } from '../../twin/apiserver/rbac.js';

/** ConfigMaps in memory, in the namespaces given; writes counted. */
function memoryKube(namespaces = ['meshmove-backups']) {
  const store = new Map<string, V1ConfigMap>();
  const writes: string[] = [];
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const noNs = (ns: string) =>
    kubeFailure({ type: KubeErrorType.notFound, retryable: false, status: 404, message: `namespaces "${ns}" not found` });
  const kube: KubeAccess = partialKubeAccess(
    {
      getNamespace: (name) => Promise.resolve(namespaces.includes(name) ? { metadata: { name } } : undefined),
      getConfigMap: (ns, name) => Promise.resolve(structuredClone(store.get(key(ns, name)))),
      listConfigMaps: (ns, opts) => {
        const [k, v] = (opts?.labelSelector ?? '').split('=');
        return Promise.resolve(
          [...store.entries()]
            .filter(([id, cm]) => id.startsWith(`${ns}/`) && (!k || cm.metadata?.labels?.[k] === v))
            .map(([, cm]) => structuredClone(cm)),
        );
      },
      createConfigMap: (ns, cm) => {
        if (!namespaces.includes(ns)) return Promise.reject(noNs(ns));
        writes.push(`create ${cm.metadata!.name}`);
        const existing = store.get(key(ns, cm.metadata!.name!));
        if (existing) return Promise.resolve({ configMap: existing, created: false });
        store.set(key(ns, cm.metadata!.name!), structuredClone(cm));
        return Promise.resolve({ configMap: cm, created: true });
      },
      replaceConfigMap: (ns, name, cm) => {
        writes.push(`update ${name}`);
        store.set(key(ns, name), structuredClone(cm));
        return Promise.resolve(cm);
      },
      deleteConfigMap: (ns, name) => {
        writes.push(`delete ${name}`);
        return Promise.resolve(store.delete(key(ns, name)) ? 'deleted' : 'absent');
      },
    },
    'memory',
  );
  return { kube, store, writes };
}

const meta = { migrationId: 'run-1', purpose: 'before-migration', plan: 'p', context: 'memory' };
const obj = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'orders', labels: { app: name } },
  data: { v: name },
  ...extra,
});

describe('splitUtf8 and packObjects', () => {
  it('cuts at the byte limit but never inside a character; the pieces join back to the text', () => {
    const text = `${'a'.repeat(9)}é€😀${'b'.repeat(20)}`; // é 2 bytes, € 3, 😀 4
    for (const max of [4, 5, 10, 11, 12, 13, 64]) {
      const pieces = splitUtf8(text, max);
      expect(pieces.join(''), `max ${max}`).toBe(text);
      for (const p of pieces) expect(Buffer.byteLength(p, 'utf8'), `max ${max}: "${p}"`).toBeLessThanOrEqual(max);
      expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
    }
    expect(splitUtf8('short', 100)).toEqual(['short']);
  });

  it('packs pieces in order into ConfigMaps of at most the chunk size; a large object spans several', () => {
    const texts = [{ text: 'x'.repeat(300) }, { text: 'y'.repeat(50) }, { text: 'z'.repeat(1000) }];
    const { configMaps, chunks } = packObjects('b', texts, 256);
    for (const cm of configMaps) expect(Object.values(cm.data).reduce((n, v) => n + Buffer.byteLength(v), 0)).toBeLessThanOrEqual(256);
    expect(chunks.map((c) => c.length)).toEqual([2, 1, 4]);
    chunks.forEach((refs, i) =>
      expect(refs.map((r) => configMaps.find((c) => c.name === r.configMap)!.data[r.key]).join('')).toBe(texts[i]!.text),
    );
    expect(configMaps.map((c) => c.name)).toEqual(configMaps.map((_, i) => `b-o-${String(i).padStart(4, '0')}`));
  });

  it('names: valid ConfigMap names, distinct for ids that differ only in case; locations round-trip', () => {
    const a = headName('Run_A.1');
    const b = headName('run_a.1');
    expect(a).not.toBe(b);
    for (const n of [a, b, headName('x'.repeat(200))]) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(parseClusterLocation('cluster:meshmove-backups/run-1')).toEqual({ namespace: 'meshmove-backups', backupId: 'run-1' });
    expect(parseClusterLocation('/tmp/backups/run-1')).toBeUndefined();
    expect(() => parseClusterLocation('cluster:Bad_NS/run')).toThrow(/cluster:<namespace>\/<run id>/);
    expect(openBackupStore('/tmp/x')).toBeInstanceOf(DirectoryBackupStore);
    expect(() => openBackupStore('cluster:ns/run')).toThrow(/needs access to that cluster/);
  });
});

describe('ClusterBackupStore (in memory)', () => {
  it('writes pieces first and the manifest head last; verifies; reads objects back identical; a rerun reuses it', async () => {
    const { kube, store, writes } = memoryKube();
    const s = new ClusterBackupStore(kube, 'meshmove-backups', 'run-1', { migrationId: 'run-1', purpose: 'before-migration' }, 200);
    const objects = [
      obj('a'),
      obj('big', { data: { v: 'é'.repeat(500) } }),
      obj('c'),
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'orders' } },
    ];
    const { ref, reused } = await backupOnce(s, meta, () => Promise.resolve(objects));
    expect(reused).toBe(false);
    expect(ref).toMatchObject({ location: 'cluster:meshmove-backups/run-1', objects: 3 });
    expect(writes.at(-1)).toBe(`create ${s.head}`);
    expect(writes.filter((w) => w.startsWith('create')).length).toBeGreaterThan(3);
    for (const cm of store.values()) {
      // Pieces are at most the chunk size; the head here holds only the list of the manifest's pieces.
      if (cm.metadata?.name !== s.head)
        expect(Object.values(cm.data ?? {}).reduce((n, v) => n + Buffer.byteLength(v), 0)).toBeLessThanOrEqual(200);
      expect(cm.metadata?.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'meshmove',
        'meshmove.dev/run-id': 'run-1',
        'meshmove.dev/backup-purpose': 'before-migration',
      });
    }
    // The manifest is larger than a piece here: cut too, its parts named by the head with digests.
    expect(store.get(`meshmove-backups/${s.head}`)?.data?.['manifest-parts.json']).toBeDefined();
    const v = await verifyBackup(s, ref.manifestDigest);
    expect(v, v.problems.join('\n')).toMatchObject({ ok: true, objects: 3 });
    const back = await readBackupObjects(s, undefined, ref.manifestDigest);
    expect(back.map((b) => b.object)).toEqual([obj('a'), obj('big', { data: { v: 'é'.repeat(500) } }), obj('c')]);
    const entries = (await readManifest(s))!.manifest.objects;
    expect(entries.every((e) => e.chunks && e.chunks.length > 0)).toBe(true);

    writes.length = 0;
    const again = await backupOnce(s, meta, () => Promise.reject(new Error('must not collect again')));
    expect(again).toEqual({ ref, reused: true });
    expect(writes).toEqual([]);
  });

  it('the same objects give the same object digests as a directory backup (one manifest format)', async () => {
    const { kube } = memoryKube();
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const objects = [obj('a'), obj('b')];
    const c = await backupOnce(
      new ClusterBackupStore(kube, 'meshmove-backups', 'run-1'),
      meta,
      () => Promise.resolve(objects),
      () => new Date(0),
    );
    const d = await backupOnce(
      new DirectoryBackupStore(join(mkdtempSync(join(tmpdir(), 'mm-unit-')), 'run-1')),
      meta,
      () => Promise.resolve(objects),
      () => new Date(0),
    );
    const strip = (m: Awaited<ReturnType<typeof readManifest>>) => m!.manifest.objects.map(({ chunks: _c, ...e }) => e);
    expect(strip(await readManifest(openBackupStore(c.ref.location, () => kube)))).toEqual(strip(await readManifest(d.ref.location)));
  });

  it('an unfinished backup (pieces, no head) is rewritten from scratch: the leftovers go', async () => {
    const { kube, store } = memoryKube();
    const s = new ClusterBackupStore(kube, 'meshmove-backups', 'run-2', {}, 200);
    // A crashed attempt: its pieces (more of them than the retry needs), no head.
    await s.writeObjects([{ file: 'x', text: 'stale'.repeat(200) }]);
    const leftovers = [...store.keys()];
    expect(leftovers.length).toBeGreaterThan(1);
    expect(await existingBackup(s)).toBeUndefined();
    const { ref } = await backupOnce(s, meta, () => Promise.resolve([obj('a')]));
    expect((await verifyBackup(s, ref.manifestDigest)).ok).toBe(true);
    expect(JSON.stringify([...store.values()])).not.toContain('stalestale');
  });

  it('tampering: a changed piece, a removed piece, an added key or ConfigMap are each reported; a rerun refuses (non-retryable)', async () => {
    const { kube, store } = memoryKube();
    const s = new ClusterBackupStore(kube, 'meshmove-backups', 'run-3', {}, 200);
    const { ref } = await backupOnce(s, meta, () => Promise.resolve([obj('a'), obj('b'), obj('c')]));
    const pieces = [...store.entries()].filter(([k]) => k.includes('-o-'));
    const [, first] = pieces[0]!;
    const k0 = Object.keys(first.data!)[0]!;
    first.data![k0] = first.data![k0]!.replace('"a"', '"A"');
    first.data!.extra = '{}';
    const [secondName, second] = pieces[1]!;
    const k1 = Object.keys(second.data!)[0]!;
    delete second.data![k1];
    store.set(`meshmove-backups/${s.head}-o-9999`, {
      metadata: { name: `${s.head}-o-9999`, labels: { ...first.metadata!.labels } },
      data: {},
    });
    const v = await verifyBackup(s, ref.manifestDigest);
    expect(v.ok).toBe(false);
    const text = v.problems.join('\n');
    expect(text).toMatch(new RegExp(`piece ${first.metadata!.name}/${k0.replace('.', '\\.')} sha256 [0-9a-f]{64}, manifest says`));
    expect(text).toContain(`piece ${secondName.split('/')[1]}/${k1} missing`);
    expect(text).toContain(`${first.metadata!.name}/extra: not in the manifest`);
    expect(text).toContain(`ConfigMap ${s.head}-o-9999: not in the manifest`);
    await expect(readBackupObjects(s, undefined, ref.manifestDigest)).rejects.toThrow(
      /does not match its manifest digest|missing from the backup/,
    );
    await expect(existingBackup(s)).rejects.toSatisfy(
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'BackupCorrupt' && e.nonRetryable === true,
    );
    // A changed manifest: the digest the workflow recorded no longer matches.
    const [, part] = [...store.entries()].find(([k]) => k.includes('-m-'))!;
    part.data!['manifest.json.part'] = part.data!['manifest.json.part']!.replace('"p"', '"q"');
    expect((await verifyBackup(s, ref.manifestDigest)).problems.join('\n')).toMatch(/manifest.*changed|manifest piece/);
  });

  it('reads with the recorded digest (drift checks) read a large manifest once per process; pieces are still checked every time', async () => {
    const { kube, store } = memoryKube();
    const gets: string[] = [];
    const counting = partialKubeAccess({ ...kube, getConfigMap: (ns, name) => (gets.push(name), kube.getConfigMap(ns, name)) });
    const s = () => new ClusterBackupStore(counting, 'meshmove-backups', 'run-6', {}, 200);
    const { ref } = await backupOnce(s(), meta, () => Promise.resolve([obj('a'), obj('b')]));
    const head = s().head;
    gets.length = 0;
    await readBackupObjects(s(), (e) => e.name === 'a', ref.manifestDigest);
    const first = gets.length;
    expect(gets).toContain(head);
    gets.length = 0;
    await readBackupObjects(s(), (e) => e.name === 'a', ref.manifestDigest);
    expect(gets).not.toContain(head);
    expect(gets.length).toBeLessThan(first);
    // verify reads everything again, and a changed piece is found by a cached read too.
    gets.length = 0;
    expect((await verifyBackup(s(), ref.manifestDigest)).ok).toBe(true);
    expect(gets).toContain(head);
    const [, piece] = [...store.entries()].find(
      ([k, cm]) => k.includes('-o-') && Object.values(cm.data ?? {}).some((t) => t.includes('"a"')),
    )!;
    const key = Object.keys(piece.data!).find((k) => piece.data![k]!.includes('"a"'))!;
    piece.data![key] = piece.data![key]!.replace('"a"', '"A"');
    await expect(readBackupObjects(s(), (e) => e.name === 'a', ref.manifestDigest)).rejects.toThrow(/does not match its manifest digest/);
  });

  it("a backup written batch by batch as it is listed: the batches' ConfigMaps are numbered on (none overwritten), the manifest lists each object once, sorted", async () => {
    const { kube, store, writes } = memoryKube();
    const s = new ClusterBackupStore(kube, 'meshmove-backups', 'run-7', {}, 200);
    async function* batches(): AsyncGenerator<KubeObject[]> {
      yield [obj('c'), obj('a')];
      yield [];
      // A later duplicate of an object already written is left out, as with one list.
      yield [obj('b'), obj('a', { data: { v: 'later' } })];
    }
    const { ref } = await backupOnce(s, meta, () => batches());
    expect(writes.filter((w) => !w.startsWith('create'))).toEqual([]);
    const names = [...store.values()].map((cm) => cm.metadata!.name!).filter((n) => n.includes('-o-'));
    expect(names.length).toBeGreaterThan(2);
    expect(new Set(names).size).toBe(names.length);
    const v = await verifyBackup(s, ref.manifestDigest);
    expect(v, v.problems.join('\n')).toMatchObject({ ok: true, objects: 3 });
    expect((await readManifest(s))!.manifest.objects.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect((await readBackupObjects(s, undefined, ref.manifestDigest)).map((b) => b.object)).toEqual([obj('a'), obj('b'), obj('c')]);
  });

  it('a directory backup too: a manifest read with the recorded digest is read once per process (parsed, frozen); without it, or with another digest, it is read again', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    class Counting extends DirectoryBackupStore {
      reads = 0;
      override readManifestText() {
        this.reads++;
        return super.readManifestText();
      }
    }
    const dir = join(mkdtempSync(join(tmpdir(), 'mm-unit-')), 'run-8');
    const { ref } = await backupOnce(dir, meta, () => Promise.resolve([obj('a'), obj('b')]));
    const s = new Counting(dir);
    expect((await readBackupObjects(s, (e) => e.name === 'a', ref.manifestDigest)).map((b) => b.object)).toEqual([obj('a')]);
    expect((await readBackupObjects(new Counting(dir), (e) => e.name === 'b', ref.manifestDigest)).length).toBe(1);
    expect(s.reads).toBe(1);
    const again = new Counting(dir);
    const cached = (await readManifest(again, ref.manifestDigest))!;
    expect(again.reads).toBe(0);
    expect(Object.isFrozen(cached.manifest.objects[0])).toBe(true);
    await readManifest(again);
    await expect(readBackupObjects(again, undefined, 'another digest')).rejects.toThrow(/changed since the backup/);
    expect(again.reads).toBe(2);
  });

  it('a missing namespace: a non-retryable failure that says how to create it; nothing written', async () => {
    const { kube, writes } = memoryKube([]);
    const s = new ClusterBackupStore(kube, 'meshmove-backups', 'run-4');
    const err = await backupOnce(s, meta, () => Promise.resolve([obj('a')])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'BackupStoreUnavailable', nonRetryable: true });
    expect((err as Error).message).toMatch(/kubectl create namespace meshmove-backups/);
    expect(writes).toEqual([]);
  });

  it('a cluster that does not answer is not a verdict on the backup: the kube failure (retryable) propagates', async () => {
    const unavailable = kubeFailure({ type: KubeErrorType.serverError, retryable: true, status: 503, message: 'apiserver 503' });
    const kube = partialKubeAccess({
      getConfigMap: () => Promise.reject(unavailable),
      getNamespace: () => Promise.resolve({ metadata: { name: 'meshmove-backups' } }),
    });
    const s = new ClusterBackupStore(kube, 'meshmove-backups', 'run-5');
    await expect(existingBackup(s)).rejects.toBe(unavailable);
  });
});

describe('plan: backup', () => {
  const plan = readFileSync('examples/plans/field-report.yaml', 'utf8');
  const withBackup = (b: string) => plan.replace(/^backup:[\s\S]*?(?=^\S|$(?![\s\S]))/m, `backup:\n${b}\n`);
  const problems = (text: string) => {
    try {
      parsePlanText(text, 'examples/plans/field-report.yaml');
      return [];
    } catch (err) {
      if (err instanceof PlanError) return err.problems.map((p) => `${p.path}: ${p.message}`);
      throw err;
    }
  };
  it('a directory or a cluster namespace; neither, both or a bad namespace name are refused naming the field and the fix', () => {
    expect(parsePlanText(withBackup('  cluster: { namespace: meshmove-backups }'), 'examples/plans/field-report.yaml').backup).toEqual({
      cluster: { namespace: 'meshmove-backups' },
    });
    expect(parsePlanText(withBackup('  location: ./b'), 'examples/plans/field-report.yaml').backup).toEqual({ location: './b' });
    expect(problems(withBackup('  {}'))).toEqual([expect.stringMatching(/^backup: where backups go: location .* or cluster\.namespace/)]);
    expect(problems(withBackup('  location: ./b\n  cluster: { namespace: x }'))).toEqual([
      expect.stringMatching(/^backup\.cluster: backups go to one place: remove either location .* or cluster/),
    ]);
    expect(problems(withBackup('  cluster: { namespace: Bad_Name }'))).toEqual([
      expect.stringMatching(/^backup\.cluster\.namespace: a namespace name/),
    ]);
    expect(problems(withBackup('  cluster: {}'))).toEqual([expect.stringMatching(/^backup\.cluster\.namespace: required/)]);
  });
});

describe('deploy/rbac.yaml: the backup Role', () => {
  const policy = RbacPolicy.fromYaml(readFileSync('deploy/rbac.yaml', 'utf8'));
  const worker = serviceAccountUser('meshmove', 'meshmove-worker');
  const cm = (verb: string, namespace: string) => policy.allows(worker, { verb, group: '', resource: 'configmaps', namespace, name: 'x' });
  it('ConfigMap writes in meshmove-backups only; no Secrets there; no namespace creation', () => {
    for (const verb of ['get', 'list', 'create', 'update', 'delete']) expect(cm(verb, 'meshmove-backups'), verb).toBe(true);
    for (const verb of ['create', 'update', 'delete']) expect(cm(verb, 'orders'), `${verb} elsewhere`).toBe(false);
    expect(policy.allows(worker, { verb: 'get', group: '', resource: 'secrets', namespace: 'meshmove-backups', name: 'x' })).toBe(false);
    expect(policy.allows(worker, { verb: 'create', group: '', resource: 'namespaces' })).toBe(false);
  });
});
