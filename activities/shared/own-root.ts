// Where each control plane's root CA is read, so that it is really its own.
//
// Not istio-ca-root-cert in the control plane's namespace, blindly: a namespace controller writes it
// only where its discoverySelectors select (Istio 1.22+; earlier releases write every namespace),
// its own namespace included only when selected, and never removes it. On a real cluster the
// target's namespace held the SOURCE's root for good, and "the target's root" read there made two
// different roots look the same. Not the CA Secret either (istio-ca-secret or cacerts): it carries
// the private key, and meshmove reads no Secrets (deploy/rbac.yaml).
//
// What is its own: the caBundle of the control plane's injector MutatingWebhookConfiguration.
// istiod patches it itself (every MWC labeled istio.io/rev=<its revision>) with the root of the CA
// that signs its serving certificate — its mesh root, self-signed or plugged in (cacerts). Only when
// no caBundle is there is istio-ca-root-cert in its own namespace used, and only if that control
// plane's CA writer certainly covers the namespace and no other control plane's does.
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Namespace } from '@kubernetes/client-node';
import {
  CA_ROOT_CERT_KEY,
  CA_ROOT_CONFIGMAP,
  IstioLabel,
  MESH_CONFIG_KEY,
  injectorWebhookConfigName,
  istiodServiceName,
  meshConfigMapName,
  revisionOfIstiodService,
} from '../../mesh/naming.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess } from '../kube/types.js';
import { pemCertificates } from './ca-roots.js';
import { controlPlaneScope, istiodBuild, writesCaRootInto, type ControlPlaneScope } from './control-plane-scope.js';

export interface ControlPlaneRef {
  revision: string;
  namespace: string;
}

/** A control plane's root (PEM) and where it was read; without `pem`, `from` says what was tried. */
export interface OwnRoot {
  pem?: string;
  from: string;
}

function decodeBundle(b64: string | undefined): string | undefined {
  if (!b64) return undefined;
  const pem = Buffer.from(b64, 'base64').toString('utf8');
  return pemCertificates(pem).length > 0 ? pem : undefined;
}

/** The MWCs that are this control plane's own, best first: the chart's name, then its revision label (revision tags last). */
function ownWebhookConfigs(cp: ControlPlaneRef, mwcs: readonly V1MutatingWebhookConfiguration[]): V1MutatingWebhookConfiguration[] {
  const chart = injectorWebhookConfigName(cp.revision, cp.namespace);
  const rank = (m: V1MutatingWebhookConfiguration): number => {
    const labels = m.metadata?.labels ?? {};
    if (m.metadata?.name === chart) return 0;
    if (labels[IstioLabel.rev] === cp.revision) return labels[IstioLabel.tag] === undefined ? 1 : 2;
    const callsIt = (m.webhooks ?? []).some(
      (w) =>
        w.clientConfig?.service?.namespace === cp.namespace && revisionOfIstiodService(w.clientConfig.service.name ?? '') === cp.revision,
    );
    return callsIt ? 3 : 9;
  };
  return mwcs.filter((m) => rank(m) < 9).sort((a, b) => rank(a) - rank(b));
}

/** The root istiod patched into its own injector's caBundle, if any (pure). */
export function rootFromWebhooks(cp: ControlPlaneRef, mwcs: readonly V1MutatingWebhookConfiguration[]): OwnRoot | undefined {
  for (const m of ownWebhookConfigs(cp, mwcs)) {
    const bundles = [
      ...new Set((m.webhooks ?? []).map((w) => decodeBundle(w.clientConfig?.caBundle)).filter((p): p is string => p !== undefined)),
    ];
    // Webhooks of one configuration that disagree are mid-rotation or edited by hand: not a clear answer.
    if (bundles.length !== 1) continue;
    return {
      pem: bundles[0]!,
      from: `the caBundle of MutatingWebhookConfiguration ${m.metadata?.name ?? '?'}, which istiod-${cp.revision} patches with its own root`,
    };
  }
  return undefined;
}

export interface OwnNamespaceView {
  cp: ControlPlaneRef;
  /** root-cert.pem of istio-ca-root-cert in the control plane's namespace. */
  pem: string | undefined;
  /** Whether its own CA writer covers its namespace (undefined: could not tell). */
  writesOwn: boolean | undefined;
  /** Other control planes whose CA writers cover that namespace too (or may: could not tell). */
  othersWriting: string[];
  /** Why there was no caBundle to read. */
  noCaBundle: string;
}

