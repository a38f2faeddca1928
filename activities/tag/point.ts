// The revision-tag path (plan target.tag): namespaces select the tag (istio.io/rev=<tag>), and the
// tag's injector configuration (`istio-revision-tag-<tag>[-<ns>]`, labeled istio.io/tag=<tag>)
// says which istiod injects their new pods. Pointing the tag at a revision is what
// `istioctl tag set <tag> --revision <rev> --overwrite` does to it: every webhook calls that
// revision's istiod (its injector's clientConfig) and the configuration carries its istio.io/rev,
// so that istiod keeps the caBundle current. One change moves every tag namespace's next pods; the
// waves then restart them. Undone the same way, towards the source, after which the namespaces a
// rollback pinned to the source revision get the tag label back.
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { RunRef } from '../contract.js';
import { IstioLabel, injectorWebhookConfigName } from '../../mesh/naming.js';
import type { Plan } from '../../plan/schema.js';
import { retryOnKubeConflict } from '../kube/errors.js';
import { TAG_PINNED_ANNOTATION, readTagPins } from '../namespace/labels.js';
import type { ClusterDeps } from '../shared/deps.js';
import { pointWebhooksPatch, webhooksPointAt, type WebhookClientConfig } from '../shared/webhook-move.js';
import { FailureType } from '../failures.js';

/** The tag's injector configurations (there should be exactly one). */
export function tagConfigs(mwcs: readonly V1MutatingWebhookConfiguration[], tag: string): V1MutatingWebhookConfiguration[] {
  return mwcs.filter((c) => c.metadata?.labels?.[IstioLabel.tag] === tag);
}

/** What a revision's own injector webhooks call: its chart configuration's clientConfig (pure). */
export function revisionInjectorClientConfig(
  mwcs: readonly V1MutatingWebhookConfiguration[],
  revision: string,
  istiodNamespace: string,
): WebhookClientConfig | undefined {
  const own =
    mwcs.find((c) => c.metadata?.name === injectorWebhookConfigName(revision, istiodNamespace)) ??
    mwcs.find((c) => c.metadata?.labels?.[IstioLabel.rev] === revision && c.metadata.labels[IstioLabel.tag] === undefined);
  const config = own?.webhooks?.find((w) => w.clientConfig.service || w.clientConfig.url)?.clientConfig;
  return config ? (structuredClone(config) as WebhookClientConfig) : undefined;
}

export type TagDecision =
  | { name: string; revision: string; to: WebhookClientConfig; patch?: object }
  /** Why the tag cannot be pointed there. */
  | { error: string };

/** Where the tag's configuration must point for `to`, and the patch that gets it there (pure). */
export function decideTagPoint(
  mwcs: readonly V1MutatingWebhookConfiguration[],
  plan: Pick<Plan, 'source' | 'target'>,
  to: 'target' | 'source',
): TagDecision {
  const tag = plan.target.tag;
  if (tag === undefined) return { error: 'the plan has no target.tag' };
  const found = tagConfigs(mwcs, tag);
  if (found.length !== 1)
    return {
      error:
        found.length === 0
          ? `no MutatingWebhookConfiguration is labeled istio.io/tag=${tag}: create the tag first (istioctl tag set ${tag} --revision ${plan.source.revision})`
          : `${found.length} MutatingWebhookConfigurations are labeled istio.io/tag=${tag} (${found.map((c) => c.metadata?.name ?? '?').join(', ')}): keep one`,
    };
  const side = plan[to];
  const target = revisionInjectorClientConfig(mwcs, side.revision, side.istiodNamespace);
  if (!target)
    return {
      error: `the ${to} revision ${side.revision} has no injector webhook configuration (${injectorWebhookConfigName(side.revision, side.istiodNamespace)}) to point the tag at`,
    };
  const cfg = found[0]!;
  const patch = pointWebhooksPatch(cfg, target, side.revision);
  return { name: cfg.metadata?.name ?? '', revision: side.revision, to: target, ...(patch ? { patch } : {}) };
}

/**
 * The webhook configurations as they will be once the plan's revision tag points at the target
 * (pure): what preflight evaluates injection on. Unchanged without a tag, or when it cannot move.
 */
