// A backup in the cluster itself, so that any worker of the task queue can take, check and read
// it (a directory is only on the disk of the worker that wrote it). ConfigMaps, never Secrets, in
// one namespace the plan names (`backup.cluster.namespace`); the worker does not create it.
//
// One backup (id = the run id, or `<run id>-decommission`) is:
//   <base>-o-0000, -o-0001 ...  the objects' JSON texts, cut into pieces of at most CHUNK_BYTES and
//                               packed into ConfigMaps of at most CHUNK_BYTES (the apiserver
//                               refuses a ConfigMap over 1 MiB; etcd's request limit is 1.5 MiB)
//   <base>-m-0000 ...           the manifest's pieces, only when it is larger than one piece
//   <base>                      the head, written LAST: the manifest, or its pieces' names and
//                               digests. It exists = the backup is complete.
// The manifest is the same as a directory's, each entry also listing its pieces (ConfigMap, key,
// sha256). Every ConfigMap carries the labels below, so an unfinished attempt's leftovers are found
// and removed, and unexpected additions to a finished backup are reported.
import { isDns1123Label, isValidLabelValue } from '../../mesh/k8s-names.js';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeAccess } from '../kube/types.js';
import { isKubeFailure, KubeErrorType } from '../kube/errors.js';
import {
  checkBackupId,
  isBackupId,
  sha256,
  type BackupManifest,
  type BackupStore,
  type ChunkRef,
  type ManifestEntry,
  type StoredObject,
} from './store.js';
import { FailureType } from '../failures.js';

/** Well under the 1 MiB a ConfigMap may hold, with room for keys and metadata. */
export const CHUNK_BYTES = 512 * 1024;
export const CLUSTER_PREFIX = 'cluster:';

export const BackupLabel = {
  managedBy: 'app.kubernetes.io/managed-by',
  /** A digest of the backup id (label values are at most 63 characters). */
  backup: 'meshmove.dev/backup',
  // The label keeps its name: backups written before the rename are found by it.
  migrationId: 'meshmove.dev/run-id',
  purpose: 'meshmove.dev/backup-purpose',
  part: 'meshmove.dev/backup-part',
} as const;
export const BACKUP_ID_ANNOTATION = 'meshmove.dev/backup-id';

const HEAD_MANIFEST_KEY = 'manifest.json';
const HEAD_PARTS_KEY = 'manifest-parts.json';
const PART_KEY = 'manifest.json.part';

export const BackupStoreErrorType = { unavailable: FailureType.BackupStoreUnavailable, raced: FailureType.BackupWrittenMeanwhile } as const;

/** `cluster:<namespace>/<backup id>`, what a BackupRef and `meshmove status` show. */
export function clusterLocation(namespace: string, backupId: string): string {
  return `${CLUSTER_PREFIX}${namespace}/${backupId}`;
}

export function parseClusterLocation(location: string): { namespace: string; backupId: string } | undefined {
  if (!location.startsWith(CLUSTER_PREFIX)) return undefined;
  const [namespace, backupId, ...rest] = location.slice(CLUSTER_PREFIX.length).split('/');
  if (rest.length || !namespace || !isDns1123Label(namespace) || !backupId || !isBackupId(backupId))
    throw new Error(`"${location}" is not a cluster backup location: cluster:<namespace>/<run id>, e.g. cluster:meshmove-backups/my-run`);
  return { namespace, backupId };
}

/** The head ConfigMap's name: readable, and unique per id even when lower-casing or cutting would merge two. */
export function headName(backupId: string): string {
  const slug =
    checkBackupId(backupId)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 40)
      .replace(/^-+|-+$/g, '') || 'run';
  return `meshmove-backup-${slug}-${sha256(backupId).slice(0, 10)}`;
}

/** Cut a text into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = Math.min(start + maxBytes, buf.length);
    // 0b10xxxxxx is a continuation byte: cut before the character it belongs to.
    while (end < buf.length && end > start && (buf[end]! & 0xc0) === 0x80) end--;
    out.push(buf.subarray(start, end).toString('utf8'));
    start = end;
  }
  return out;
}

interface Packed {
  name: string;
  data: Record<string, string>;
  bytes: number;
}

/** Pack the objects' pieces into ConfigMaps of at most `chunkBytes` data bytes, in order, numbered from `first`. */
export function packObjects(
  base: string,
  objects: { text: string }[],
  chunkBytes = CHUNK_BYTES,
  first = 0,
): { configMaps: Packed[]; chunks: ChunkRef[][] } {
  const configMaps: Packed[] = [];
  const chunks: ChunkRef[][] = [];
  let current: Packed | undefined;
  objects.forEach((o, i) => {
    const refs: ChunkRef[] = [];
    splitUtf8(o.text, chunkBytes).forEach((piece, p) => {
      const size = Buffer.byteLength(piece, 'utf8');
      if (!current || current.bytes + size > chunkBytes) {
        current = { name: `${base}-o-${String(first + configMaps.length).padStart(4, '0')}`, data: {}, bytes: 0 };
        configMaps.push(current);
      }
      const key = `o${String(i).padStart(6, '0')}.${p}`;
      current.data[key] = piece;
      current.bytes += size;
      refs.push({ configMap: current.name, key, sha256: sha256(piece) });
    });
    chunks.push(refs);
  });
  return { configMaps, chunks };
}

