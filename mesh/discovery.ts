// Which namespaces an istiod sees (docs/istio-facts.md §3) and which ones its namespace controller writes the CA
// root into (docs/istio-facts.md §4). Pure: the twin's istiod and the activities' preflight decide the same way.
import { selectorMatches, type LabelSelector, type Labels } from './labels.js';
import type { SelectorLike } from './injection.js';

/**
 * meshConfig.discoverySelectors: empty or absent = every namespace; the list is ORed; inside one
 * selector everything is ANDed; `{}` matches all. A selector with an invalid operator throws.
 */
export function discovers(discoverySelectors: readonly SelectorLike[] | null | undefined, nsLabels: Labels | undefined): boolean {
  if (!discoverySelectors || discoverySelectors.length === 0) return true;
  return discoverySelectors.some((s) => selectorMatches(s as LabelSelector, nsLabels ?? {}));
}

export interface NamespaceLabels {
  name: string;
  labels?: Labels;
}

export function discoveredNamespaces(
  discoverySelectors: readonly SelectorLike[] | null | undefined,
  namespaces: readonly NamespaceLabels[],
): string[] {
  return namespaces.filter((n) => discovers(discoverySelectors, n.labels)).map((n) => n.name);
}

/** Major and minor of an Istio version string such as "1.16.5" or "1.16.5-tke.1"; null if unreadable. */
export function istioMinorVersion(version: string): { major: number; minor: number } | null {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

function atLeast(version: string, major: number, minor: number): boolean {
  const v = istioMinorVersion(version);
  if (!v) return false;
  return v.major > major || (v.major === major && v.minor >= minor);
}

/**
 * Whether discoverySelectors also scope Istio config and the CA ConfigMap writer
 * (ENABLE_ENHANCED_RESOURCE_SCOPING): default off before 1.22, on in 1.22–1.24 (the env var can
 * still turn it off), always on from 1.25. `flag` is the env var when set.
 */
export function enhancedResourceScoping(version: string, flag?: boolean): boolean {
  if (atLeast(version, 1, 25)) return true;
  if (flag !== undefined) return flag;
  return atLeast(version, 1, 22);
}

/** Namespaces the namespace controller never writes istio-ca-root-cert into. */
export function caWriterExcludes(namespace: string, version: string): boolean {
  if (namespace === 'kube-public' || namespace === 'kube-node-lease' || namespace === 'local-path-storage') return true;
  // kube-system stopped being excluded in 1.22.
  return namespace === 'kube-system' && !atLeast(version, 1, 22);
}

export interface ControlPlaneScope {
  version: string;
  /** ENABLE_ENHANCED_RESOURCE_SCOPING when set explicitly. */
  enhancedResourceScoping?: boolean;
  discoverySelectors?: readonly SelectorLike[] | null;
}

/**
 * Whether this istiod's namespace controller writes its root into the namespace. Without enhanced
 * scoping it ignores discoverySelectors, so two istiods both write every namespace and, with
 * different roots, overwrite each other (the field report's "certificate mismatch").
 */
export function writesCaRoot(cp: ControlPlaneScope, namespace: string, nsLabels: Labels | undefined): boolean {
  if (caWriterExcludes(namespace, cp.version)) return false;
  if (!enhancedResourceScoping(cp.version, cp.enhancedResourceScoping)) return true;
  return discovers(cp.discoverySelectors, nsLabels);
}

/**
 * Whether Istio config (VirtualService, Gateway, ...) in the namespace is visible to this istiod.
 * Before enhanced scoping discoverySelectors only scope service discovery, so config of every
 * namespace is seen; whether a route works then depends on its destination being discovered.
 */
export function seesConfigIn(cp: ControlPlaneScope, nsLabels: Labels | undefined): boolean {
  if (!enhancedResourceScoping(cp.version, cp.enhancedResourceScoping)) return true;
  return discovers(cp.discoverySelectors, nsLabels);
}
