// Which namespaces one istiod acts on, as real istiod decides it. Kept apart from the product's
// mesh/discovery.ts on purpose: the twin is the referee, so a wrong rule on the product's side
// shows as a difference here instead of being shared.
//
// Measured on a real istiod (master, 1.31) against a real kube-apiserver: the namespace controller
// writes istio-ca-root-cert only into namespaces its discoverySelectors select — its own namespace
// included only when selected — and never removes it when a namespace stops matching; Istio config
// (Gateway, VirtualService) of an unselected namespace is ignored. From Istio's source:
// ENABLE_ENHANCED_RESOURCE_SCOPING (which makes discoverySelectors scope the CA writer and config)
// defaults off before 1.22, on in 1.22–1.24, and is always on from 1.25; without it the CA writer
// writes every namespace and config of every namespace is read.
import { labelSelectorMatches, type LabelSelector } from '../apiserver/label-selector.js';

export interface IstiodScope {
  version: string;
  /** ENABLE_ENHANCED_RESOURCE_SCOPING when the install sets it. */
  enhancedResourceScoping?: boolean | undefined;
  /** meshConfig.discoverySelectors; empty = every namespace. */
  discoverySelectors: readonly LabelSelector[];
}

function minor(version: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function atLeast(version: string, major: number, min: number): boolean {
  const v = minor(version);
  return v !== undefined && (v[0] > major || (v[0] === major && v[1] >= min));
}

/** Whether discoverySelectors scope the CA writer and Istio config for this istiod. */
export function scopedByDiscovery(s: Pick<IstiodScope, 'version' | 'enhancedResourceScoping'>): boolean {
  if (atLeast(s.version, 1, 25)) return true;
  return s.enhancedResourceScoping ?? atLeast(s.version, 1, 22);
}

/** Service discovery: the selectors are ORed; none = every namespace. */
export function selectsNamespace(selectors: readonly LabelSelector[], labels: Record<string, string>): boolean {
  return selectors.length === 0 || selectors.some((s) => labelSelectorMatches(s, labels));
}

/** Namespaces no namespace controller writes into (kube-system only up to 1.21). */
function excludedFromCaWriter(namespace: string, version: string): boolean {
  if (namespace === 'kube-public' || namespace === 'kube-node-lease' || namespace === 'local-path-storage') return true;
  return namespace === 'kube-system' && !atLeast(version, 1, 22);
}

/** Whether this istiod's namespace controller keeps istio-ca-root-cert in the namespace on its root. */
export function caWriterCovers(s: IstiodScope, namespace: string, labels: Record<string, string>): boolean {
  if (excludedFromCaWriter(namespace, s.version)) return false;
  return !scopedByDiscovery(s) || selectsNamespace(s.discoverySelectors, labels);
}

/** Whether Istio config in a namespace with these labels reaches this istiod. */
export function configVisible(s: IstiodScope, labels: Record<string, string>): boolean {
  return !scopedByDiscovery(s) || selectsNamespace(s.discoverySelectors, labels);
}
