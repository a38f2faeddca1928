// Which webhook injects a pod (docs/istio-facts.md §2): the kube-apiserver evaluates every
// MutatingWebhookConfiguration's webhooks against the namespace labels (namespaceSelector) and the
// pod labels (objectSelector) at pod CREATE, calls the matching ones in configuration-name order,
// and Istio's injector replaces an earlier injection, so the last match wins. Unlike
// `istioctl x injector list` this evaluates every webhook and reports every match.
import { selectorMatches, type LabelSelector, type Labels } from './labels.js';
import {
  DEFAULT_REVISION,
  IstioAnnotation,
  IstioLabel,
  injectorWebhookConfigName,
  istiodServiceName,
  revisionOfIstiodService,
  revisionTagConfigName,
} from './naming.js';

/**
 * A label selector as `@kubernetes/client-node` types it (operator is a plain string). Unknown
 * operators make the selector throw when evaluated, as apimachinery errors.
 */
export interface SelectorLike {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface WebhookRule {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}

/** The fields of a mutating webhook this module reads (structurally a V1MutatingWebhook). */
export interface MutatingWebhookLike {
  name: string;
  namespaceSelector?: SelectorLike;
  objectSelector?: SelectorLike;
  rules?: WebhookRule[];
  clientConfig?: {
    url?: string;
    service?: { name: string; namespace: string; path?: string; port?: number };
    caBundle?: string;
  };
  failurePolicy?: string;
  sideEffects?: string;
  admissionReviewVersions?: string[];
  reinvocationPolicy?: string;
  matchPolicy?: string;
  timeoutSeconds?: number;
}

export interface MutatingWebhookConfigurationLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  webhooks?: MutatingWebhookLike[];
}

export const WebhookName = {
  revNamespace: 'rev.namespace.sidecar-injector.istio.io',
  revObject: 'rev.object.sidecar-injector.istio.io',
  namespace: 'namespace.sidecar-injector.istio.io',
  object: 'object.sidecar-injector.istio.io',
} as const;

export const INJECT_PATH = '/inject';

export interface InjectorWebhooksOptions {
  /** Adds the legacy `istio-injection=enabled` webhooks (default revision, or the `default` tag). */
  isDefault: boolean;
  /** For a revision-tag MWC: the tag namespaces select with istio.io/rev. */
  tag?: string;
  istiodNamespace: string;
  /** Service port of istiod's webhook (the chart uses 443 → targetPort 15017). */
  servicePort?: number;
  caBundle?: string;
}

const NOT_OPTED_OUT = { key: IstioLabel.inject, operator: 'NotIn', values: ['false'] };

/**
 * The webhook entries of the istiod chart's MWC for `rev` (docs/istio-facts.md §2 table). A tag's webhooks select
 * on the tag name but call the revision's istiod.
 */
export function istioInjectorWebhooks(rev: string, opts: InjectorWebhooksOptions): MutatingWebhookLike[] {
  const selected = opts.tag ?? (rev === '' ? DEFAULT_REVISION : rev);
  const base = (name: string): MutatingWebhookLike => ({
    name,
    clientConfig: {
      service: { name: istiodServiceName(rev), namespace: opts.istiodNamespace, path: INJECT_PATH, port: opts.servicePort ?? 443 },
      ...(opts.caBundle ? { caBundle: opts.caBundle } : {}),
    },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    failurePolicy: 'Fail',
    sideEffects: 'None',
    reinvocationPolicy: 'Never',
    admissionReviewVersions: ['v1beta1', 'v1'],
  });
  const hooks: MutatingWebhookLike[] = [
    {
      ...base(WebhookName.revNamespace),
      namespaceSelector: {
        matchExpressions: [
          { key: IstioLabel.rev, operator: 'In', values: [selected] },
          { key: IstioLabel.injection, operator: 'DoesNotExist' },
        ],
      },
      objectSelector: { matchExpressions: [{ ...NOT_OPTED_OUT, values: ['false'] }] },
    },
    {
      ...base(WebhookName.revObject),
      namespaceSelector: {
        matchExpressions: [
          { key: IstioLabel.rev, operator: 'DoesNotExist' },
          { key: IstioLabel.injection, operator: 'DoesNotExist' },
        ],
      },
      objectSelector: {
        matchExpressions: [
          { ...NOT_OPTED_OUT, values: ['false'] },
          { key: IstioLabel.rev, operator: 'In', values: [selected] },
        ],
      },
    },
  ];
  if (opts.isDefault) {
    hooks.push(
      {
        ...base(WebhookName.namespace),
        namespaceSelector: { matchExpressions: [{ key: IstioLabel.injection, operator: 'In', values: ['enabled'] }] },
        objectSelector: { matchExpressions: [{ ...NOT_OPTED_OUT, values: ['false'] }] },
      },
      {
        ...base(WebhookName.object),
        namespaceSelector: {
          matchExpressions: [
            { key: IstioLabel.injection, operator: 'DoesNotExist' },
            { key: IstioLabel.rev, operator: 'DoesNotExist' },
          ],
        },
        objectSelector: {
          matchExpressions: [
            { key: IstioLabel.inject, operator: 'In', values: ['true'] },
            { key: IstioLabel.rev, operator: 'DoesNotExist' },
          ],
        },
      },
    );
  }
  return hooks;
}

