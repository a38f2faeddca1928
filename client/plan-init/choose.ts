// The decisions of `meshmove plan init`, pure and table-tested: which control plane is the source and
// which the target, which gateway each uses and with what selector, which discovery labels the
// target's selectors select on, the suggested waves, and the DNS hosts served by the source gateway.
import { discovers } from '../../mesh/discovery.js';
import type { SelectorLike } from '../../mesh/injection.js';
import { IstioLabel } from '../../mesh/naming.js';
import { gatewaySelectsPods } from '../../activities/preflight/discovery.js';
import type { KubeObject } from '../../activities/kube/index.js';
import type { ControlPlaneInfo, GatewayInfo } from './inventory.js';

/** Bad input for plan init (ambiguous or unknown revisions): the CLI exits 2 and writes nothing. */
export class PlanInitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanInitError';
  }
}

export interface SideChoice {
  source: ControlPlaneInfo;
  target: ControlPlaneInfo;
  /** How they were chosen, for the plan's header. */
  basis: string;
}

const describeCp = (c: ControlPlaneInfo): string =>
  `${c.revision} (istiod in ${c.namespace}, injects ${c.injectedNamespaces} namespace(s))`;

function found(cps: readonly ControlPlaneInfo[]): string {
  return cps.length === 0
    ? 'no control plane (no Deployment labeled app=istiod)'
    : `control planes found: ${cps.map(describeCp).join('; ')}`;
}

function byRevision(cps: readonly ControlPlaneInfo[], rev: string, flag: string): ControlPlaneInfo {
  const matches = cps.filter((c) => c.revision === rev);
  if (matches.length === 0) throw new PlanInitError(`${flag} ${rev}: no control plane of that revision; ${found(cps)}`);
  if (matches.length > 1)
    throw new PlanInitError(
      `${flag} ${rev}: istiods of that revision run in several namespaces (${matches.map((m) => m.namespace).join(', ')}); meshmove plans one per revision`,
    );
  return matches[0]!;
}

/**
 * Flags win. Without them and with exactly two control planes, the one injecting more namespaces
 * today is the source (that is where the workloads are); a tie, or any other count, is an error
 * naming what was found and the flags to use.
 */
export function chooseSides(cps: readonly ControlPlaneInfo[], flags: { source?: string; target?: string }): SideChoice {
  const hint = 'name them with --source REV --target REV';
  if (flags.source !== undefined && flags.target !== undefined) {
    if (flags.source === flags.target)
      throw new PlanInitError(`--source and --target are both ${flags.source}: they must differ; ${found(cps)}`);
    return {
      source: byRevision(cps, flags.source, '--source'),
      target: byRevision(cps, flags.target, '--target'),
      basis: 'given with --source and --target',
    };
  }
  if (cps.length < 2) throw new PlanInitError(`a migration needs two control planes, the source and the target; ${found(cps)}`);
  if (flags.source !== undefined || flags.target !== undefined) {
    const given = flags.source !== undefined ? byRevision(cps, flags.source, '--source') : byRevision(cps, flags.target!, '--target');
    const others = cps.filter((c) => c !== given);
    if (others.length !== 1)
      throw new PlanInitError(
        `${cps.length} control planes: cannot tell the ${flags.source !== undefined ? 'target' : 'source'}; ${found(cps)}; ${hint}`,
      );
    return flags.source !== undefined
      ? { source: given, target: others[0]!, basis: `source given with --source; the target is the only other control plane` }
      : { source: others[0]!, target: given, basis: `target given with --target; the source is the only other control plane` };
  }
  if (cps.length > 2)
    throw new PlanInitError(`${cps.length} control planes: cannot tell which is the source and which the target; ${found(cps)}; ${hint}`);
  const [a, b] = [cps[0]!, cps[1]!];
  if (a.injectedNamespaces === b.injectedNamespaces) {
    throw new PlanInitError(
      `both control planes inject ${a.injectedNamespaces} namespace(s): cannot tell the source from the target; ${found(cps)}; ${hint}`,
    );
  }
  const [source, target] = a.injectedNamespaces > b.injectedNamespaces ? [a, b] : [b, a];
  return {
    source,
    target,
    basis: `not given: ${source.revision} injects ${source.injectedNamespaces} namespace(s) today, ${target.revision} ${target.injectedNamespaces}, so ${source.revision} is the source`,
  };
}

