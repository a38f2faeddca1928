// The before-migration backup, idempotent per run: a manifest already in the run's backup means
// the backup is done (it is verified and returned, not redone); no manifest means a previous
// attempt crashed mid-way (or none ran), and the same backup is written again from scratch.
// Where it goes is the plan's choice (`backup.location`: a directory of the worker's machine;
// `backup.cluster.namespace`: ConfigMaps any worker can read); both are a `BackupStore`.
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef, RunRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import type { ClusterDeps } from '../shared/deps.js';
import { heartbeatIfActivity } from '../shared/waiting.js';
import { backupObjectBatches } from './collect.js';
import { ClusterBackupStore, parseClusterLocation } from './cluster-store.js';
import { backupDir, DirectoryBackupStore, NO_MANIFEST, verifyBackup, writeBackup, type BackupStore } from './store.js';
import { FailureType } from '../failures.js';

export const BackupErrorType = { corrupt: FailureType.BackupCorrupt } as const;

export interface BackupOptions {
  progress?: (step: string) => void;
  now?: () => Date;
}

/** The store of backup `backupId` (the run id, or `<run id>-decommission`) where the plan says. */
export function storeForPlan(
  kube: KubeAccess,
  plan: Pick<Plan, 'backup'>,
  backupId: string,
  meta: { migrationId?: string; purpose?: string } = {},
): BackupStore {
  const b = plan.backup;
  if (b.cluster) return new ClusterBackupStore(kube, b.cluster.namespace, backupId, meta);
  return new DirectoryBackupStore(backupDir(b.location!, backupId));
}

/**
 * The store a location names (a BackupRef's, or what `meshmove status` printed): `cluster:NS/ID`
 * in the cluster `kube` reaches, anything else a directory.
 */
export function openBackupStore(location: string, kube?: () => KubeAccess): BackupStore {
  const c = parseClusterLocation(location);
  if (!c) return new DirectoryBackupStore(location);
  if (!kube) throw new Error(`${location} is in a cluster: reading it needs access to that cluster`);
  return new ClusterBackupStore(kube(), c.namespace, c.backupId);
}

/** Return the finished backup in `store` if there is one (verified), else undefined. */
export async function existingBackup(store: BackupStore | string): Promise<BackupRef | undefined> {
  const v = await verifyBackup(store);
  if (v.problems.some((p) => p.startsWith(NO_MANIFEST))) return undefined;
  if (!v.ok) {
    // Someone changed a finished backup: redoing it would hide that, and the cluster may have moved on.
    throw ApplicationFailure.create({
      type: BackupErrorType.corrupt,
      nonRetryable: true,
      message: `the backup in ${v.location} does not match its manifest: ${v.problems.slice(0, 5).join('; ')}`,
    });
  }
  return { location: v.location, manifestDigest: v.manifestDigest!, objects: v.objects };
}

/** Back up `objects()` (all at once, or batches as they are listed) into `store` once: a rerun returns the finished backup. */
export async function backupOnce(
  store: BackupStore | string,
  meta: { migrationId: string; purpose: string; plan: string; context: string },
  objects: () => Promise<KubeObject[]> | AsyncIterable<KubeObject[]>,
  now?: () => Date,
): Promise<{ ref: BackupRef; reused: boolean }> {
  const done = await existingBackup(store);
  if (done) return { ref: done, reused: true };
  const listed = objects();
  const ref = await writeBackup({ store, ...meta, objects: listed instanceof Promise ? await listed : listed, now });
  return { ref, reused: false };
}

export async function runBackup(kube: KubeAccess, plan: Plan, migrationId: string, opts: BackupOptions = {}): Promise<BackupRef> {
  const purpose = 'before-migration';
  const store = storeForPlan(kube, plan, migrationId, { migrationId, purpose });
  const { ref } = await backupOnce(
    store,
    { migrationId, purpose, plan: plan.metadata.name, context: kube.contextName },
    () => backupObjectBatches(kube, plan, opts.progress),
    opts.now,
  );
  return ref;
}

/** The backup activity: each kind of object collected is a heartbeat. */
export function backup({ kube }: Pick<ClusterDeps, 'kube'>, { plan, migrationId }: RunRef): Promise<BackupRef> {
  return runBackup(kube, plan, migrationId, { progress: (step) => heartbeatIfActivity({ step }) });
}

export {
  verifyBackup,
  readBackupObjects,
  readManifest,
  backupDir,
  writeBackup,
  objectFile,
  DirectoryBackupStore,
  MANIFEST_FILE,
  type BackupStore,
  type BackupManifest,
  type ManifestEntry,
  type VerifyResult,
} from './store.js';
export { ClusterBackupStore, clusterLocation, parseClusterLocation, CHUNK_BYTES } from './cluster-store.js';
export { backupObjectBatches, gatewaySelects } from './collect.js';
