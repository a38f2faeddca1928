// How the twin's istiod reads its mesh config (ConfigMap istio[-<rev>], key `mesh`): the two
// settings it acts on. As istiod does, a config it cannot read is rejected as a whole and the last
// good one kept (the caller logs); an absent or empty one is Istio's default: every namespace
// discovered, outbound traffic ALLOW_ANY. Written for the twin, apart from mesh/meshconfig.ts.
import { parse, stringify } from 'yaml';
import type { LabelSelector } from '../apiserver/label-selector.js';

/** meshConfig.outboundTrafficPolicy.mode (istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode). */
export type OutboundMode = 'ALLOW_ANY' | 'REGISTRY_ONLY' | 'ALLOW_ANY_DYNAMIC_DNS';
const OUTBOUND_MODES: readonly OutboundMode[] = ['ALLOW_ANY', 'REGISTRY_ONLY', 'ALLOW_ANY_DYNAMIC_DNS'];

export interface IstiodMeshConfig {
  discoverySelectors: LabelSelector[];
  outboundTrafficPolicyMode: OutboundMode;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Throws an Error saying what istiod would refuse. */
export function readMeshConfig(text: string | null | undefined): IstiodMeshConfig {
  const config: IstiodMeshConfig = { discoverySelectors: [], outboundTrafficPolicyMode: 'ALLOW_ANY' };
  const doc: unknown = text && text.trim() !== '' ? parse(text) : undefined;
  if (doc === undefined || doc === null) return config;
  if (!isMapping(doc)) throw new Error('mesh config: not a mapping');
  const selectors = doc.discoverySelectors;
  if (selectors !== undefined && selectors !== null) {
    if (!Array.isArray(selectors) || !selectors.every(isMapping))
      throw new Error('mesh config: discoverySelectors is not a list of label selectors');
    config.discoverySelectors = selectors as LabelSelector[];
  }
  const policy = doc.outboundTrafficPolicy;
  if (policy !== undefined && policy !== null) {
    if (!isMapping(policy)) throw new Error('mesh config: outboundTrafficPolicy is not a mapping');
    if (policy.mode !== undefined && policy.mode !== null) {
      if (!OUTBOUND_MODES.includes(policy.mode as OutboundMode))
        throw new Error(`mesh config: unknown outboundTrafficPolicy.mode ${JSON.stringify(policy.mode)}`);
      config.outboundTrafficPolicyMode = policy.mode as OutboundMode;
    }
  }
  return config;
}

/** The `mesh` key as the chart's values render it: only what is set. */
export function meshConfigYaml(v: {
  discoverySelectors?: readonly LabelSelector[];
  outboundTrafficPolicyMode?: OutboundMode;
  rootNamespace?: string;
  trustDomain?: string;
}): string {
  const doc = {
    ...(v.discoverySelectors?.length ? { discoverySelectors: v.discoverySelectors } : {}),
    ...(v.outboundTrafficPolicyMode ? { outboundTrafficPolicy: { mode: v.outboundTrafficPolicyMode } } : {}),
    ...(v.rootNamespace ? { rootNamespace: v.rootNamespace } : {}),
    ...(v.trustDomain ? { trustDomain: v.trustDomain } : {}),
  };
  return Object.keys(doc).length ? stringify(doc) : '{}\n';
}

/**
 * Where a sidecar sends traffic for a host its istiod does not know: PassthroughCluster unless
 * the mesh is REGISTRY_ONLY (then BlackHoleCluster).
 */
export function passesThroughUnknownHosts(mode: OutboundMode): boolean {
  return mode === 'ALLOW_ANY' || mode === 'ALLOW_ANY_DYNAMIC_DNS';
}