function unavailable(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: BackupStoreErrorType.unavailable, nonRetryable: true, message });
}

/** ConfigMaps of one backup in `namespace`. */
export class ClusterBackupStore implements BackupStore {
  readonly location: string;
  readonly identity: string;
  readonly head: string;
  /** The `meshmove.dev/backup` label value every ConfigMap of this backup carries. */
  private readonly label: string;
  private readonly cache = new Map<string, Promise<V1ConfigMap | undefined>>();
  /** The manifest pieces the head names (read with the manifest), to tell leftovers from parts. */
  private manifestParts = new Set<string>();
  /** Object ConfigMaps written by this attempt so far: a batch's are numbered after the previous batch's. */
  private objectConfigMaps = 0;

  constructor(
    private readonly kube: KubeAccess,
    readonly namespace: string,
    readonly backupId: string,
    private readonly meta: { migrationId?: string; purpose?: string } = {},
    private readonly chunkBytes = CHUNK_BYTES,
  ) {
    this.location = clusterLocation(namespace, backupId);
    this.identity = `${kube.server} ${this.location}`;
    this.head = headName(backupId);
    this.label = sha256(backupId).slice(0, 40);
  }

  private configMap(name: string, part: string, data: Record<string, string>): V1ConfigMap {
    const { migrationId, purpose } = this.meta;
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: this.namespace,
        labels: {
          [BackupLabel.managedBy]: 'meshmove',
          [BackupLabel.backup]: this.label,
          [BackupLabel.part]: part,
          ...(migrationId && isValidLabelValue(migrationId) ? { [BackupLabel.migrationId]: migrationId } : {}),
          ...(purpose && isValidLabelValue(purpose) ? { [BackupLabel.purpose]: purpose } : {}),
        },
        annotations: { [BACKUP_ID_ANNOTATION]: this.backupId },
      },
      data,
    };
  }

  private noNamespace(): string {
    return `the backup namespace "${this.namespace}" does not exist in ${this.kube.contextName}: create it (kubectl create namespace ${this.namespace}) and apply the meshmove-worker-backups Role and RoleBinding of deploy/rbac.yaml in it; the worker does not create namespaces`;
  }

  /** A missing namespace or permission is for the operator to fix: say how, and do not retry. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isKubeFailure(err) && (err.type === KubeErrorType.forbidden || err.type === KubeErrorType.notFound)) {
        const ns = await this.kube.getNamespace(this.namespace).catch(() => 'unknown' as const);
        if (ns === undefined) throw unavailable(this.noNamespace());
        if (err.type === KubeErrorType.forbidden)
          throw unavailable(
            `${what} in ${this.namespace}: ${err.message}; apply the meshmove-worker-backups Role and RoleBinding of deploy/rbac.yaml in "${this.namespace}"`,
          );
      }
      throw err;
    }
  }

  private get(name: string): Promise<V1ConfigMap | undefined> {
    let p = this.cache.get(name);
    if (!p) {
      p = this.guard(`reading backup ConfigMap ${name}`, () => this.kube.getConfigMap(this.namespace, name));
      this.cache.set(name, p);
      p.catch(() => this.cache.delete(name));
    }
    return p;
  }

  async readManifestText(): Promise<string | undefined> {
    this.cache.clear();
    this.manifestParts = new Set();
    const head = await this.get(this.head);
    if (!head) return undefined;
    const whole = head.data?.[HEAD_MANIFEST_KEY];
    if (whole !== undefined) return whole;
    const partsText = head.data?.[HEAD_PARTS_KEY];
    if (partsText === undefined)
      throw new Error(`ConfigMap ${this.namespace}/${this.head} has neither ${HEAD_MANIFEST_KEY} nor ${HEAD_PARTS_KEY}`);
    const parts = JSON.parse(partsText) as { configMap: string; sha256: string }[];
    this.manifestParts = new Set(parts.map((p) => p.configMap));
    const pieces: string[] = [];
    for (const p of parts) {
      const piece = (await this.get(p.configMap))?.data?.[PART_KEY];
      if (piece === undefined) throw new Error(`manifest piece ${this.namespace}/${p.configMap} is missing`);
      if (sha256(piece) !== p.sha256)
        throw new Error(`manifest piece ${this.namespace}/${p.configMap} does not match its digest in ${this.head}`);
      pieces.push(piece);
    }
    return pieces.join('');
  }

  private async listMine(): Promise<V1ConfigMap[]> {
    return this.guard('listing backup ConfigMaps', () =>
      this.kube.listConfigMaps(this.namespace, { labelSelector: `${BackupLabel.backup}=${this.label}` }),
    );
  }

  async clearPartial(): Promise<void> {
    // Checked first: the operator's fix, before anything else is tried.
    if (!(await this.kube.getNamespace(this.namespace))) throw unavailable(this.noNamespace());
    for (const cm of await this.listMine()) {
      const name = cm.metadata?.name;
      // The head is never a leftover: clearPartial is only called when there is none.
      if (name && name !== this.head) await this.guard(`deleting ${name}`, () => this.kube.deleteConfigMap(this.namespace, name));
    }
    this.cache.clear();
    this.objectConfigMaps = 0;
  }

  /** Create, or overwrite an object of that name (left by an attempt this one replaces). */
  private async put(cm: V1ConfigMap): Promise<void> {
    const name = cm.metadata!.name!;
    const { created } = await this.guard(`writing ${name}`, () => this.kube.createConfigMap(this.namespace, cm));
    if (!created) await this.guard(`writing ${name}`, () => this.kube.replaceConfigMap(this.namespace, name, cm));
  }

  async writeObjects(objects: { file: string; text: string }[]): Promise<ChunkRef[][]> {
    const { configMaps, chunks } = packObjects(this.head, objects, this.chunkBytes, this.objectConfigMaps);
    for (const p of configMaps) await this.put(this.configMap(p.name, 'objects', p.data));
    this.objectConfigMaps += configMaps.length;
    return chunks;
  }

  async writeManifest(text: string): Promise<void> {
    const pieces = splitUtf8(text, this.chunkBytes);
    // Small (nearly always): the head holds it. Large: the head holds the pieces' names and digests.
    const parts =
      pieces.length === 1 ? [] : pieces.map((piece, i) => ({ configMap: `${this.head}-m-${String(i).padStart(4, '0')}`, piece }));
    for (const p of parts) await this.put(this.configMap(p.configMap, 'manifest-part', { [PART_KEY]: p.piece }));
    const head = this.configMap(
      this.head,
      'manifest',
      parts.length === 0
        ? { [HEAD_MANIFEST_KEY]: text }
        : { [HEAD_PARTS_KEY]: JSON.stringify(parts.map((p) => ({ configMap: p.configMap, sha256: sha256(p.piece) }))) },
    );
    const { created } = await this.guard(`writing ${this.head}`, () => this.kube.createConfigMap(this.namespace, head));
    // Never overwrite a head: another attempt finished meanwhile. The retry verifies and reuses it.
    if (!created)
      throw ApplicationFailure.create({
        type: BackupStoreErrorType.raced,
        nonRetryable: false,
        message: `${this.location} was completed by another attempt meanwhile; the retry checks it`,
      });
    this.cache.clear();
  }

  async readObjects(entries: ManifestEntry[]): Promise<Map<string, StoredObject>> {
    const out = new Map<string, StoredObject>();
    for (const e of entries) {
      const problems: string[] = [];
      const pieces: string[] = [];
      if (!e.chunks) problems.push(`${e.file}: the manifest lists no ConfigMap pieces for it`);
      for (const c of e.chunks ?? []) {
        const cm = await this.get(c.configMap);
        const piece = cm?.data?.[c.key];
        if (piece === undefined) {
          problems.push(`${e.file}: piece ${c.configMap}/${c.key} missing`);
          continue;
        }
        const got = sha256(piece);
        if (got !== c.sha256) problems.push(`${e.file}: piece ${c.configMap}/${c.key} sha256 ${got}, manifest says ${c.sha256}`);
        pieces.push(piece);
      }
      out.set(
        e.file,
        problems.length > 0 && pieces.length < (e.chunks?.length ?? 1)
          ? { problems }
          : { data: Buffer.from(pieces.join(''), 'utf8'), problems },
      );
    }
    return out;
  }

  async unlisted(manifest: BackupManifest): Promise<string[]> {
    const keys = new Map<string, Set<string>>();
    for (const e of manifest.objects)
      for (const c of e.chunks ?? []) (keys.get(c.configMap) ?? keys.set(c.configMap, new Set()).get(c.configMap)!).add(c.key);
    const out: string[] = [];
    for (const cm of await this.listMine()) {
      const name = cm.metadata?.name ?? '';
      if (name === this.head || this.manifestParts.has(name)) continue;
      const listed = keys.get(name);
      if (!listed) {
        out.push(`ConfigMap ${name}: not in the manifest`);
        continue;
      }
      for (const k of Object.keys(cm.data ?? {})) if (!listed.has(k)) out.push(`${name}/${k}: not in the manifest`);
      for (const k of Object.keys(cm.binaryData ?? {})) out.push(`${name}/${k} (binaryData): not in the manifest`);
    }
    return out;
  }
}
