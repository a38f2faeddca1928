// relabelNamespace and its compensation restoreNamespaceLabels: one conditional merge patch each,
// decided by labels.ts from what the namespace holds now.
import type { NamespaceRef, RelabelResult } from '../contract.js';
import { mustExist, retryOnKubeConflict } from '../kube/errors.js';
import type { ClusterDeps } from '../shared/deps.js';
import { decideRelabel, decideRestore, type NamespaceState } from './labels.js';

async function readNamespace(deps: ClusterDeps, name: string): Promise<NamespaceState> {
  const ns = mustExist(
    await deps.kube.getNamespace(name),
    { resource: 'namespaces', group: '', name },
    'the plan names a namespace the cluster does not have',
  );
  return {
    labels: { ...(ns.metadata?.labels ?? {}) },
    annotations: { ...(ns.metadata?.annotations ?? {}) },
    ...(ns.metadata?.resourceVersion !== undefined ? { resourceVersion: ns.metadata.resourceVersion } : {}),
  };
}

export async function relabelNamespace(deps: ClusterDeps, input: NamespaceRef): Promise<RelabelResult> {
  return retryOnKubeConflict(async () => {
    const ns = await readNamespace(deps, input.namespace);
    const d = decideRelabel(ns, input.plan, input.migrationId);
    if (d.patch) {
      await deps.kube.patchNamespace(input.namespace, d.patch, 'merge');
      deps.logger?.info({ namespace: input.namespace, migrationId: input.migrationId, previous: d.previousLabels }, 'namespace relabeled');
    }
    return { previousLabels: d.previousLabels, changed: d.changed };
  });
}

export async function restoreNamespaceLabels(
  deps: ClusterDeps,
  input: NamespaceRef & { labels: Record<string, string> },
): Promise<{ changed: boolean }> {
  // The revision-tag path: the tag points at the target until the run's own undo moves it back.
  const tag = input.plan.target.tag;
  const pin = tag !== undefined ? { tag, revision: input.plan.source.revision } : undefined;
  return retryOnKubeConflict(async () => {
    const ns = await readNamespace(deps, input.namespace);
    const d = decideRestore(ns, input.plan, input.migrationId, input.labels, pin);
    if (d.patch) {
      await deps.kube.patchNamespace(input.namespace, d.patch, 'merge');
      deps.logger?.info(
        { namespace: input.namespace, migrationId: input.migrationId, restored: input.labels },
        'namespace labels restored',
      );
    }
    return { changed: d.changed };
  });
}
