// The before-migration backup, idempotent per run: a manifest already in <location>/<runId>/ means
// the backup is done (it is verified and returned, not redone); no manifest means a previous
// attempt crashed mid-way (or none ran), and the same directory is written again from scratch.
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import { collectBackupObjects } from './collect.js';
import { backupDir, verifyBackup, writeBackup } from './store.js';

export const BackupErrorType = { corrupt: 'BackupCorrupt' } as const;

export interface BackupOptions {
  progress?: (step: string) => void;
  now?: () => Date;
}

/** Return the finished backup in `dir` if there is one (verified), else undefined. */
export async function existingBackup(dir: string): Promise<BackupRef | undefined> {
  const v = await verifyBackup(dir);
  if (v.problems.some((p) => p.startsWith('no manifest.json'))) return undefined;
  if (!v.ok) {
    // Someone changed a finished backup: redoing it would hide that, and the cluster may have moved on.
    throw ApplicationFailure.create({ type: BackupErrorType.corrupt, nonRetryable: true, message: `the backup in ${dir} does not match its manifest: ${v.problems.slice(0, 5).join('; ')}` });
  }
  return { location: v.location, manifestDigest: v.manifestDigest!, objects: v.objects };
}

/** Back up `objects()` into `dir` once: a rerun returns the finished backup. */
export async function backupOnce(dir: string, meta: { runId: string; purpose: string; plan: string; context: string }, objects: () => Promise<KubeObject[]>, now?: () => Date): Promise<{ ref: BackupRef; reused: boolean }> {
  const done = await existingBackup(dir);
  if (done) return { ref: done, reused: true };
  const ref = await writeBackup({ dir, ...meta, objects: await objects(), now });
  return { ref, reused: false };
}

export async function runBackup(kube: KubeAccess, plan: Plan, runId: string, opts: BackupOptions = {}): Promise<BackupRef> {
  const dir = backupDir(plan.backup.location, runId);
  const { ref } = await backupOnce(dir, { runId, purpose: 'before-migration', plan: plan.metadata.name, context: kube.contextName }, () => collectBackupObjects(kube, plan, opts.progress), opts.now);
  return ref;
}

export { verifyBackup, readBackupObjects, readManifest, backupDir, writeBackup, objectFile, MANIFEST_FILE, type BackupManifest, type ManifestEntry, type VerifyResult } from './store.js';
export { collectBackupObjects, gatewaySelects } from './collect.js';