/** The control plane's ingress gateway: its revision's (or in its namespace), with an addressed LoadBalancer Service first. */
export function chooseGateway(
  gateways: readonly GatewayInfo[],
  cp: Pick<ControlPlaneInfo, 'revision' | 'namespace'>,
): { chosen?: GatewayInfo; others: GatewayInfo[] } {
  const own = gateways.filter((g) => g.revision === cp.revision || (g.revision === undefined && g.namespace === cp.namespace));
  const rank = (g: GatewayInfo): number =>
    (g.service ? 0 : 4) +
    (g.service?.type === 'LoadBalancer' ? 0 : 2) +
    (g.service?.address ? 0 : 1) +
    (g.namespace === cp.namespace ? 0 : 0.5);
  const sorted = [...own].sort(
    (x, y) => rank(x) - rank(y) || `${x.namespace}/${x.deployment}`.localeCompare(`${y.namespace}/${y.deployment}`),
  );
  return sorted.length > 0 ? { chosen: sorted[0]!, others: sorted.slice(1) } : { others: [] };
}

/** Labels that say how a pod is injected, not which gateway it is. */
const NOT_IDENTITY = new Set<string>([
  IstioLabel.rev,
  IstioLabel.inject,
  IstioLabel.tlsMode,
  IstioLabel.canonicalName,
  IstioLabel.canonicalRevision,
  'pod-template-hash',
]);

/**
 * The selector of the gateway's pods: its `istio` label when it has one (what Istio Gateway
 * resources select on by convention), else its Service's selector, else its identity labels.
 */
export function gatewaySelector(g: Pick<GatewayInfo, 'podLabels' | 'service'>): Record<string, string> {
  const istio = g.podLabels.istio;
  if (istio) return { istio };
  const svcSel = g.service?.selector ?? {};
  if (Object.keys(svcSel).length > 0) return { ...svcSel };
  return Object.fromEntries(Object.entries(g.podLabels).filter(([k]) => !NOT_IDENTITY.has(k)));
}

export interface DiscoveryLabelsChoice {
  labels: Record<string, string>;
  /** false: nothing usable could be read; `labels` is a stand-in and `note` says what to do. */
  derived: boolean;
  note: string;
}

/**
 * The target's discovery labels: the matchLabels of the first of its discoverySelectors that those
 * labels alone satisfy (matchExpressions included). With no selectors the target sees every
 * namespace and no label is needed; the plan still needs one, so istio.io/rev (set by the relabel
 * anyway) stands in.
 */
export function chooseDiscoveryLabels(selectors: readonly SelectorLike[], targetRevision: string): DiscoveryLabelsChoice {
  const standIn = { [IstioLabel.rev]: targetRevision };
  if (selectors.length === 0) {
    return {
      labels: standIn,
      derived: true,
      note: `the target has no discoverySelectors (it discovers every namespace): no label is needed; istio.io/rev=${targetRevision}, which the relabel sets anyway, stands in because the field may not be empty`,
    };
  }
  for (const s of selectors) {
    const ml = s.matchLabels ?? {};
    if (Object.keys(ml).length === 0) continue;
    let ok: boolean;
    try {
      ok = discovers([s], { ...ml });
    } catch {
      ok = false; // an invalid operator: istiod rejects it too
    }
    if (ok) return { labels: { ...ml }, derived: true, note: "from the matchLabels of the target's discoverySelectors" };
  }
  return {
    labels: standIn,
    derived: false,
    note: "CANNOT BE DERIVED: no discoverySelector of the target is satisfied by its matchLabels alone (only matchExpressions, or expressions that exclude them). Set here the labels that make the target's discoverySelectors select a namespace; until then preflight blocks on discovery",
  };
}

export interface WaveSuggestion {
  name: string;
  concurrency: number;
  namespaces: string[];
}

