// What the before-migration backup holds (issue §"Before migration" 1): the planned namespaces
// (their labels), every MutatingWebhookConfiguration, the Istio config objects in the planned
// namespaces, the *.istio.io CRDs, both gateways' Gateway objects, both mesh configs, and the
// planned namespaces' workloads (what the per-namespace drift check compares against). Lists are
// cluster-wide with filtering here: one call per type, not one per namespace. Never Secrets.
import type { Plan } from '../../plan/schema.js';
import { plannedNamespaces } from '../../plan/schema.js';
import { selectorMatches } from '../../mesh/labels.js';
import { meshConfigMapName } from '../../mesh/naming.js';
import type { KubeAccess, KubeObject, WorkloadKind } from '../kube/types.js';
import { ISTIO_RESOURCES } from '../kube/istio-resources.js';

const WORKLOADS: { kind: WorkloadKind; apiVersion: string }[] = [
  { kind: 'Deployment', apiVersion: 'apps/v1' },
  { kind: 'StatefulSet', apiVersion: 'apps/v1' },
  { kind: 'DaemonSet', apiVersion: 'apps/v1' },
];

/** Typed list items come back without apiVersion/kind; a backup file must say what it is. */
function typed(o: object, apiVersion: string, kind: string): KubeObject {
  return { ...(o as KubeObject), apiVersion, kind };
}

/** Does a Gateway object's `spec.selector` pick the pods of this gateway? */
export function gatewaySelects(gw: KubeObject, podLabels: Record<string, string>): boolean {
  const sel = (gw.spec as { selector?: Record<string, string> } | undefined)?.selector;
  if (!sel || Object.keys(sel).length === 0) return false;
  return selectorMatches({ matchLabels: sel }, podLabels);
}

/**
 * The backup's objects, one batch per list (the workloads, the largest, one kind at a time), so
 * that each batch is written and let go before the next is listed (store.ts writeBackup).
 */
export async function* backupObjectBatches(kube: KubeAccess, plan: Plan, progress?: (step: string) => void): AsyncGenerator<KubeObject[]> {
  const planned = new Set(plannedNamespaces(plan));

  progress?.('namespaces');
  yield (await kube.listNamespaces()).filter((ns) => planned.has(ns.metadata?.name ?? '')).map((ns) => typed(ns, 'v1', 'Namespace'));

  progress?.('mutatingwebhookconfigurations');
  yield (await kube.listMutatingWebhookConfigurations()).map((m) =>
    typed(m, 'admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'),
  );

  progress?.('customresourcedefinitions');
  yield (await kube.listCustomResourceDefinitions())
    .filter((c) => (c.spec?.group ?? '').endsWith('istio.io'))
    .map((c) => typed(c, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition'));

  for (const r of ISTIO_RESOURCES) {
    progress?.(r.plural);
    const batch: KubeObject[] = [];
    for (const o of await kube.listCustomObjects(r, undefined)) {
      const obj = typed(o, `${r.group}/${r.version}`, r.kind);
      const inPlanned = planned.has(o.metadata?.namespace ?? '');
      const gatewayOf =
        r.kind === 'Gateway' && (gatewaySelects(obj, plan.source.gateway.selector) || gatewaySelects(obj, plan.target.gateway.selector));
      if (inPlanned || gatewayOf) batch.push(obj);
    }
    yield batch;
  }

  progress?.('mesh configs');
  const meshConfigs: KubeObject[] = [];
  for (const side of [plan.source, plan.target]) {
    const cm = await kube.getConfigMap(side.istiodNamespace, meshConfigMapName(side.revision));
    if (cm) meshConfigs.push(typed(cm, 'v1', 'ConfigMap'));
  }
  yield meshConfigs;

  for (const w of WORKLOADS) {
    progress?.(w.kind);
    yield (await kube.listWorkloads(w.kind, undefined))
      .filter((o) => planned.has(o.metadata?.namespace ?? ''))
      .map((o) => typed(o, w.apiVersion, w.kind));
  }
}
