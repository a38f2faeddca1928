// `twin snapshot --anonymize`: the names that say whose cluster it is (namespaces, workloads,
// Services, gateways, Istio config objects, host names) replaced by pseudonyms, one dictionary for
// the whole snapshot so that every place a name appears (a VirtualService's destination host, a
// label value naming a namespace, a DNS record, a selector) gets the same pseudonym and the twin
// still routes the same way. Istio's own names (istio-*, control plane namespaces, revisions, tags),
// Kubernetes' namespaces, label keys and DNS suffixes (svc.cluster.local, the top-level domain) stay.
// Pseudonyms are counters in the order names are met, not hashes: nothing to reverse by guessing.
import type { ScenarioInput } from '../../twin/scenario.js';
import { KUBERNETES_NAMESPACES } from './scenario.js';

type Role = 'ns' | 'app' | 'svc' | 'gw' | 'cfg' | 'host';
const CLUSTER_SUFFIX: ReadonlySet<string> = new Set(['svc', 'cluster', 'local']);
const HOST_KEYS: ReadonlySet<string> = new Set(['host', 'hosts']);

export class Pseudonyms {
  private readonly names = new Map<string, string>();
  private readonly taken = new Set<string>();
  private readonly counters = new Map<Role, number>();

  constructor(private readonly keep: ReadonlySet<string>) {
    for (const k of keep) this.taken.add(k);
  }

  private kept(name: string): boolean {
    return name === '' || name === '*' || this.keep.has(name) || name.startsWith('istio');
  }

  add(name: string, role: Role): void {
    if (this.kept(name) || this.names.has(name)) return;
    let n = this.counters.get(role) ?? 0;
    let alias: string;
    do alias = `${role}-${++n}`;
    while (this.taken.has(alias));
    this.counters.set(role, n);
    this.taken.add(alias);
    this.names.set(name, alias);
  }

  /** A host name's labels; `<ns>/<host>` (Sidecar, exportTo) and `*.` wildcards included. */
  addHost(host: string): void {
    const name = host.includes('/') ? host.slice(host.indexOf('/') + 1) : host;
    const labels = name.split('.');
    const svc = labels.indexOf('svc');
    if (svc > 0) {
      // <service>.<namespace>.svc[.cluster.local]
      this.add(labels[0]!, 'svc');
      if (svc > 1) this.add(labels[1]!, 'ns');
      return;
    }
    // The last label is the top-level domain, unless the host is one label (a short Service name).
    labels.slice(0, labels.length > 1 ? -1 : undefined).forEach((l) => this.add(l, 'host'));
  }

  /** A whole name (a namespace, a workload, a label value). */
  name(s: string): string {
    return this.names.get(s) ?? s;
  }

  /** Every known name inside a string (hosts, `ns/name` references, paths). */
  text(s: string): string {
    return s.replace(/[A-Za-z0-9-]+/g, (tok) => (CLUSTER_SUFFIX.has(tok) ? tok : this.name(tok)));
  }
}

function collectHosts(value: unknown, key: string, into: (h: string) => void): void {
  if (typeof value === 'string') {
    if (HOST_KEYS.has(key)) into(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectHosts(v, key, into);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collectHosts(v, k, into);
  }
}

/** Webhook configurations name the Services (and URLs) they call: those names identify too. */
function collectWebhookTargets(o: { webhooks?: unknown }, p: Pseudonyms): void {
  if (!Array.isArray(o.webhooks)) return;
  for (const w of o.webhooks as Array<{ clientConfig?: { url?: string; service?: { name?: string; namespace?: string } } }>) {
    const svc = w.clientConfig?.service;
    if (svc?.namespace) p.add(svc.namespace, 'ns');
    if (svc?.name) p.add(svc.name, 'svc');
    if (w.clientConfig?.url) {
      try {
        p.addHost(new URL(w.clientConfig.url).hostname);
      } catch {
        // Not a URL: its tokens stay unless known from elsewhere.
      }
    }
  }
}

function rewriteDeep(value: unknown, p: Pseudonyms): unknown {
  if (typeof value === 'string') return p.text(value);
  if (Array.isArray(value)) return value.map((v) => rewriteDeep(v, p));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewriteDeep(v, p)]));
  return value;
}

