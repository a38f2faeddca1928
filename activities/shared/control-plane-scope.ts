// How far a control plane's discoverySelectors reach, by what the cluster runs. Istio 1.22+ (and
// 1.16–1.21 with ENABLE_ENHANCED_RESOURCE_SCOPING=true) scope its CA writer and the Istio config it
// reads by them: a namespace it does not select gets no istio-ca-root-cert from it — its own
// namespace included — and its Gateways and VirtualServices are ignored. Older istiods write the
// root into every namespace and read config everywhere (docs/istio-facts.md §3, §4; seen on a real istiod).
//
// Read from the istiod Deployment: the image tag of its `discovery` container and the env var. An
// unreadable version (a digest, `latest`, a vendor's tag) is taken as current Istio — scoped — and
// said so: that is the behaviour of every supported release.
import type { V1Deployment } from '@kubernetes/client-node';
import { caWriterExcludes, discovers, enhancedResourceScoping, istioMinorVersion } from '../../mesh/discovery.js';
import type { SelectorLike } from '../../mesh/injection.js';
import type { Labels } from '../../mesh/labels.js';

export const SCOPING_ENV = 'ENABLE_ENHANCED_RESOURCE_SCOPING';

export interface IstiodBuild {
  /** `1.16.5` from `docker.io/istio/pilot:1.16.5`; undefined when the tag is not a version. */
  version?: string;
  /** ENABLE_ENHANCED_RESOURCE_SCOPING when set on the container. */
  scopingFlag?: boolean;
  image?: string;
}

export interface ControlPlaneScope {
  /** discoverySelectors scope the CA writer and Istio config. */
  scoped: boolean;
  /** Why, for messages: "Istio 1.16.5 without ENABLE_ENHANCED_RESOURCE_SCOPING". */
  basis: string;
  discoverySelectors: readonly SelectorLike[];
}

/** The version and scoping flag of an istiod Deployment (pure). */
export function istiodBuild(d: V1Deployment | undefined): IstiodBuild {
  const containers = d?.spec?.template?.spec?.containers ?? [];
  const c = containers.find((x) => x.name === 'discovery') ?? containers[0];
  if (!c) return {};
  const out: IstiodBuild = {};
  if (c.image) out.image = c.image;
  // The tag: after the last ':' that follows the last '/', without an @digest.
  const ref = (c.image ?? '').split('@')[0]!;
  const tag = ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref.slice(ref.lastIndexOf(':') + 1) : '';
  if (istioMinorVersion(tag)) out.version = tag.replace(/^v/, '');
  const flag = c.env
    ?.find((e) => e.name === SCOPING_ENV)
    ?.value?.trim()
    .toLowerCase();
  if (flag === 'true' || flag === '1') out.scopingFlag = true;
  else if (flag === 'false' || flag === '0') out.scopingFlag = false;
  return out;
}

export function controlPlaneScope(build: IstiodBuild, discoverySelectors: readonly SelectorLike[]): ControlPlaneScope {
  if (build.version === undefined) {
    const what = build.image ? `its image ${build.image} names no Istio version` : 'its istiod Deployment was not found';
    return {
      scoped: true,
      basis: `${what}: taken as current Istio (1.22+), where discoverySelectors scope the CA writer and config`,
      discoverySelectors,
    };
  }
  const scoped = enhancedResourceScoping(build.version, build.scopingFlag);
  const flag = build.scopingFlag === undefined ? '' : ` with ${SCOPING_ENV}=${String(build.scopingFlag)}`;
  const basis = scoped
    ? `Istio ${build.version}${flag}: discoverySelectors scope its CA writer and the Istio config it reads`
    : `Istio ${build.version}${flag || ` without ${SCOPING_ENV}`}: its CA writer and config reach every namespace`;
  return { scoped, basis, discoverySelectors };
}

/** Whether the control plane's namespace controller keeps its root in this namespace's istio-ca-root-cert. */
export function writesCaRootInto(scope: ControlPlaneScope, version: string | undefined, namespace: string, labels: Labels): boolean {
  if (caWriterExcludes(namespace, version ?? '99.0')) return false;
  return !scope.scoped || discovers(scope.discoverySelectors, labels);
}

/** Whether Istio config (Gateway, VirtualService) in a namespace with these labels reaches the control plane. */
export function readsConfigIn(scope: ControlPlaneScope, labels: Labels): boolean {
  return !scope.scoped || discovers(scope.discoverySelectors, labels);
}
