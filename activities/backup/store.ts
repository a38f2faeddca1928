// A backup: one JSON text per object and a manifest holding each one's sha256, written last, so
// "the manifest exists" means "the backup is complete". The workflow only keeps the location and
// the manifest's digest; `verifyBackup` re-hashes everything.
//
// Where the bytes live is a `BackupStore`: a directory on the worker's disk (one machine), or
// ConfigMaps in the cluster itself (cluster-store.ts), which any worker of the task queue can
// read. The manifest format, the digests and the checks are the same for both.
//
// Directory layout of <location>/<migrationId>/:
//   manifest.json
//   objects/<group>.<Kind>/<namespace or _cluster>/<name>.json
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef } from '../contract.js';
import type { KubeObject } from '../kube/types.js';

export const MANIFEST_FILE = 'manifest.json';
export const BACKUP_FORMAT = 'meshmove-backup/v1';

/** Where one piece of an object's text is in a cluster store: a ConfigMap's data key. */
export interface ChunkRef {
  configMap: string;
  key: string;
  /** sha256 of the piece's UTF-8 bytes. */
  sha256: string;
}

export interface ManifestEntry {
  /** The object's path in a directory store; its stable id in any store. */
  file: string;
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** sha256 of the object's whole JSON text. */
  sha256: string;
  /** Cluster store only: the pieces, in order, whose concatenation is the text. */
  chunks?: ChunkRef[];
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  /** The migration's workflow id. The field keeps its first name: manifests already written read the same. */
  runId: string;
  /** What was backed up, e.g. `before-migration` or `decommission`. */
  purpose: string;
  plan: string;
  context: string;
  createdAt: string;
  objects: ManifestEntry[];
}

/** What a store found for one manifest entry: the bytes, or why there are none (or why they cannot be trusted). */
export interface StoredObject {
  data?: Buffer;
  problems: string[];
}

/**
 * Where one backup's bytes live. Every method is idempotent; `writeManifest` is called last and
 * only after `writeObjects` succeeded.
 */
export interface BackupStore {
  /** For people and `BackupRef.location`: a directory, or `cluster:<namespace>/<backup id>`. */
  readonly location: string;
  /** Where the bytes are, unique in this process (a location names no cluster): what manifests read before are kept by. */
  readonly identity: string;
  /** The manifest's exact text; undefined when there is none (no backup, or an unfinished one). */
  readManifestText(): Promise<string | undefined>;
  /** Remove what an unfinished attempt left; only called when there is no manifest. */
  clearPartial(): Promise<void>;
  /**
   * Store the objects' texts; each one's chunks for its manifest entry (undefined for a directory).
   * Called once per batch (a backup is written as it is collected), never twice for one file.
   */
  writeObjects(objects: { file: string; text: string }[]): Promise<(ChunkRef[] | undefined)[]>;
  /** The commit point: from now on the backup is complete. */
  writeManifest(text: string): Promise<void>;
  /** The stored bytes of these entries, keyed by `file`; a piece's own digest is checked here. */
  readObjects(entries: ManifestEntry[]): Promise<Map<string, StoredObject>>;
  /** One line per stored thing the manifest does not list (something added to a finished backup). */
  unlisted(manifest: BackupManifest): Promise<string[]>;
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Secrets never go into a backup, whatever a caller passes. */
export function isSecretKind(o: KubeObject): boolean {
  return o.kind === 'Secret';
}

/** A stable object file path; names are DNS-1123 so they are safe as file names. */
export function objectFile(o: KubeObject): string {
  const group = (o.apiVersion ?? 'v1').includes('/') ? (o.apiVersion ?? '').split('/')[0]! : 'core';
  const ns = o.metadata?.namespace ?? '_cluster';
  const name = o.metadata?.name ?? '';
  if (!/^[a-z0-9][-a-z0-9.:]*$/.test(name) || !/^[-a-z0-9_]+$/.test(ns))
    throw new Error(`cannot back up an object with name "${name}" in "${ns}"`);
  return ['objects', `${group}.${o.kind ?? 'Unknown'}`, ns, `${name}.json`].join('/');
}

/**
 * An object's backup text, without the fields that are noise for a restore or a drift check
 * (managedFields change on every write). Copies only the metadata: the object is not changed.
 */
export function backupText(o: KubeObject): string {
  const metadata = o.metadata && { ...o.metadata };
  if (metadata) delete metadata.managedFields;
  return `${JSON.stringify(metadata ? { ...o, metadata } : o, null, 2)}\n`;
}

/** A run id usable as a directory name and as a cluster backup's id. */
/** A run id usable as a directory name and in a ConfigMap label: letters, digits, `.`, `_`, `-`. */
export function isBackupId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id);
}

