// Pointing a webhook configuration at another revision's istiod, as `istioctl tag set` does: every
// webhook calls the new clientConfig, and the configuration carries the revision's istio.io/rev
// label, so that istiod keeps its caBundle current. Used for the default validator (decommission)
// and for a revision tag's injector (plan target.tag). Pure.
import { IstioLabel } from '../../mesh/naming.js';

/** A webhook's clientConfig: where the apiserver sends the review, and the CA it trusts. */
export interface WebhookClientConfig {
  url?: string;
  service?: { name: string; namespace: string; path?: string; port?: number };
  caBundle?: string;
}

/** The part of a Mutating- or ValidatingWebhookConfiguration this module reads. */
export interface WebhookConfigurationLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  webhooks?: { clientConfig?: unknown }[];
}

/** Whether every webhook already calls `to` (caBundle aside: the revision's istiod re-patches it) and the configuration is labeled for the revision. */
export function webhooksPointAt(cfg: WebhookConfigurationLike, to: WebhookClientConfig, revision: string): boolean {
  if (cfg.metadata?.labels?.[IstioLabel.rev] !== revision) return false;
  const same = (c: WebhookClientConfig | undefined): boolean =>
    JSON.stringify(c?.service ?? null) === JSON.stringify(to.service ?? null) && (c?.url ?? null) === (to.url ?? null);
  return (cfg.webhooks ?? []).every((w) => same(w.clientConfig as WebhookClientConfig | undefined));
}

/** The merge patch that points every webhook at `to` and labels the configuration for `revision`; undefined when it already does. */
export function pointWebhooksPatch(cfg: WebhookConfigurationLike, to: WebhookClientConfig, revision: string): object | undefined {
  if (webhooksPointAt(cfg, to, revision)) return undefined;
  return {
    metadata: { labels: { [IstioLabel.rev]: revision } },
    // A merge patch replaces the list: every webhook as it is, with the new clientConfig.
    webhooks: (cfg.webhooks ?? []).map((w) => ({ ...w, clientConfig: structuredClone(to) })),
  };
}