function rewriteLabels(labels: Record<string, string> | undefined, p: Pseudonyms): Record<string, string> | undefined {
  return labels === undefined ? undefined : Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, p.name(v)]));
}

type KubeObjectInput = NonNullable<ScenarioInput['istioConfig']>[number];

function rewriteObject(o: KubeObjectInput, p: Pseudonyms): KubeObjectInput {
  const { apiVersion, kind, metadata, ...content } = o;
  const labels = rewriteLabels(metadata.labels as Record<string, string> | undefined, p);
  return {
    apiVersion,
    kind,
    metadata: {
      name: p.name(metadata.name),
      ...(metadata.namespace ? { namespace: p.name(metadata.namespace) } : {}),
      ...(labels ? { labels } : {}),
    },
    ...(rewriteDeep(content, p) as Record<string, unknown>),
  };
}

/** The scenario with every identifying name pseudonymized (a new object; the input is left as it is). */
export function anonymizeScenario(s: ScenarioInput): ScenarioInput {
  const keep = new Set<string>([
    ...KUBERNETES_NAMESPACES,
    'default',
    ...s.controlPlanes.flatMap((c) => [c.namespace, c.revision, ...(c.tags ?? [])]),
  ]);
  const p = new Pseudonyms(keep);
  const namespaces = s.namespaces ?? [];
  const gateways = s.gateways ?? [];
  const config = [...(s.istioConfig ?? []), ...(s.objects ?? [])];
  const records = s.dns?.records ?? [];
  // Register in a fixed order so that the same cluster gives the same pseudonyms.
  for (const n of namespaces) p.add(n.name, 'ns');
  for (const g of gateways) p.add(g.namespace, 'ns');
  for (const o of config) if (o.metadata.namespace) p.add(o.metadata.namespace, 'ns');
  for (const n of namespaces) {
    for (const w of n.workloads ?? []) {
      p.add(w.name, 'app');
      if (w.service && w.service.name) p.add(w.service.name, 'svc');
    }
  }
  for (const g of gateways) p.add(g.name, 'gw');
  for (const o of config) p.add(o.metadata.name, 'cfg');
  for (const o of config) collectWebhookTargets(o as { webhooks?: unknown }, p);
  for (const o of config) collectHosts(o, '', (h) => p.addHost(h));
  for (const r of records) p.addHost(r.name);

  return {
    ...s,
    metadata: { name: 'snapshot', description: 'anonymized snapshot (meshmove twin snapshot --anonymize)' },
    controlPlanes: s.controlPlanes.map((c) => ({
      ...c,
      ...(c.discoverySelectors
        ? {
            discoverySelectors: c.discoverySelectors.map((sel) => ({
              ...(sel.matchLabels ? { matchLabels: rewriteLabels(sel.matchLabels, p)! } : {}),
              ...(sel.matchExpressions
                ? {
                    matchExpressions: sel.matchExpressions.map((e) => ({
                      ...e,
                      ...(e.values ? { values: e.values.map((v) => p.name(v)) } : {}),
                    })),
                  }
                : {}),
            })),
          }
        : {}),
    })),
    gateways: gateways.map((g) => ({ ...g, name: p.name(g.name), namespace: p.name(g.namespace), labels: rewriteLabels(g.labels, p)! })),
    namespaces: namespaces.map((n) => ({
      ...n,
      name: p.name(n.name),
      ...(n.labels ? { labels: rewriteLabels(n.labels, p)! } : {}),
      workloads: (n.workloads ?? []).map((w) => ({
        ...w,
        name: p.name(w.name),
        ...(w.labels ? { labels: rewriteLabels(w.labels, p)! } : {}),
        ...(w.service && w.service.name ? { service: { ...w.service, name: p.name(w.service.name) } } : {}),
      })),
    })),
    istioConfig: (s.istioConfig ?? []).map((o) => rewriteObject(o, p)),
    objects: (s.objects ?? []).map((o) => rewriteObject(o, p)),
    dns: {
      ...s.dns,
      records: records.map((r) => ({ ...r, name: p.text(r.name), ...(r.gateway ? { gateway: p.text(r.gateway) } : {}) })),
    },
  };
}