export interface WaveCandidate {
  name: string;
  workloads: number;
  /** Hosts of the source gateway served from this namespace: user-facing, so later among equals. */
  hosts?: number;
}

export const MAX_WAVE_CONCURRENCY = 50;

/**
 * A canary of the 1–3 smallest namespaces (by workload count; among equals, those serving no
 * gateway host first), then waves growing ×2 and then ×3, concurrency growing with them up to 50.
 */
export function suggestWaves(candidates: readonly WaveCandidate[]): WaveSuggestion[] {
  const sorted = [...candidates].sort(
    (a, b) => a.workloads - b.workloads || (a.hosts ?? 0) - (b.hosts ?? 0) || a.name.localeCompare(b.name),
  );
  const n = sorted.length;
  if (n === 0) return [];
  const canary = n < 10 ? 1 : n < 100 ? 2 : 3;
  const waves: WaveSuggestion[] = [{ name: 'canary', concurrency: 1, namespaces: sorted.slice(0, canary).map((c) => c.name) }];
  let at = canary;
  let size = canary;
  let concurrency = 1;
  while (at < n) {
    size = waves.length === 1 ? size * 2 : size * 3;
    const take = sorted.slice(at, at + size).map((c) => c.name);
    concurrency = Math.min(MAX_WAVE_CONCURRENCY, take.length, Math.max(concurrency * 2, Math.ceil(take.length / 4)));
    waves.push({ name: `wave-${waves.length + 1}`, concurrency, namespaces: take });
    at += take.length;
  }
  return waves;
}

const DNS_NAME = /^[a-z0-9.-]+$/i;

export interface GatewayHosts {
  /** Hosts usable as DNS records, with the namespaces of the VirtualServices serving them. */
  hosts: { name: string; namespaces: string[] }[];
  /** Hosts bound to the gateway that cannot be a record (wildcards, `*`). */
  skipped: string[];
}

/**
 * The hosts of the VirtualServices bound (spec.gateways) to an Istio Gateway that selects the
 * gateway's pods: what DNS points at that gateway today.
 */
export function hostsBoundTo(
  podLabels: Record<string, string>,
  istioGateways: readonly KubeObject[],
  virtualServices: readonly KubeObject[],
): GatewayHosts {
  const selecting = new Set(
    istioGateways
      .filter(
        (g) =>
          Object.keys((g.spec as { selector?: object } | undefined)?.selector ?? {}).length > 0 &&
          gatewaySelectsPods(g as never, podLabels),
      )
      .map((g) => `${g.metadata?.namespace ?? ''}/${g.metadata?.name ?? ''}`),
  );
  const hosts = new Map<string, Set<string>>();
  const skipped = new Set<string>();
  for (const vs of virtualServices) {
    const vsNs = vs.metadata?.namespace ?? '';
    const spec = (vs.spec ?? {}) as { hosts?: unknown; gateways?: unknown };
    const refs = Array.isArray(spec.gateways) ? (spec.gateways as unknown[]).filter((r): r is string => typeof r === 'string') : [];
    const bound = refs.some((r) => r !== 'mesh' && selecting.has(r.includes('/') ? r : `${vsNs}/${r}`));
    if (!bound) continue;
    for (const h of Array.isArray(spec.hosts) ? (spec.hosts as unknown[]) : []) {
      if (typeof h !== 'string') continue;
      if (h.includes('*') || !DNS_NAME.test(h) || !h.includes('.')) {
        skipped.add(h);
        continue;
      }
      const key = h.toLowerCase();
      hosts.set(key, (hosts.get(key) ?? new Set()).add(vsNs));
    }
  }
  return {
    hosts: [...hosts].sort(([a], [b]) => a.localeCompare(b)).map(([name, ns]) => ({ name, namespaces: [...ns].sort() })),
    skipped: [...skipped].sort(),
  };
}

/** A metadata.name from the revisions: lower-case DNS label, at most 63 characters. */
export function planName(source: string, target: string): string {
  const raw = `${source}-to-${target}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-');
  const cut = raw.slice(0, 63).replace(/^-+|-+$/g, '');
  return cut || 'migration';
}
