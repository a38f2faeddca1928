// istiod's /debug/syncz and how istioctl proxy-status reads it (docs/istio-facts.md §6), plus which revision a
// pod's sidecar belongs to (docs/istio-facts.md §5: the `revision` in sidecar.istio.io/status, never a pod label).
import { IstioAnnotation } from './naming.js';

export const XDS_TYPES = ['cluster', 'listener', 'route', 'endpoint', 'extensionconfig'] as const;
export type XdsType = (typeof XDS_TYPES)[number];

/** One entry of the JSON array /debug/syncz returns; empty fields are omitted by istiod. */
export interface SynczEntry {
  cluster_id?: string;
  /** `<pod>.<namespace>` */
  proxy: string;
  istio_version?: string;
  proxy_type?: string;
  cluster_sent?: string;
  cluster_acked?: string;
  listener_sent?: string;
  listener_acked?: string;
  route_sent?: string;
  route_acked?: string;
  endpoint_sent?: string;
  endpoint_acked?: string;
  extensionconfig_sent?: string;
  extensionconfig_acked?: string;
}

export const SyncStatus = { synced: 'SYNCED', stale: 'STALE', notSent: 'NOT SENT' } as const;
export type SyncStatus = (typeof SyncStatus)[keyof typeof SyncStatus];

/** istioctl's per-type rule: sent "" → NOT SENT; sent == acked → SYNCED; otherwise STALE. */
export function xdsTypeStatus(sent: string | undefined, acked: string | undefined): SyncStatus {
  const s = sent ?? '';
  const a = acked ?? '';
  if (s === '') return SyncStatus.notSent;
  if (s === a) return SyncStatus.synced;
  return SyncStatus.stale;
}

export interface ProxySync {
  proxy: string;
  pod: string;
  namespace: string;
  perType: Record<XdsType, SyncStatus>;
  /** Types sent but never acknowledged (istioctl prints "STALE (Never Acknowledged)"). */
  neverAcknowledged: XdsType[];
  /** STALE if any type is STALE; else SYNCED if any type is SYNCED; else NOT SENT. */
  overall: SyncStatus;
}

/** Splits `<pod>.<namespace>`; pod names cannot hold dots, so the first dot separates them. */
export function parseProxyId(proxy: string): { pod: string; namespace: string } {
  const dot = proxy.indexOf('.');
  return dot < 0 ? { pod: proxy, namespace: '' } : { pod: proxy.slice(0, dot), namespace: proxy.slice(dot + 1) };
}

export function proxyId(pod: string, namespace: string): string {
  return `${pod}.${namespace}`;
}

export function proxySyncStatus(entry: SynczEntry): ProxySync {
  const perType = {} as Record<XdsType, SyncStatus>;
  const neverAcknowledged: XdsType[] = [];
  for (const t of XDS_TYPES) {
    const sent = entry[`${t}_sent`];
    const acked = entry[`${t}_acked`];
    perType[t] = xdsTypeStatus(sent, acked);
    if (perType[t] === SyncStatus.stale && (acked ?? '') === '') neverAcknowledged.push(t);
  }
  const values = Object.values(perType);
  const overall = values.includes(SyncStatus.stale)
    ? SyncStatus.stale
    : values.includes(SyncStatus.synced)
      ? SyncStatus.synced
      : SyncStatus.notSent;
  return { proxy: entry.proxy, ...parseProxyId(entry.proxy), perType, neverAcknowledged, overall };
}

/** Reads a syncz response body, keeping only well-formed entries (string `proxy`, string fields). */
export function parseSyncz(body: unknown): SynczEntry[] {
  if (!Array.isArray(body)) throw new Error('/debug/syncz did not return a JSON array');
  const out: SynczEntry[] = [];
  for (const item of body) {
    if (item === null || typeof item !== 'object') continue;
    const rec = item as Record<string, unknown>;
    if (typeof rec.proxy !== 'string') continue;
    const entry: Record<string, string> = {};
    for (const [k, v] of Object.entries(rec)) if (typeof v === 'string') entry[k] = v;
    out.push(entry as unknown as SynczEntry);
  }
  return out;
}

/** The sync state of `<pod>.<ns>` in a syncz listing, or null when that proxy is not connected. */
export function findProxy(entries: readonly SynczEntry[], pod: string, namespace: string): ProxySync | null {
  const id = proxyId(pod, namespace);
  const e = entries.find((x) => x.proxy === id);
  return e ? proxySyncStatus(e) : null;
}

/** The parsed sidecar.istio.io/status annotation. */
export interface SidecarStatus {
  initContainers?: string[] | null;
  containers?: string[] | null;
  volumes?: string[] | null;
  imagePullSecrets?: string[] | null;
  revision?: string;
}

/** Any pod-shaped object (a V1Pod fits). */
export type PodLike = {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

export function sidecarStatus(pod: PodLike): SidecarStatus | null {
  const raw = pod.metadata?.annotations?.[IstioAnnotation.sidecarStatus];
  if (raw === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' ? (parsed as SidecarStatus) : null;
  } catch {
    return null;
  }
}

/** The istiod revision that injected the pod's sidecar; null when not injected (or unreadable). */
export function sidecarRevision(pod: PodLike): string | null {
  const s = sidecarStatus(pod);
  return s && typeof s.revision === 'string' && s.revision !== '' ? s.revision : null;
}

export function hasSidecar(pod: PodLike): boolean {
  return sidecarStatus(pod) !== null;
}
