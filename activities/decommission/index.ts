// Decommission (after its gate): back up, then delete only the source revision's objects as the
// pitfall guard lists them (activities/preflight/pitfall-guard.ts, the same function preflight
// shows). Idempotent: the backup's manifest, written once before the first delete, is the list of
// what this run deletes, so a rerun after a crash (when some objects are already gone and a fresh
// scope would be smaller) deletes the same set and reports the same result; "already gone" is fine.
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef, DecommissionResult } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import { itemId, readDecommissionScope, type DecommissionItem, type DecommissionKind } from '../preflight/pitfall-guard.js';
import { backupOnce } from '../backup/index.js';
import { backupDir, readManifest } from '../backup/store.js';

export const DecommissionErrorType = { unsafe: 'DecommissionUnsafe' } as const;

/** Delete order: stop injecting the old sidecar first, then istiod, then the old gateway. */
const ORDER: Record<DecommissionKind, number> = { MutatingWebhookConfiguration: 0, Deployment: 1, Service: 2 };

export function decommissionDir(plan: Pick<Plan, 'backup'>, runId: string): string {
  return backupDir(plan.backup.location, `${runId}-decommission`);
}

async function fetchItem(kube: KubeAccess, i: DecommissionItem): Promise<KubeObject | undefined> {
  switch (i.kind) {
    case 'MutatingWebhookConfiguration': {
      const o = await kube.getMutatingWebhookConfiguration(i.name);
      return o && { ...(o as KubeObject), apiVersion: 'admissionregistration.k8s.io/v1', kind: i.kind };
    }
    case 'Deployment': {
      const o = await kube.getWorkload('Deployment', i.namespace!, i.name);
      return o && { ...(o as KubeObject), apiVersion: 'apps/v1', kind: i.kind };
    }
    case 'Service': {
      const o = await kube.getService(i.namespace!, i.name);
      return o && { ...(o as KubeObject), apiVersion: 'v1', kind: i.kind };
    }
  }
}

async function deleteItem(kube: KubeAccess, i: Pick<DecommissionItem, 'kind' | 'namespace' | 'name'>): Promise<'deleted' | 'absent'> {
  switch (i.kind) {
    case 'MutatingWebhookConfiguration': return kube.deleteMutatingWebhookConfiguration(i.name);
    case 'Deployment': return kube.deleteWorkload('Deployment', i.namespace!, i.name);
    case 'Service': return kube.deleteService(i.namespace!, i.name);
  }
}

export interface DecommissionOptions {
  progress?: (step: string) => void;
  now?: () => Date;
}

export async function runDecommission(kube: KubeAccess, plan: Plan, runId: string, opts: DecommissionOptions = {}): Promise<DecommissionResult> {
  const dir = decommissionDir(plan, runId);
  let backup: BackupRef;
  if (!(await readManifest(dir))) {
    const scope = await readDecommissionScope(kube, plan);
    if (scope.blockers.length > 0) {
      throw ApplicationFailure.create({ type: DecommissionErrorType.unsafe, nonRetryable: true, message: `decommission of revision ${plan.source.revision} stopped before deleting anything: ${scope.blockers.join('; ')}` });
    }
    opts.progress?.('backup');
    ({ ref: backup } = await backupOnce(dir, { runId, purpose: 'decommission', plan: plan.metadata.name, context: kube.contextName }, async () => {
      const objs: KubeObject[] = [];
      for (const i of scope.delete) {
        const o = await fetchItem(kube, i);
        if (o) objs.push(o);
      }
      return objs;
    }, opts.now));
  } else {
    ({ ref: backup } = await backupOnce(dir, { runId, purpose: 'decommission', plan: plan.metadata.name, context: kube.contextName }, () => Promise.reject(new Error('unreachable: the backup exists'))));
  }
  const manifest = (await readManifest(dir))!.manifest;
  const items = manifest.objects
    .map((e) => ({ kind: e.kind as DecommissionKind, namespace: e.namespace, name: e.name }))
    .sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || itemId(a).localeCompare(itemId(b)));
  const deleted: string[] = [];
  for (const i of items) {
    opts.progress?.(`delete ${itemId(i)}`);
    await deleteItem(kube, i);
    deleted.push(itemId(i));
  }
  return { deleted, backup };
}
