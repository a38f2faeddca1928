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

export async function collectBackupObjects(kube: KubeAccess, plan: Plan, progress?: (step: string) => void): Promise<KubeObject[]> {
  const planned = new Set(plannedNamespaces(plan));
  const out: KubeObject[] = [];

  progress?.('namespaces');
  for (const ns of await kube.listNamespaces()) if (planned.has(ns.metadata?.name ?? '')) out.push(typed(ns, 'v1', 'Namespace'));

  progress?.('mutatingwebhookconfigurations');
  for (const m of await kube.listMutatingWebhookConfigurations())
    out.push(typed(m, 'admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'));

  progress?.('customresourcedefinitions');
  for (const c of await kube.listCustomResourceDefinitions()) {
    if ((c.spec?.group ?? '').endsWith('istio.io')) out.push(typed(c, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition'));
  }

  for (const r of ISTIO_RESOURCES) {
    progress?.(r.plural);
    for (const o of await kube.listCustomObjects(r, undefined)) {
      const obj = typed(o, `${r.group}/${r.version}`, r.kind);
      const inPlanned = planned.has(o.metadata?.namespace ?? '');
      const gatewayOf =
        r.kind === 'Gateway' && (gatewaySelects(obj, plan.source.gateway.selector) || gatewaySelects(obj, plan.target.gateway.selector));
      if (inPlanned || gatewayOf) out.push(obj);
    }
  }

  progress?.('mesh configs');
  for (const side of [plan.source, plan.target]) {
    const cm = await kube.getConfigMap(side.istiodNamespace, meshConfigMapName(side.revision));
    if (cm) out.push(typed(cm, 'v1', 'ConfigMap'));
  }

  for (const w of WORKLOADS) {
    progress?.(w.kind);
    for (const o of await kube.listWorkloads(w.kind, undefined)) {
      if (planned.has(o.metadata?.namespace ?? '')) out.push(typed(o, w.apiVersion, w.kind));
    }
  }
  return out;
}
