// resolveWaves: the concrete namespaces of each `select` wave, fetched in two list calls
// (namespaces, injector webhooks) and decided by resolveWaveSelection. Read-only and quick, so
// no heartbeat; the workflow runs it once, before preflight, and keeps the answer in its state.
import type { MutatingWebhookConfigurationLike } from '../../mesh/injection.js';
import type { RunRef } from '../contract.js';
import type { ClusterDeps } from '../shared/deps.js';
import { resolveWaveSelection, type NamespaceInfo, type WaveSelection } from './resolve.js';

export async function resolveWaves({ kube }: Pick<ClusterDeps, 'kube'>, { plan }: RunRef): Promise<WaveSelection> {
  const [namespaces, webhooks] = await Promise.all([kube.listNamespaces(), kube.listMutatingWebhookConfigurations()]);
  const live: NamespaceInfo[] = namespaces
    // A namespace being deleted is not worth moving.
    .filter((n) => n.metadata?.name && !n.metadata.deletionTimestamp && n.status?.phase !== 'Terminating')
    .map((n) => ({ name: n.metadata!.name!, labels: { ...(n.metadata?.labels ?? {}) } }));
  return resolveWaveSelection(plan, live, webhooks as MutatingWebhookConfigurationLike[]);
}