/** The fallback: istio-ca-root-cert in its own namespace, only when nobody else can have written it (pure). */
export function rootFromOwnNamespace(v: OwnNamespaceView): OwnRoot {
  const where = `${CA_ROOT_CONFIGMAP} in ${v.cp.namespace}`;
  if (v.pem === undefined || pemCertificates(v.pem).length === 0) return { from: `${v.noCaBundle}, and there is no ${where}` };
  if (v.writesOwn !== true) {
    return {
      from: `${v.noCaBundle}, and ${where} is not necessarily its own: ${v.writesOwn === false ? `istiod-${v.cp.revision}'s discoverySelectors do not select ${v.cp.namespace}, so its CA writer does not write there` : `whether istiod-${v.cp.revision} writes there could not be told`}`,
    };
  }
  if (v.othersWriting.length > 0) {
    return {
      from: `${v.noCaBundle}, and ${where} is not necessarily its own: ${v.othersWriting.join(', ')} also write${v.othersWriting.length === 1 ? 's' : ''} there`,
    };
  }
  return { pem: v.pem, from: `${where} (${v.noCaBundle}; only istiod-${v.cp.revision} writes that namespace)` };
}

interface ScopeRead {
  scope: ControlPlaneScope;
  version: string | undefined;
}

async function scopeOf(kube: KubeAccess, cp: ControlPlaneRef): Promise<ScopeRead | undefined> {
  const [d, mesh] = await Promise.all([
    kube.getWorkload('Deployment', cp.namespace, istiodServiceName(cp.revision)) as Promise<V1Deployment | undefined>,
    kube.getConfigMap(cp.namespace, meshConfigMapName(cp.revision)),
  ]);
  if (!mesh) return undefined;
  try {
    const build = istiodBuild(d);
    return { scope: controlPlaneScope(build, parseMeshConfig(mesh.data?.[MESH_CONFIG_KEY]).discoverySelectors), version: build.version };
  } catch {
    return undefined;
  }
}

/**
 * Each control plane's own root. `mwcs` may be passed when already listed. Never reads a Secret.
 * `others` are the other control planes in the cluster (for the fallback's "nobody else writes it").
 */
export async function readOwnRoot(
  kube: KubeAccess,
  cp: ControlPlaneRef,
  others: readonly ControlPlaneRef[],
  mwcs?: readonly V1MutatingWebhookConfiguration[],
): Promise<OwnRoot> {
  const configs = mwcs ?? (await kube.listMutatingWebhookConfigurations());
  const fromWebhook = rootFromWebhooks(cp, configs);
  if (fromWebhook) return fromWebhook;
  const noCaBundle = `no caBundle on istiod-${cp.revision}'s injector (MutatingWebhookConfiguration ${injectorWebhookConfigName(cp.revision, cp.namespace)})`;
  const [cm, ns] = await Promise.all([
    kube.getConfigMap(cp.namespace, CA_ROOT_CONFIGMAP),
    kube.getNamespace(cp.namespace) as Promise<V1Namespace | undefined>,
  ]);
  const labels = ns?.metadata?.labels ?? {};
  const covers = async (x: ControlPlaneRef): Promise<boolean | undefined> => {
    const s = await scopeOf(kube, x);
    return s && writesCaRootInto(s.scope, s.version, cp.namespace, labels);
  };
  const writesOwn = await covers(cp);
  const othersWriting: string[] = [];
  for (const o of others) if ((await covers(o)) !== false) othersWriting.push(`istiod-${o.revision} (${o.namespace})`);
  return rootFromOwnNamespace({ cp, pem: cm?.data?.[CA_ROOT_CERT_KEY], writesOwn, othersWriting, noCaBundle });
}

/** Both control planes' own roots (preflight's root-CA check, the namespace's CA wait), with one list of the webhook configurations. */
export async function readControlPlaneRoots(
  kube: KubeAccess,
  plan: Pick<Plan, 'source' | 'target'>,
): Promise<{ source: OwnRoot; target: OwnRoot }> {
  const source = { revision: plan.source.revision, namespace: plan.source.istiodNamespace };
  const target = { revision: plan.target.revision, namespace: plan.target.istiodNamespace };
  const mwcs = await kube.listMutatingWebhookConfigurations();
  const [s, t] = await Promise.all([readOwnRoot(kube, source, [target], mwcs), readOwnRoot(kube, target, [source], mwcs)]);
  return { source: s, target: t };
}
