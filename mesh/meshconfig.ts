// The parts of istiod's mesh config (ConfigMap `istio[-<rev>]`, key `mesh`, YAML; docs/istio-facts.md §7) that the
// migration depends on: which namespaces it discovers and where unknown outbound traffic goes.
import { parse, stringify } from 'yaml';
import type { SelectorLike } from './injection.js';

export const OutboundTrafficPolicyMode = {
  allowAny: 'ALLOW_ANY',
  registryOnly: 'REGISTRY_ONLY',
  allowAnyDynamicDns: 'ALLOW_ANY_DYNAMIC_DNS',
} as const;
export type OutboundTrafficPolicyMode = (typeof OutboundTrafficPolicyMode)[keyof typeof OutboundTrafficPolicyMode];

const MODES = new Set<string>(Object.values(OutboundTrafficPolicyMode));

export interface MeshConfigView {
  /** Empty = every namespace is discovered. */
  discoverySelectors: SelectorLike[];
  /** ALLOW_ANY when absent (Istio's default). */
  outboundTrafficPolicyMode: OutboundTrafficPolicyMode;
  /** Where the CA and shared config live; Istio defaults it to istio-system (docs/istio-facts.md §5 pitfall). */
  rootNamespace?: string;
  trustDomain?: string;
}

/** A mesh config that cannot be read the way istiod would read it. */
export class MeshConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshConfigError';
  }
}

/** Parses the `mesh` key. Absent or empty text is Istio's default mesh config. */
export function parseMeshConfig(text: string | undefined | null): MeshConfigView {
  let doc: unknown;
  try {
    doc = text ? parse(text) : null;
  } catch (err) {
    throw new MeshConfigError(`mesh config is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const view: MeshConfigView = { discoverySelectors: [], outboundTrafficPolicyMode: OutboundTrafficPolicyMode.allowAny };
  if (doc === null || doc === undefined) return view;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new MeshConfigError('mesh config must be a YAML mapping');
  const m = doc as Record<string, unknown>;

  const ds = m.discoverySelectors;
  if (ds !== undefined && ds !== null) {
    if (!Array.isArray(ds)) throw new MeshConfigError('discoverySelectors must be a list of label selectors');
    ds.forEach((s, i) => {
      if (s === null || typeof s !== 'object' || Array.isArray(s))
        throw new MeshConfigError(`discoverySelectors[${i}] must be a label selector`);
    });
    view.discoverySelectors = ds as SelectorLike[];
  }

  const otp = m.outboundTrafficPolicy;
  if (otp !== undefined && otp !== null) {
    if (typeof otp !== 'object') throw new MeshConfigError('outboundTrafficPolicy must be a mapping');
    const mode = (otp as Record<string, unknown>).mode;
    if (mode !== undefined && mode !== null) {
      if (typeof mode !== 'string' || !MODES.has(mode)) {
        throw new MeshConfigError(`outboundTrafficPolicy.mode "${String(mode)}" is not one of ${[...MODES].join(', ')}`);
      }
      view.outboundTrafficPolicyMode = mode as OutboundTrafficPolicyMode;
    }
  }
  if (typeof m.rootNamespace === 'string') view.rootNamespace = m.rootNamespace;
  if (typeof m.trustDomain === 'string') view.trustDomain = m.trustDomain;
  return view;
}

/** Traffic to hosts the sidecar's istiod does not know goes to PassthroughCluster (not BlackHole). */
export function allowsPassthrough(mode: OutboundTrafficPolicyMode): boolean {
  return mode !== OutboundTrafficPolicyMode.registryOnly;
}

/** Renders the `mesh` key as istiod's chart would (only the fields set). */
export function renderMeshConfig(view: Partial<MeshConfigView>): string {
  const doc: Record<string, unknown> = {};
  if (view.discoverySelectors && view.discoverySelectors.length > 0) doc.discoverySelectors = view.discoverySelectors;
  if (view.outboundTrafficPolicyMode) doc.outboundTrafficPolicy = { mode: view.outboundTrafficPolicyMode };
  if (view.rootNamespace) doc.rootNamespace = view.rootNamespace;
  if (view.trustDomain) doc.trustDomain = view.trustDomain;
  return Object.keys(doc).length === 0 ? '{}\n' : stringify(doc);
}
