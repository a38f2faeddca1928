// Decommission (after its gate): back up, move istiod-default-validator to the target, then delete
// only the source revision's objects, as the pitfall guard lists them
// (activities/preflight/pitfall-guard.ts, the same function preflight shows). Idempotent: the
// backup's manifest, written once before the first change, is the list of what this run changes, so
// a rerun after a crash (when some objects are already gone and a fresh scope would be smaller)
// changes the same set and reports the same result; "already gone" and "already moved" are fine.
//
// The validator moves first: it validates every Istio object and is fail-closed, so deleting the
// source istiod while it still calls it would make every Istio config write in the cluster fail.
// Past the decommission gate the workflow allows no rollback; the move's inverse is the object as
// it was, in this backup (`kubectl replace -f` of its file restores it).
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef, DecommissionResult, RunRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import type { ClusterDeps } from '../shared/deps.js';
import { heartbeatIfActivity } from '../shared/waiting.js';
import {
  itemId,
  readDecommissionScope,
  targetValidationClientConfig,
  validatorMovePatch,
  validatorPointsAt,
  type DecommissionItem,
  type DecommissionKind,
} from '../preflight/pitfall-guard.js';
import { backupOnce, storeForPlan } from '../backup/index.js';
import { readManifest } from '../backup/store.js';
import { FailureType } from '../failures.js';

export const DecommissionErrorType = { unsafe: FailureType.DecommissionUnsafe, notMoved: FailureType.DefaultValidatorNotMoved } as const;

/** Order: repoint the default validator, stop injecting the old sidecar, then istiod, then the old gateway. */
const ORDER: Record<DecommissionKind, number> = {
  ValidatingWebhookConfiguration: -1,
  MutatingWebhookConfiguration: 0,
  Deployment: 1,
  Service: 2,
};

/** The decommission backup's id: its own backup next to the run's before-migration one. */
export const decommissionBackupId = (migrationId: string): string => `${migrationId}-decommission`;

async function getValidator(kube: KubeAccess, name: string) {
  return (await kube.listValidatingWebhookConfigurations({ fieldSelector: `metadata.name=${name}` }))[0];
}

async function fetchItem(kube: KubeAccess, i: Pick<DecommissionItem, 'kind' | 'namespace' | 'name'>): Promise<KubeObject | undefined> {
  switch (i.kind) {
    case 'ValidatingWebhookConfiguration': {
      const o = await getValidator(kube, i.name);
      return o && { ...(o as KubeObject), apiVersion: 'admissionregistration.k8s.io/v1', kind: i.kind };
    }
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
    case 'MutatingWebhookConfiguration':
      return kube.deleteMutatingWebhookConfiguration(i.name);
    case 'Deployment':
      return kube.deleteWorkload('Deployment', i.namespace!, i.name);
    case 'Service':
      return kube.deleteService(i.namespace!, i.name);
    case 'ValidatingWebhookConfiguration':
      throw new Error(`unreachable: ${itemId(i)} is moved, never deleted`);
  }
}

/** Points the validator's webhooks at the target's validation webhook; nothing when it already does. */
async function moveValidator(kube: KubeAccess, plan: Plan, name: string): Promise<void> {
  const [current, vwcs, mwcs] = await Promise.all([
    getValidator(kube, name),
    kube.listValidatingWebhookConfigurations(),
    kube.listMutatingWebhookConfigurations(),
  ]);
  if (!current) return; // deleted by someone since the backup: nothing calls the source any more
  const to = targetValidationClientConfig(plan, vwcs, mwcs);
  if (!to) {
    throw ApplicationFailure.create({
      type: DecommissionErrorType.notMoved,
      nonRetryable: true,
      message: `cannot move ${name} to the target ${plan.target.revision}: the target has no validating webhook (nor injector) to point it at; nothing was deleted`,
    });
  }
  const patch = validatorMovePatch(current, to.config, plan.target.revision);
  if (!patch) return;
  const moved = await kube.patchValidatingWebhookConfiguration(name, patch, 'merge');
  if (!validatorPointsAt(moved, to.config, plan.target.revision)) {
    // Retryable: another writer changed it meanwhile; the next attempt reads it again.
    throw ApplicationFailure.create({
      type: DecommissionErrorType.notMoved,
      nonRetryable: false,
      message: `${name} does not point at the target after the patch (changed meanwhile?); nothing was deleted`,
    });
  }
}

export interface DecommissionOptions {
  progress?: (step: string) => void;
  now?: () => Date;
}

export async function runDecommission(
  kube: KubeAccess,
  plan: Plan,
  migrationId: string,
  opts: DecommissionOptions = {},
): Promise<DecommissionResult> {
  const store = storeForPlan(kube, plan, decommissionBackupId(migrationId), { migrationId, purpose: 'decommission' });
  let backup: BackupRef;
  if (!(await readManifest(store))) {
    const scope = await readDecommissionScope(kube, plan);
    if (scope.blockers.length > 0) {
      throw ApplicationFailure.create({
        type: DecommissionErrorType.unsafe,
        nonRetryable: true,
        message: `decommission of revision ${plan.source.revision} stopped before changing anything: ${scope.blockers.join('; ')}`,
      });
    }
    opts.progress?.('backup');
    ({ ref: backup } = await backupOnce(
      store,
      { migrationId, purpose: 'decommission', plan: plan.metadata.name, context: kube.contextName },
      async () => {
        const objs: KubeObject[] = [];
        const items: Pick<DecommissionItem, 'kind' | 'name' | 'namespace'>[] = [
          ...scope.move.map((m) => ({ kind: 'ValidatingWebhookConfiguration' as const, name: m.name })),
          ...scope.delete,
        ];
        for (const i of items) {
          const o = await fetchItem(kube, i);
          if (o) objs.push(o);
        }
        return objs;
      },
      opts.now,
    ));
  } else {
    ({ ref: backup } = await backupOnce(
      store,
      { migrationId, purpose: 'decommission', plan: plan.metadata.name, context: kube.contextName },
      () => Promise.reject(new Error('unreachable: the backup exists')),
    ));
  }
  const manifest = (await readManifest(store))!.manifest;
  const items = manifest.objects
    .map((e) => ({ kind: e.kind as DecommissionKind, namespace: e.namespace, name: e.name }))
    .sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || itemId(a).localeCompare(itemId(b)));
  const deleted: string[] = [];
  const moved: string[] = [];
  for (const i of items) {
    if (i.kind === 'ValidatingWebhookConfiguration') {
      opts.progress?.(`move ${itemId(i)} to ${plan.target.revision}`);
      await moveValidator(kube, plan, i.name);
      moved.push(itemId(i));
      continue;
    }
    opts.progress?.(`delete ${itemId(i)}`);
    await deleteItem(kube, i);
    deleted.push(itemId(i));
  }
  return { deleted, moved, backup };
}

/** The decommission activity: the backup and each object moved or deleted is a heartbeat. */
export function decommission({ kube }: Pick<ClusterDeps, 'kube'>, { plan, migrationId }: RunRef): Promise<DecommissionResult> {
  return runDecommission(kube, plan, migrationId, { progress: (step) => heartbeatIfActivity({ step }) });
}
