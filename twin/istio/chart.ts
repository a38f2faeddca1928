// What Istio's istiod chart renders for one revision (manifests/charts/istio-control/istio-discovery
// of the Istio snapshot the lab installs: mutatingwebhook.yaml, revision-tags-mwc.yaml,
// validatingwebhookconfiguration.yaml, configmap.yaml, service.yaml), transcribed from the chart's
// templates, not from meshmove's own reading of them in mesh/: the twin is the referee, and
// test/lab/twin-vs-real.test.ts pins these objects against what the real chart renders.
//
// The chart knows the default revision as revision "" (names without a suffix, selectors on
// "default"); the twin's scenarios call it "default".

/** The chart's `.Values.revision`: "" for the default revision. */
function chartRevision(revision: string): string {
  return revision === 'default' ? '' : revision;
}

/** `{{- if not (eq .Values.revision "") }}-{{ .Values.revision }}{{- end }}` */
function dashRevision(revision: string): string {
  const r = chartRevision(revision);
  return r === '' ? '' : `-${r}`;
}

/** `{{ .Values.revision | default "default" }}` */
export function revisionLabel(revision: string): string {
  return chartRevision(revision) || 'default';
}

/** service.yaml / deployment.yaml: `istiod[-<rev>]`. */
export function istiodName(revision: string): string {
  return `istiod${dashRevision(revision)}`;
}

/** configmap.yaml: `istio[-<rev>]`, key `mesh`. */
export function meshConfigName(revision: string): string {
  return `istio${dashRevision(revision)}`;
}

/** The injection template's discoveryAddress: `istiod[-<rev>].<ns>.svc:15012`. */
export function xdsAddress(revision: string, namespace: string): string {
  return `${istiodName(revision)}.${namespace}.svc:15012`;
}

/** mutatingwebhook.yaml: the namespace suffix only outside istio-system. */
export function injectorConfigName(revision: string, namespace: string): string {
  return `istio-sidecar-injector${dashRevision(revision)}${namespace === 'istio-system' ? '' : `-${namespace}`}`;
}

/** revision-tags-mwc.yaml: `istio-revision-tag-<tag>`, the namespace suffix only outside istio-system. */
export function tagConfigName(tag: string, namespace: string): string {
  return `istio-revision-tag-${tag}${namespace === 'istio-system' ? '' : `-${namespace}`}`;
}

/** validatingwebhookconfiguration.yaml: `istio-validator[-<rev>]-<istioNamespace>`, the suffix always. */
export function validatorConfigName(revision: string, namespace: string): string {
  return `istio-validator${dashRevision(revision)}-${namespace}`;
}

/** The base chart's default-revision validator (values.defaultRevision): no objectSelector. */
export const DEFAULT_VALIDATOR = 'istiod-default-validator';

export const INJECTION_PATH = '/inject';
export const VALIDATION_PATH = '/validate';

type Expression = { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] };
const is = (key: string, ...values: string[]): Expression => ({ key, operator: 'In', values });
const isNot = (key: string, ...values: string[]): Expression => ({ key, operator: 'NotIn', values });
const absent = (key: string): Expression => ({ key, operator: 'DoesNotExist' });

const REV = 'istio.io/rev';
const INJECTION = 'istio-injection';
const INJECT = 'sidecar.istio.io/inject';

/**
 * The chart's webhook "segments": the prefix of `<prefix>sidecar-injector.istio.io` and the two
 * selectors, in the order the templates list them. `selects` is the revision (or tag) name the
 * istio.io/rev expressions hold; the last two only for the default revision or the `default` tag.
 */
function segments(selects: string, legacy: boolean): Array<{ prefix: string; namespace: Expression[]; object: Expression[] }> {
  const out = [
    // Case 1: the namespace selects the revision, the pod does not opt out (istio-injection wins).
    { prefix: 'rev.namespace.', namespace: [is(REV, selects), absent(INJECTION)], object: [isNot(INJECT, 'false')] },
    // Case 2: an unlabeled namespace, the pod selects the revision.
    { prefix: 'rev.object.', namespace: [absent(REV), absent(INJECTION)], object: [isNot(INJECT, 'false'), is(REV, selects)] },
  ];
  if (legacy) {
    out.push(
      { prefix: 'namespace.', namespace: [is(INJECTION, 'enabled')], object: [isNot(INJECT, 'false')] },
      { prefix: 'object.', namespace: [absent(INJECTION), absent(REV)], object: [is(INJECT, 'true'), absent(REV)] },
    );
  }
  return out;
}

export interface InjectorConfigOptions {
  namespace: string;
  /** The istio-injection=enabled and sidecar.istio.io/inject=true webhooks (the default revision). */
  legacy: boolean;
  /** Render revision-tags-mwc.yaml for this tag instead of mutatingwebhook.yaml. */
  tag?: string | undefined;
  caBundle?: string | undefined;
}

/** The MutatingWebhookConfiguration of a revision (or of one of its tags), as the chart renders it. */
export function injectorConfiguration(
  revision: string,
  o: InjectorConfigOptions,
): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string> };
  webhooks: Array<Record<string, unknown>>;
} {
  const labels: Record<string, string> = {
    ...(o.tag !== undefined ? { 'istio.io/tag': o.tag } : {}),
    [REV]: revisionLabel(revision),
    app: 'sidecar-injector',
  };
  const selects = o.tag ?? revisionLabel(revision);
  const legacy = o.tag !== undefined ? o.tag === 'default' : o.legacy;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.tag !== undefined ? tagConfigName(o.tag, o.namespace) : injectorConfigName(revision, o.namespace), labels },
    webhooks: segments(selects, legacy).map((s) => ({
      name: `${s.prefix}sidecar-injector.istio.io`,
      clientConfig: {
        service: { name: istiodName(revision), namespace: o.namespace, path: INJECTION_PATH, port: 443 },
        ...(o.caBundle ? { caBundle: o.caBundle } : {}),
      },
      sideEffects: 'None',
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      admissionReviewVersions: ['v1'],
      namespaceSelector: { matchExpressions: s.namespace },
      objectSelector: { matchExpressions: s.object },
    })),
  };
}

/**
 * The validating webhook configurations: `istio-validator[-rev]-<ns>` for objects labeled with the
 * revision, and for the default revision also istiod-default-validator (every Istio object). The
 * chart's failurePolicy is Ignore on a fresh install; istiod makes it Fail once it answers.
 */
export function validatorConfigurations(
  revision: string,
  namespace: string,
  isDefault: boolean,
  caBundle: string,
): Array<Record<string, unknown>> {
  const labels = { app: 'istiod', istio: 'istiod', [REV]: revisionLabel(revision) };
  const webhook = (name: string, objectSelector?: Record<string, unknown>) => ({
    name,
    clientConfig: { service: { name: istiodName(revision), namespace, path: VALIDATION_PATH, port: 443 }, caBundle },
    rules: [
      {
        operations: ['CREATE', 'UPDATE'],
        apiGroups: ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io', 'extensions.istio.io'],
        apiVersions: ['*'],
        resources: ['*'],
        scope: '*',
      },
    ],
    failurePolicy: 'Ignore',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
    ...(objectSelector ? { objectSelector } : {}),
  });
  const configuration = (name: string, hook: Record<string, unknown>) => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name, labels },
    webhooks: [hook],
  });
  const out = [
    configuration(
      validatorConfigName(revision, namespace),
      webhook('rev.validation.istio.io', { matchExpressions: [is(REV, revisionLabel(revision))] }),
    ),
  ];
  if (isDefault) out.push(configuration(DEFAULT_VALIDATOR, webhook('validation.istio.io')));
  return out;
}
