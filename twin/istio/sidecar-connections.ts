// Which istiod each sidecar is connected to. A sidecar dials the istiod its injection pointed at
// (the `revision` in sidecar.istio.io/status, docs/istio-facts.md §5) and verifies istiod's TLS with the root it
// mounted from istio-ca-root-cert when the pod started (docs/istio-facts.md §4): a different root → no
// connection. The mounted root is what the namespace's ConfigMap held when the pod was first seen
// running; a pod whose ConfigMap did not exist yet mounts it once it appears (the kubelet keeps
// retrying the volume).
import type { V1Pod } from '@kubernetes/client-node';
import type { ClusterView } from './cluster-view.js';

/** The injector's record on the pod (sidecar.istio.io/status, JSON); undefined when not injected or unreadable. */
function injectionStatus(pod: V1Pod): { revision?: unknown } | undefined {
  const text = pod.metadata?.annotations?.['sidecar.istio.io/status'];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const hasSidecar = (pod: V1Pod): boolean => injectionStatus(pod) !== undefined;

/** The revision of the istiod that injected the pod, as its injector wrote it. */
function injectedRevision(pod: V1Pod): string | null {
  const r = injectionStatus(pod)?.revision;
  return typeof r === 'string' && r !== '' ? r : null;
}

export interface SidecarConnection {
  /** Revision of the injecting istiod, null without a sidecar. */
  revision: string | null;
  connected: boolean;
  /** Why not connected, in words a person reads in `GET /_twin/istio`. */
  reason?: string;
}

function podKey(p: V1Pod): string {
  return p.metadata?.uid ?? `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
}

export class SidecarConnections {
  private readonly mounted = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private unsubscribe: Array<() => void> = [];

  /** `rootOf(revision)`: the root certificate of that revision's istiod, undefined if none. */
  constructor(
    private readonly view: ClusterView,
    private readonly rootOf: (revision: string) => string | undefined,
  ) {}

  start(): void {
    this.unsubscribe.push(
      this.view.pods.on((event, pod) => {
        if (event === 'delete') {
          if (this.mounted.delete(podKey(pod))) this.changed();
          return;
        }
        if (this.tryMount(pod)) this.changed();
      }),
      this.view.caRoots.on((event, cm) => {
        if (event === 'delete') return;
        const ns = cm.metadata?.namespace;
        let any = false;
        for (const p of this.view.pods.list()) if (p.metadata?.namespace === ns && this.tryMount(p)) any = true;
        if (any) this.changed();
      }),
    );
    for (const p of this.view.pods.list()) this.tryMount(p);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
  }

  /** Called when a connection may have changed (for metrics and gateways). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  private tryMount(pod: V1Pod): boolean {
    if (!hasSidecar(pod) || pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return false;
    const key = podKey(pod);
    if (this.mounted.has(key)) return false;
    const root = this.view.caRootIn(pod.metadata?.namespace ?? '');
    if (root === undefined) return false;
    this.mounted.set(key, root);
    return true;
  }

  /** The root each running sidecar mounted, by pod uid (for a twin's snapshot). */
  exportMounted(): Map<string, string> {
    return new Map(this.mounted);
  }

  /**
   * Before start(): the roots the sidecars of a restored twin had mounted (a pod keeps the root it
   * started with, even if its namespace's ConfigMap changed since).
   */
  importMounted(mounted: ReadonlyMap<string, string>): void {
    for (const [k, v] of mounted) this.mounted.set(k, v);
  }

  mountedRoot(pod: V1Pod): string | undefined {
    return this.mounted.get(podKey(pod));
  }

  connection(pod: V1Pod): SidecarConnection {
    if (!hasSidecar(pod)) return { revision: null, connected: false, reason: 'no sidecar' };
    const revision = injectedRevision(pod);
    if (revision === null) return { revision, connected: false, reason: 'sidecar.istio.io/status has no revision' };
    if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp)
      return { revision, connected: false, reason: 'pod not running' };
    const root = this.rootOf(revision);
    if (root === undefined) return { revision, connected: false, reason: `no istiod serves revision "${revision}"` };
    const mounted = this.mountedRoot(pod);
    if (mounted === undefined)
      return { revision, connected: false, reason: 'istio-ca-root-cert was never mounted (the ConfigMap does not exist in the namespace)' };
    if (mounted !== root)
      return { revision, connected: false, reason: `root CA mismatch: the mounted root is not istiod ${revision}'s, TLS to :15012 fails` };
    return { revision, connected: true };
  }

  /** Pods whose sidecar is connected to this revision's istiod. */
  connectedTo(revision: string): V1Pod[] {
    return this.view.pods.list().filter((p) => {
      const c = this.connection(p);
      return c.connected && c.revision === revision;
    });
  }
}