/** The whole MWC object the chart renders for a revision (or a revision tag when `tag` is set). */
export function istioInjectorWebhookConfiguration(
  rev: string,
  opts: InjectorWebhooksOptions,
): { apiVersion: string; kind: string; metadata: { name: string; labels: Record<string, string> }; webhooks: MutatingWebhookLike[] } {
  const revLabel = rev === '' ? DEFAULT_REVISION : rev;
  const labels: Record<string, string> = { [IstioLabel.rev]: revLabel, app: 'sidecar-injector' };
  if (opts.tag !== undefined) labels[IstioLabel.tag] = opts.tag;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name:
        opts.tag !== undefined
          ? revisionTagConfigName(opts.tag, opts.istiodNamespace)
          : injectorWebhookConfigName(rev, opts.istiodNamespace),
      labels,
    },
    webhooks: istioInjectorWebhooks(rev, opts),
  };
}

function ruleCoversPodCreate(r: WebhookRule): boolean {
  const any = (list: string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);
  return any(r.operations, 'CREATE') && any(r.apiGroups, '') && any(r.resources, 'pods');
}

/**
 * Whether the apiserver would call this webhook for a pod CREATE. An absent namespaceSelector or
 * objectSelector defaults to `{}` in admissionregistration/v1, i.e. matches everything.
 */
export function webhookMatchesPod(hook: MutatingWebhookLike, nsLabels: Labels, podLabels: Labels): boolean {
  if (!(hook.rules ?? []).some(ruleCoversPodCreate)) return false;
  return (
    selectorMatches((hook.namespaceSelector ?? {}) as LabelSelector, nsLabels) &&
    selectorMatches((hook.objectSelector ?? {}) as LabelSelector, podLabels)
  );
}

export interface WebhookMatch {
  configName: string;
  webhookName: string;
  /** The istiod revision this webhook calls (what ends up in sidecar.istio.io/status). */
  revision: string | null;
  /** Set when the configuration is a revision tag. */
  tag?: string;
}

/** The revision an MWC injects: its istio.io/rev label, else read from the service it calls. */
export function webhookRevision(config: MutatingWebhookConfigurationLike, hook: MutatingWebhookLike): string | null {
  const label = config.metadata?.labels?.[IstioLabel.rev];
  if (label) return label;
  const svc = hook.clientConfig?.service?.name;
  return svc ? revisionOfIstiodService(svc) : null;
}

/** Every (configuration, webhook) the apiserver would call for this pod, in the order it calls them. */
export function webhooksInjecting(
  configs: readonly MutatingWebhookConfigurationLike[],
  nsLabels: Labels | undefined,
  podLabels: Labels | undefined,
): WebhookMatch[] {
  const sorted = [...configs].sort((a, b) => compareNames(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  const out: WebhookMatch[] = [];
  for (const cfg of sorted) {
    for (const hook of cfg.webhooks ?? []) {
      if (!webhookMatchesPod(hook, nsLabels ?? {}, podLabels ?? {})) continue;
      const tag = cfg.metadata?.labels?.[IstioLabel.tag];
      out.push({
        configName: cfg.metadata?.name ?? '',
        webhookName: hook.name,
        revision: webhookRevision(cfg, hook),
        ...(tag !== undefined ? { tag } : {}),
      });
    }
  }
  return out;
}

export interface InjectionDecision {
  /** The revision whose sidecar the pod ends up with (last match wins), or null: no sidecar. */
  revision: string | null;
  matches: WebhookMatch[];
  /** More than one webhook injects: a blocking conflict (the pod is injected twice). */
  conflict: boolean;
}

export function injectingRevision(
  configs: readonly MutatingWebhookConfigurationLike[],
  nsLabels: Labels | undefined,
  podLabels: Labels | undefined,
): InjectionDecision {
  const matches = webhooksInjecting(configs, nsLabels, podLabels);
  const last = matches[matches.length - 1];
  return { revision: last ? last.revision : null, matches, conflict: matches.length > 1 };
}

/** Byte order, as the apiserver sorts webhook configurations by name. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const OPT_OUT_VALUES = new Set(['false', 'n', 'no', 'off', '0']);

/** Namespaces Istio's injector never injects into, whatever the webhook selectors say. */
export const NEVER_INJECTED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public'];

/**
 * The injector's own check once a webhook called it (pkg/kube/inject injectRequired): host-network
 * pods, the never-injected namespaces and an explicit opt-out (label, or the legacy annotation)
 * get no sidecar; everything else is injected (policy `enabled`).
 */
export function injectorAccepts(
  pod: {
    metadata?: { namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: { hostNetwork?: boolean };
  },
  namespace?: string,
): boolean {
  if (pod.spec?.hostNetwork) return false;
  const ns = namespace ?? pod.metadata?.namespace ?? '';
  if (NEVER_INJECTED_NAMESPACES.includes(ns)) return false;
  const opt = pod.metadata?.labels?.[IstioLabel.inject] ?? pod.metadata?.annotations?.[IstioAnnotation.inject];
  return opt === undefined || !OPT_OUT_VALUES.has(opt.toLowerCase());
}
