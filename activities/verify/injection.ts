// explainInjection: after a namespace rollback, which webhook(s) would inject its new pods, and if
// the target's webhook still intercepts (the field report's "回滚失败"), exactly which
// configuration, which webhook, which labels make it match, and the fix. Read-only.
import type { V1Pod } from '@kubernetes/client-node';
import type { NamespaceRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { mustExist } from '../kube/errors.js';
import {
  injectingRevision,
  WebhookName,
  type MutatingWebhookConfigurationLike,
  type SelectorLike,
  type WebhookMatch,
} from '../../mesh/injection.js';
import { IstioLabel } from '../../mesh/naming.js';
import type { ClusterDeps } from '../shared/deps.js';

export interface InjectionExplanation {
  injectors: string[];
  message: string;
  /** True when a webhook of the target revision would inject new pods of the namespace. */
  targetIntercepts: boolean;
}

/** One selector requirement next to the namespace's actual value, e.g. `istio.io/rev In [x] (has x)`. */
export function explainSelector(sel: SelectorLike | undefined, labels: Record<string, string>): string {
  if (!sel) return '{} (every namespace)';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {}))
    parts.push(`${k}=${v} (has ${k in labels ? `${k}=${labels[k]}` : 'no such label'})`);
  for (const e of sel.matchExpressions ?? []) {
    const have = e.key in labels ? `has ${e.key}=${labels[e.key]}` : `no ${e.key} label`;
    parts.push(`${e.key} ${e.operator}${e.values && e.values.length ? ` [${e.values.join(',')}]` : ''} (${have})`);
  }
  return parts.length ? parts.join(', ') : '{} (every namespace)';
}

/** Distinct label sets of pods that matter to the object selectors, plus a plain pod. */
export function podLabelVariants(pods: readonly Pick<V1Pod, 'metadata'>[]): Record<string, string>[] {
  const keys = [IstioLabel.rev, IstioLabel.inject];
  const seen = new Map<string, Record<string, string>>([['{}', {}]]);
  for (const p of pods) {
    const l: Record<string, string> = {};
    for (const k of keys) {
      const v = p.metadata?.labels?.[k];
      if (v !== undefined) l[k] = v;
    }
    seen.set(JSON.stringify(l), l);
  }
  return [...seen.values()];
}

function fixFor(m: WebhookMatch, namespace: string, labels: Record<string, string>, plan: Pick<Plan, 'source' | 'target'>): string {
  const never =
    "Do not delete the Istio CRDs (the field report's advice): they are shared with the source control plane, and deleting them removes every Gateway, VirtualService and policy of both.";
  switch (m.webhookName) {
    case WebhookName.revNamespace:
      return m.tag !== undefined
        ? `the namespace selects revision tag "${m.tag}" (istio.io/rev=${labels[IstioLabel.rev] ?? ''}), which points at ${m.revision ?? '?'}: restore the namespace's previous labels, or point the tag back with "istioctl tag set ${m.tag} --revision ${plan.source.revision} --overwrite". ${never}`
        : `restore the namespace's previous labels (the rollback's restoreNamespaceLabels; by hand: "${plan.source.revision === 'default' ? `kubectl label namespace ${namespace} istio.io/rev- istio-injection=enabled` : `kubectl label namespace ${namespace} istio.io/rev=${plan.source.revision} --overwrite`}"). ${never}`;
    case WebhookName.namespace:
      return `this configuration answers istio-injection=enabled, so it acts as the default revision but calls ${m.revision ?? '?'}${m.tag !== undefined ? ` (revision tag "${m.tag}")` : ''}: delete it ("kubectl delete mutatingwebhookconfiguration ${m.configName}"${m.tag !== undefined ? ` or "istioctl tag remove ${m.tag}"` : ''}) or point it back at ${plan.source.revision}; only one configuration may serve istio-injection=enabled. ${never}`;
    case WebhookName.revObject:
    case WebhookName.object:
      return `pods carrying ${IstioLabel.rev}=${m.revision ?? '?'} (or ${IstioLabel.inject}=true) are selected by this object selector: remove that label from the workloads' pod templates. ${never}`;
    default:
      return `delete or fix configuration ${m.configName} so that its webhook ${m.webhookName} no longer selects namespace ${namespace}. ${never}`;
  }
}

/** Pure: the explanation from the namespace labels, the webhook configurations and its pods' label sets. */
export function explain(
  namespace: string,
  labels: Record<string, string>,
  configs: readonly MutatingWebhookConfigurationLike[],
  podVariants: readonly Record<string, string>[],
  plan: Pick<Plan, 'source' | 'target'>,
): InjectionExplanation {
  const byKey = new Map<string, WebhookMatch>();
  let plainRevision: string | null = null;
  let conflict = false;
  podVariants.forEach((podLabels, i) => {
    const d = injectingRevision(configs, labels, podLabels);
    if (i === 0) plainRevision = d.revision;
    conflict ||= d.conflict;
    for (const m of d.matches) byKey.set(`${m.configName}/${m.webhookName}`, m);
  });
  const matches = [...byKey.values()];
  const injectors = [...byKey.keys()];
  const target = plan.target.revision;
  const lines: string[] = [];
  const shown = Object.keys(labels).filter((k) => k === IstioLabel.rev || k === IstioLabel.injection || !k.startsWith('kubernetes.io/'));
  const labelText = shown.length ? shown.map((k) => `${k}=${labels[k]}`).join(', ') : 'none';
  if (matches.length === 0) {
    lines.push(`No webhook injects new pods of namespace ${namespace} (labels: ${labelText}): they would start without a sidecar.`);
  } else {
    lines.push(
      `New pods of namespace ${namespace} (labels: ${labelText}) get the sidecar of revision ${plainRevision ?? 'none'}${conflict ? ' (several webhooks match: the apiserver calls them in name order and the last injection wins)' : ''}.`,
    );
  }
  const targetMatches = matches.filter((m) => m.revision === target);
  for (const m of targetMatches) {
    const cfg = configs.find((c) => c.metadata?.name === m.configName);
    const hook = cfg?.webhooks?.find((h) => h.name === m.webhookName);
    lines.push(
      `The target's webhook still intercepts: MutatingWebhookConfiguration ${m.configName}, webhook ${m.webhookName} (revision ${target}${m.tag !== undefined ? `, tag ${m.tag}` : ''}) matches because its namespaceSelector ${explainSelector(hook?.namespaceSelector, labels)}${hook?.objectSelector ? ` and objectSelector ${explainSelector(hook.objectSelector, {})}` : ''} hold. Fix: ${fixFor(m, namespace, labels, plan)}`,
    );
  }
  if (targetMatches.length === 0 && plainRevision === plan.source.revision)
    lines.push(`No webhook of the target ${target} matches; a restart puts the pods back on ${plan.source.revision}.`);
  return { injectors, message: lines.join(' '), targetIntercepts: targetMatches.length > 0 };
}

export async function explainInjection(deps: ClusterDeps, input: NamespaceRef): Promise<{ injectors: string[]; message: string }> {
  const [ns, configs, pods] = await Promise.all([
    deps.kube.getNamespace(input.namespace),
    deps.kube.listMutatingWebhookConfigurations(),
    deps.kube.listPods(input.namespace),
  ]);
  const namespace = mustExist(ns, { resource: 'namespaces', group: '', name: input.namespace });
  const e = explain(
    input.namespace,
    namespace.metadata?.labels ?? {},
    configs as MutatingWebhookConfigurationLike[],
    podLabelVariants(pods),
    input.plan,
  );
  return { injectors: e.injectors, message: e.message };
}