export function checkBackupId(id: string): string {
  if (!isBackupId(id)) throw new Error(`a run id usable as a directory name (got "${id}")`);
  return id;
}

export function backupDir(location: string, migrationId: string): string {
  return resolve(location, checkBackupId(migrationId));
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(file: string, data: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** A backup in a directory of this machine: `<location>/<run id>/`. */
export class DirectoryBackupStore implements BackupStore {
  readonly location: string;
  constructor(dir: string) {
    this.location = resolve(dir);
  }

  get identity(): string {
    return this.location;
  }

  async readManifestText(): Promise<string | undefined> {
    try {
      return await readFile(join(this.location, MANIFEST_FILE), 'utf8');
    } catch {
      return undefined;
    }
  }

  async clearPartial(): Promise<void> {
    await rm(join(this.location, 'objects'), { recursive: true, force: true });
  }

  async writeObjects(objects: { file: string; text: string }[]): Promise<undefined[]> {
    for (const o of objects) await writeAtomic(join(this.location, ...o.file.split('/')), o.text);
    return objects.map(() => undefined);
  }

  writeManifest(text: string): Promise<void> {
    return writeAtomic(join(this.location, MANIFEST_FILE), text);
  }

  async readObjects(entries: ManifestEntry[]): Promise<Map<string, StoredObject>> {
    const out = new Map<string, StoredObject>();
    for (const e of entries) {
      try {
        out.set(e.file, { data: await readFile(join(this.location, ...e.file.split('/'))), problems: [] });
      } catch {
        out.set(e.file, { problems: [`${e.file}: missing`] });
      }
    }
    return out;
  }

  async unlisted(manifest: BackupManifest): Promise<string[]> {
    const listed = new Set(manifest.objects.map((e) => e.file));
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else {
          const f = relative(this.location, p).split(sep).join('/');
          if (!listed.has(f)) out.push(`${f}: not in the manifest`);
        }
      }
    };
    await walk(join(this.location, 'objects'));
    return out;
  }
}

/** A string is a directory (the form every caller used before stores). */
function storeOf(s: BackupStore | string): BackupStore {
  return typeof s === 'string' ? new DirectoryBackupStore(s) : s;
}

export function parseManifest(text: string, where: string): BackupManifest {
  const manifest = JSON.parse(text) as BackupManifest;
  if (manifest.format !== BACKUP_FORMAT)
    throw new Error(`${where} is not a meshmove backup manifest (format "${String(manifest.format)}")`);
  return manifest;
}

/**
 * Manifests this process has read whose digest was the one the workflow recorded, parsed, by store
 * and digest. Such a manifest never changes (another text has another digest), so the drift check
 * of each of 2,000 namespaces does not read, hash and parse a manifest of megabytes again (3 MB and
 * 12,000 entries there: parsing it alone took 12 ms). Frozen, as every caller shares it. Objects
 * are still read and checked against its digests each time; `verifyBackup` never uses it.
 */
const trustedManifests = new Map<string, { manifest: BackupManifest; digest: string }>();
const TRUSTED_MANIFESTS_MAX = 8;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The store's manifest and its digest; undefined when there is none. With `expectedDigest` (the one
 * the workflow recorded) a manifest read before with that digest is returned without reading it again.
 */
export async function readManifest(
  from: BackupStore | string,
  expectedDigest?: string,
): Promise<{ manifest: BackupManifest; digest: string } | undefined> {
  const store = storeOf(from);
  const key = expectedDigest && `${store.identity} ${expectedDigest}`;
  const known = key ? trustedManifests.get(key) : undefined;
  if (known) return known;
  const text = await store.readManifestText();
  if (text === undefined) return undefined;
  const read = { manifest: parseManifest(text, `the manifest of ${store.location}`), digest: sha256(text) };
  if (key && read.digest === expectedDigest) {
    if (trustedManifests.size >= TRUSTED_MANIFESTS_MAX) trustedManifests.delete(trustedManifests.keys().next().value!);
    trustedManifests.set(key, deepFreeze(read));
  }
  return read;
}

export interface WriteBackupInput {
  store: BackupStore | string;
  migrationId: string;
  purpose: string;
  plan: string;
  context: string;
  /** The objects, or batches of them as they are listed: each batch is written and let go before the next. */
  objects: KubeObject[] | AsyncIterable<KubeObject[]>;
  now?: () => Date;
}

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/**
 * Write a complete backup into the store. Only called when there is no manifest yet: leftovers of
 * a crashed attempt are removed first, so the result is one backup, never a mix of two. Objects
 * are written batch by batch, so only the manifest's entries grow with the cluster (at 2,000
 * namespaces, all the objects and their texts at once were a 100 MiB peak in the worker).
 */
