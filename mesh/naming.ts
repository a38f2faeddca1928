// Names and well-known keys Istio's charts and istiod use (docs/istio-facts.md §2, §4, §5, §7). The twin creates
// objects under these names and the activities look them up by the same functions, so a name is
// spelled once.

/** The namespace Istio's charts treat specially: names get no namespace suffix there. */
export const ISTIO_SYSTEM_NAMESPACE = 'istio-system';
export const DEFAULT_REVISION = 'default';

export const IstioLabel = {
  /** Namespace (and pod objectSelector) label choosing a revision or tag. */
  rev: 'istio.io/rev',
  /** Legacy namespace label; `enabled` selects the default revision and overrides istio.io/rev. */
  injection: 'istio-injection',
  /** Pod label opting a pod in (`true`) or out (`false`) of injection. */
  inject: 'sidecar.istio.io/inject',
  /** On a revision-tag MWC. */
  tag: 'istio.io/tag',
  /** Set by the namespace controller on istio-ca-root-cert. */
  config: 'istio.io/config',
  tlsMode: 'security.istio.io/tlsMode',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
} as const;

export const IstioAnnotation = {
  /** JSON written by the injector; its `revision` is the injecting istiod's revision (docs/istio-facts.md §5). */
  sidecarStatus: 'sidecar.istio.io/status',
  /** Legacy per-pod opt-out still honoured by the injector. */
  inject: 'sidecar.istio.io/inject',
} as const;

export const CA_ROOT_CONFIGMAP = 'istio-ca-root-cert';
export const CA_ROOT_CERT_KEY = 'root-cert.pem';
export const MESH_CONFIG_KEY = 'mesh';

export const IstiodPort = {
  /** XDS over TLS, verified with the mounted root cert. */
  xds: 15012,
  /** Monitoring: /metrics and the /debug endpoints istioctl reads (syncz). */
  monitoring: 15014,
  /** Sidecar-injector webhook server (Service port 443 targets it). */
  webhook: 15017,
} as const;

/** "" and "default" both mean the default revision: no name suffix. */
export function isDefaultRevision(rev: string): boolean {
  return rev === '' || rev === DEFAULT_REVISION;
}

function revSuffix(rev: string): string {
  return isDefaultRevision(rev) ? '' : `-${rev}`;
}

function nsSuffix(istiodNamespace: string): string {
  return istiodNamespace === ISTIO_SYSTEM_NAMESPACE ? '' : `-${istiodNamespace}`;
}

/**
 * The istiod chart's MWC name: `istio-sidecar-injector[-<rev>]`, plus `-<namespace>` outside
 * istio-system. For revision istio-1-16-5 in namespace istio-1-16-5 that is
 * `istio-sidecar-injector-istio-1-16-5-istio-1-16-5` (docs/istio-facts.md §2 Correction).
 */
export function injectorWebhookConfigName(rev: string, istiodNamespace: string): string {
  return `istio-sidecar-injector${revSuffix(rev)}${nsSuffix(istiodNamespace)}`;
}

/**
 * The validating webhook configuration every install renders for its revision:
 * `istio-validator[-<rev>]-<namespace>` (the namespace suffix even in istio-system), objectSelector
 * `istio.io/rev In [<rev>]`: it validates only objects labeled with the revision.
 */
export function validatorWebhookConfigName(rev: string, istiodNamespace: string): string {
  return `istio-validator${revSuffix(rev)}-${istiodNamespace}`;
}

/**
 * The default revision's validator (`values.defaultRevision`, or `istioctl tag set default`): no
 * objectSelector, so it validates every Istio object in the cluster; istiod turns its
 * failurePolicy to Fail once it has seen itself reject a config, so it is fail-closed.
 */
export const DEFAULT_VALIDATOR_CONFIG = 'istiod-default-validator';

/** Path of istiod's validation webhook (port 15017, beside /inject). */
export const VALIDATE_PATH = '/validate';

/** `istio-revision-tag-<tag>[-<namespace>]`. */
export function revisionTagConfigName(tag: string, istiodNamespace: string): string {
  return `istio-revision-tag-${tag}${nsSuffix(istiodNamespace)}`;
}

/** `istiod` or `istiod-<rev>`; also the Deployment's name. */
export function istiodServiceName(rev: string): string {
  return `istiod${revSuffix(rev)}`;
}

/** IstiodHost: `istiod[-<rev>].<ns>.svc` (docs/istio-facts.md §5). */
export function istiodHost(istiodNamespace: string, rev: string): string {
  return `${istiodServiceName(rev)}.${istiodNamespace}.svc`;
}

/** The chart's `discoveryAddress`: where an injected sidecar opens XDS. */
export function discoveryAddress(istiodNamespace: string, rev: string): string {
  return `${istiodHost(istiodNamespace, rev)}:${IstiodPort.xds}`;
}

/** ConfigMap `istio` or `istio-<rev>` in istiod's namespace, key `mesh` (docs/istio-facts.md §7). */
export function meshConfigMapName(rev: string): string {
  return `istio${revSuffix(rev)}`;
}

/** The revision an istiod Service/Deployment name stands for (`istiod` → default). */
export function revisionOfIstiodService(name: string): string | null {
  if (name === 'istiod') return DEFAULT_REVISION;
  return name.startsWith('istiod-') && name.length > 'istiod-'.length ? name.slice('istiod-'.length) : null;
}