export function afterTagSwitch(
  mwcs: readonly V1MutatingWebhookConfiguration[],
  plan: Pick<Plan, 'source' | 'target'>,
): V1MutatingWebhookConfiguration[] {
  if (plan.target.tag === undefined) return [...mwcs];
  const d = decideTagPoint(mwcs, plan, 'target');
  if ('error' in d || !d.patch) return [...mwcs];
  return mwcs.map((c) =>
    c.metadata?.name !== d.name
      ? c
      : {
          ...c,
          metadata: { ...c.metadata, labels: { ...c.metadata.labels, [IstioLabel.rev]: d.revision } },
          webhooks: (c.webhooks ?? []).map((w) => ({ ...w, clientConfig: structuredClone(d.to) as typeof w.clientConfig })),
        },
  );
}

/** Point the plan's revision tag at the target (or back at the source). Idempotent: a tag already there is left alone. */
export async function pointTag(
  deps: ClusterDeps,
  input: RunRef & { to: 'target' | 'source' },
): Promise<{ config: string; changed: boolean }> {
  return retryOnKubeConflict(async () => {
    const mwcs = await deps.kube.listMutatingWebhookConfigurations();
    const d = decideTagPoint(mwcs, input.plan, input.to);
    if ('error' in d) throw ApplicationFailure.create({ type: FailureType.TagNotMovable, nonRetryable: true, message: d.error });
    if (!d.patch) return { config: d.name, changed: false };
    const current = mwcs.find((c) => c.metadata?.name === d.name)!;
    // Conditional on what was read: another writer (an istiod patching the caBundle) gets a 409 and a re-read.
    const patch = {
      ...d.patch,
      metadata: { ...(d.patch as { metadata: object }).metadata, resourceVersion: current.metadata?.resourceVersion },
    };
    const moved = await deps.kube.patchMutatingWebhookConfiguration(d.name, patch, 'merge');
    if (!webhooksPointAt(moved, d.to, d.revision))
      throw ApplicationFailure.create({
        type: FailureType.TagNotMovable,
        nonRetryable: false,
        message: `${d.name} does not call ${d.revision}'s istiod after the patch (changed meanwhile?)`,
      });
    deps.logger?.info(
      { migrationId: input.migrationId, tag: input.plan.target.tag, config: d.name, revision: d.revision },
      'revision tag pointed',
    );
    return { config: d.name, changed: true };
  });
}

/**
 * After the tag points back at the source: the namespaces this run pinned to the source revision
 * while rolling back get istio.io/rev=<tag> again (the same sidecar: no restart) and lose the pin.
 */
export async function unpinTagNamespaces(deps: ClusterDeps, input: RunRef): Promise<{ unpinned: number; sample: string[] }> {
  const tag = input.plan.target.tag;
  if (tag === undefined) return { unpinned: 0, sample: [] };
  const pinned = await deps.kube.listNamespaces({ labelSelector: `${IstioLabel.rev}=${input.plan.source.revision}` });
  const names = pinned.filter((n) => readTagPins(n.metadata?.annotations ?? {})[input.migrationId] === tag).map((n) => n.metadata!.name!);
  for (const name of names) {
    await retryOnKubeConflict(async () => {
      const ns = await deps.kube.getNamespace(name);
      const pins = readTagPins(ns?.metadata?.annotations ?? {});
      if (!ns || pins[input.migrationId] !== tag) return;
      delete pins[input.migrationId];
      await deps.kube.patchNamespace(
        name,
        {
          metadata: {
            resourceVersion: ns.metadata?.resourceVersion,
            labels: { [IstioLabel.rev]: tag },
            annotations: { [TAG_PINNED_ANNOTATION]: Object.keys(pins).length > 0 ? JSON.stringify(pins) : null },
          },
        },
        'merge',
      );
    });
  }
  if (names.length > 0)
    deps.logger?.info({ migrationId: input.migrationId, tag, namespaces: names.length }, 'namespaces back on the revision tag');
  return { unpinned: names.length, sample: names.slice(0, 10) };
}
