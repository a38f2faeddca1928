// A backup on disk: one JSON file per object and a manifest holding each file's sha256, written
// last (atomically), so "the manifest exists" means "the backup is complete". The workflow only
// keeps the location and the manifest's digest; `verifyBackup` re-hashes everything.
//
// Layout of <location>/<runId>/:
//   manifest.json
//   objects/<group>.<Kind>/<namespace or _cluster>/<name>.json
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { BackupRef } from '../contract.js';
import type { KubeObject } from '../kube/types.js';

export const MANIFEST_FILE = 'manifest.json';
export const BACKUP_FORMAT = 'meshmove-backup/v1';

export interface ManifestEntry {
  file: string;
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  runId: string;
  /** What was backed up, e.g. `before-migration` or `decommission`. */
  purpose: string;
  plan: string;
  context: string;
  createdAt: string;
  objects: ManifestEntry[];
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Secrets never go into a backup, whatever a caller passes. */
export function isSecretKind(o: KubeObject): boolean {
  return o.kind === 'Secret';
}

/** A stable object file path; names are DNS-1123 so they are safe as file names. */
export function objectFile(o: KubeObject): string {
  const group = (o.apiVersion ?? 'v1').includes('/') ? (o.apiVersion ?? '').split('/')[0]! : 'core';
  const ns = o.metadata?.namespace ?? '_cluster';
  const name = o.metadata?.name ?? '';
  if (!/^[a-z0-9][-a-z0-9.:]*$/.test(name) || !/^[-a-z0-9_]+$/.test(ns)) throw new Error(`cannot back up an object with name "${name}" in "${ns}"`);
  return ['objects', `${group}.${o.kind ?? 'Unknown'}`, ns, `${name}.json`].join('/');
}

/** Drop fields that are noise for a restore or a drift check (managedFields change on every write). */
export function cleanObject(o: KubeObject): KubeObject {
  const copy = JSON.parse(JSON.stringify(o)) as KubeObject;
  if (copy.metadata) delete copy.metadata.managedFields;
  return copy;
}

export function backupDir(location: string, runId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) throw new Error(`a run id usable as a directory name (got "${runId}")`);
  return resolve(location, runId);
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

export async function readManifest(dir: string): Promise<{ manifest: BackupManifest; digest: string } | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(text) as BackupManifest;
  if (manifest.format !== BACKUP_FORMAT) throw new Error(`${join(dir, MANIFEST_FILE)} is not a meshmove backup manifest (format "${String(manifest.format)}")`);
  return { manifest, digest: sha256(text) };
}

export interface WriteBackupInput {
  dir: string;
  runId: string;
  purpose: string;
  plan: string;
  context: string;
  objects: KubeObject[];
  now?: () => Date;
}

/**
 * Write a complete backup into `dir`. Only called when there is no manifest yet: leftovers of a
 * crashed attempt are removed first, so the result is one backup, never a mix of two.
 */
export async function writeBackup(input: WriteBackupInput): Promise<BackupRef> {
  await rm(join(input.dir, 'objects'), { recursive: true, force: true });
  const entries: ManifestEntry[] = [];
  const seen = new Set<string>();
  for (const raw of input.objects) {
    if (isSecretKind(raw)) continue;
    const o = cleanObject(raw);
    const file = objectFile(o);
    if (seen.has(file)) continue;
    seen.add(file);
    const text = `${JSON.stringify(o, null, 2)}\n`;
    await writeAtomic(join(input.dir, ...file.split('/')), text);
    entries.push({ file, apiVersion: o.apiVersion ?? '', kind: o.kind ?? '', ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}), name: o.metadata?.name ?? '', sha256: sha256(text) });
  }
  entries.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    runId: input.runId,
    purpose: input.purpose,
    plan: input.plan,
    context: input.context,
    createdAt: (input.now ?? (() => new Date()))().toISOString(),
    objects: entries,
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeAtomic(join(input.dir, MANIFEST_FILE), text);
  return { location: input.dir, manifestDigest: sha256(text), objects: entries.length };
}

export interface VerifyResult {
  ok: boolean;
  location: string;
  manifestDigest?: string;
  objects: number;
  /** One line per problem: missing, changed or unexpected file, or a manifest not the expected one. */
  problems: string[];
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(root, p).split(sep).join('/'));
    }
  }
  await walk(join(root, 'objects'));
  return out;
}

/** Re-hash every file against the manifest; `expectedDigest` also pins the manifest itself. */
export async function verifyBackup(dir: string, expectedDigest?: string): Promise<VerifyResult> {
  const location = resolve(dir);
  let read;
  try {
    read = await readManifest(location);
  } catch (err) {
    return { ok: false, location, objects: 0, problems: [`manifest unreadable: ${(err as Error).message}`] };
  }
  if (!read) return { ok: false, location, objects: 0, problems: [`no ${MANIFEST_FILE} in ${location}: not a backup, or an incomplete one`] };
  const problems: string[] = [];
  if (expectedDigest !== undefined && expectedDigest !== read.digest) problems.push(`${MANIFEST_FILE} changed: sha256 ${read.digest}, expected ${expectedDigest}`);
  const listed = new Set<string>();
  for (const e of read.manifest.objects) {
    listed.add(e.file);
    let data: Buffer;
    try {
      data = await readFile(join(location, ...e.file.split('/')));
    } catch {
      problems.push(`${e.file}: missing`);
      continue;
    }
    const got = sha256(data);
    if (got !== e.sha256) problems.push(`${e.file}: sha256 ${got}, manifest says ${e.sha256}`);
  }
  for (const f of await listFiles(location)) if (!listed.has(f)) problems.push(`${f}: not in the manifest`);
  return { ok: problems.length === 0, location, manifestDigest: read.digest, objects: read.manifest.objects.length, problems };
}

/** Read objects back (drift checks, restores). */
export async function readBackupObjects(dir: string, filter?: (e: ManifestEntry) => boolean): Promise<{ entry: ManifestEntry; object: KubeObject }[]> {
  const read = await readManifest(resolve(dir));
  if (!read) throw new Error(`no ${MANIFEST_FILE} in ${dir}`);
  const out: { entry: ManifestEntry; object: KubeObject }[] = [];
  for (const e of read.manifest.objects) {
    if (filter && !filter(e)) continue;
    out.push({ entry: e, object: JSON.parse(await readFile(join(resolve(dir), ...e.file.split('/')), 'utf8')) as KubeObject });
  }
  return out;
}

export { exists as pathExists };