export async function writeBackup(input: WriteBackupInput): Promise<BackupRef> {
  const store = storeOf(input.store);
  await store.clearPartial();
  const entries: ManifestEntry[] = [];
  const seen = new Set<string>();
  for await (const batch of Array.isArray(input.objects) ? [input.objects] : input.objects) {
    const texts: { file: string; text: string; o: KubeObject }[] = [];
    for (const o of batch) {
      if (isSecretKind(o)) continue;
      const file = objectFile(o);
      if (seen.has(file)) continue;
      seen.add(file);
      texts.push({ file, text: backupText(o), o });
    }
    texts.sort(byFile);
    const chunks = await store.writeObjects(texts);
    texts.forEach(({ file, text, o }, i) =>
      entries.push({
        file,
        apiVersion: o.apiVersion ?? '',
        kind: o.kind ?? '',
        ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
        name: o.metadata?.name ?? '',
        sha256: sha256(text),
        ...(chunks[i] ? { chunks: chunks[i] } : {}),
      }),
    );
  }
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    runId: input.migrationId,
    purpose: input.purpose,
    plan: input.plan,
    context: input.context,
    createdAt: (input.now ?? (() => new Date()))().toISOString(),
    objects: entries.sort(byFile),
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await store.writeManifest(text);
  return { location: store.location, manifestDigest: sha256(text), objects: entries.length };
}

export interface VerifyResult {
  ok: boolean;
  location: string;
  manifestDigest?: string;
  objects: number;
  /** One line per problem: missing, changed or unexpected object, or a manifest not the expected one. */
  problems: string[];
}

/** The text "there is no manifest" starts with (existingBackup tells "incomplete" from "tampered" by it). */
export const NO_MANIFEST = 'no manifest';

/** Re-hash every object against the manifest; `expectedDigest` also pins the manifest itself. */
export async function verifyBackup(from: BackupStore | string, expectedDigest?: string): Promise<VerifyResult> {
  const store = storeOf(from);
  const location = store.location;
  let read;
  try {
    read = await readManifest(store);
  } catch (err) {
    // The cluster did not answer (or refused): that says nothing about the backup, so it is no verdict.
    if (err instanceof ApplicationFailure) throw err;
    return { ok: false, location, objects: 0, problems: [`manifest unreadable: ${(err as Error).message}`] };
  }
  if (!read) return { ok: false, location, objects: 0, problems: [`${NO_MANIFEST} in ${location}: not a backup, or an incomplete one`] };
  const problems: string[] = [];
  if (expectedDigest !== undefined && expectedDigest !== read.digest)
    problems.push(`${MANIFEST_FILE} changed: sha256 ${read.digest}, expected ${expectedDigest}`);
  const stored = await store.readObjects(read.manifest.objects);
  for (const e of read.manifest.objects) {
    const s = stored.get(e.file) ?? { problems: [`${e.file}: missing`] };
    problems.push(...s.problems);
    if (!s.data) continue;
    const got = sha256(s.data);
    if (got !== e.sha256) problems.push(`${e.file}: sha256 ${got}, manifest says ${e.sha256}`);
  }
  problems.push(...(await store.unlisted(read.manifest)));
  return { ok: problems.length === 0, location, manifestDigest: read.digest, objects: read.manifest.objects.length, problems };
}

/**
 * Objects back from the backup (drift checks, restores), each checked against its manifest digest;
 * `expectedDigest` pins the manifest (the one the workflow recorded). Throws naming what is wrong.
 */
export async function readBackupObjects(
  from: BackupStore | string,
  filter?: (e: ManifestEntry) => boolean,
  expectedDigest?: string,
): Promise<{ entry: ManifestEntry; object: KubeObject }[]> {
  const store = storeOf(from);
  const read = await readManifest(store, expectedDigest);
  if (!read) throw new Error(`${NO_MANIFEST} in ${store.location}`);
  if (expectedDigest !== undefined && read.digest !== expectedDigest)
    throw new Error(
      `the backup manifest in ${store.location} changed since the backup (sha256 ${read.digest}, recorded ${expectedDigest})`,
    );
  const entries = read.manifest.objects.filter((e) => !filter || filter(e));
  const stored = await store.readObjects(entries);
  return entries.map((entry) => {
    const s = stored.get(entry.file);
    if (!s?.data)
      throw new Error(
        `${entry.file} is missing from the backup in ${store.location}${s?.problems.length ? `: ${s.problems.join('; ')}` : ''}`,
      );
    if (s.problems.length > 0 || sha256(s.data) !== entry.sha256)
      throw new Error(`${entry.file} in the backup ${store.location} does not match its manifest digest`);
    return { entry, object: JSON.parse(s.data.toString('utf8')) as KubeObject };
  });
}

export { exists as pathExists };
