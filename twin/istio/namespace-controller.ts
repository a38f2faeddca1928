// istiod's namespace controller (docs/istio-facts.md §4): writes ConfigMap istio-ca-root-cert (key root-cert.pem,
// label istio.io/config=true) into every namespace it is responsible for (scoping.ts: those its
// discoverySelectors select, or every namespace before enhanced resource scoping — its own
// namespace is not special), creating it when missing and rewriting it when the key differs from
// its own root; it never deletes it, not even when a namespace stops matching. Its leader lock
// lives in istiod's own namespace, so two istiods in different namespaces both run it; where both
// select a namespace and their roots differ they keep overwriting each other, non-stop. The rewrite
// after someone else's change waits `rewriteDelayMs` (real istiods: within ~0.3 s of each other).
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP, IstioLabel } from '../../mesh/naming.js';
import type { ClusterView } from './cluster-view.js';
import type { IstioFaultState } from './fault-state.js';
import { MERGE_PATCH, isAlreadyExists, isNotFound, retrying, type KubeClients } from './kube-client.js';
import { caWriterCovers, type IstiodScope } from './scoping.js';

export interface NamespaceControllerOptions {
  revision: string;
  rootPem: string;
  /** The live scope (version, scoping flag, current discoverySelectors). */
  scope: () => IstiodScope;
  kube: KubeClients;
  view: ClusterView;
  faults: IstioFaultState;
  rewriteDelayMs: number;
  logger: Logger;
  /** Writes in flight at once. */
  concurrency?: number;
}

export class NamespaceController {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private inFlight = 0;
  private stopped = false;
  private unsubscribe: Array<() => void> = [];
  writes = 0;

  constructor(private readonly o: NamespaceControllerOptions) {}

  start(): void {
    this.unsubscribe.push(
      this.o.view.namespaces.on((event, ns) => {
        if (event !== 'delete') this.schedule(ns.metadata?.name ?? '', 0);
      }),
      this.o.view.caRoots.on((event, cm) => {
        const ns = cm.metadata?.namespace ?? '';
        // Our own write coming back needs nothing; anyone else's content is answered after a pause.
        const ours = event !== 'delete' && cm.data?.[CA_ROOT_CERT_KEY] === this.o.rootPem;
        if (!ours) this.schedule(ns, event === 'delete' ? 0 : this.o.rewriteDelayMs);
      }),
      this.o.faults.onChange(() => this.resyncAll()),
    );
    this.resyncAll();
  }

  /** Re-evaluates every namespace (discoverySelectors or faults changed). */
  resyncAll(): void {
    for (const ns of this.o.view.namespaces.list()) this.schedule(ns.metadata?.name ?? '', 0);
  }

  stop(): void {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(ns: string, delayMs: number): void {
    if (this.stopped || !ns || this.timers.has(ns)) return;
    if (delayMs <= 0) {
      this.enqueue(ns);
      return;
    }
    this.timers.set(
      ns,
      setTimeout(() => {
        this.timers.delete(ns);
        this.enqueue(ns);
      }, delayMs),
    );
  }

  private enqueue(ns: string): void {
    if (this.queued.has(ns)) return;
    this.queued.add(ns);
    this.queue.push(ns);
    this.pump();
  }

  private pump(): void {
    const limit = this.o.concurrency ?? 8;
    while (!this.stopped && this.inFlight < limit && this.queue.length > 0) {
      const ns = this.queue.shift()!;
      this.queued.delete(ns);
      this.inFlight++;
      void this.reconcile(ns)
        .catch((err: unknown) => {
          // A conflict too: the next reconcile reads the namespace and its ConfigMap again.
          this.o.logger.warn({ err: String(err), namespace: ns, revision: this.o.revision }, 'writing istio-ca-root-cert failed; retrying');
          this.schedule(ns, 500);
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** Whether this controller should keep the namespace's ConfigMap on its root right now. */
  responsibleFor(ns: string): boolean {
    const nsObj = this.o.view.namespaces.get(ns);
    if (!nsObj || nsObj.metadata?.deletionTimestamp || nsObj.status?.phase === 'Terminating') return false;
    if (this.o.faults.caBlocked(ns)) return false;
    return caWriterCovers(this.o.scope(), ns, nsObj.metadata?.labels ?? {});
  }

  private async reconcile(ns: string): Promise<void> {
    if (this.stopped || !this.responsibleFor(ns)) return;
    const { kube, rootPem } = this.o;
    const cached = this.o.view.caRoots.get(CA_ROOT_CONFIGMAP, ns);
    if (cached?.data?.[CA_ROOT_CERT_KEY] === rootPem) return;
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CA_ROOT_CONFIGMAP, namespace: ns, labels: { [IstioLabel.config]: 'true' } },
      data: { [CA_ROOT_CERT_KEY]: rootPem },
    };
    const stopped = (): boolean => this.stopped;
    if (!cached) {
      try {
        await retrying(() => kube.core.createNamespacedConfigMap({ namespace: ns, body }), { stopped });
        this.writes++;
        return;
      } catch (err) {
        if (isNotFound(err)) return; // the namespace went away
        if (!isAlreadyExists(err)) throw err;
      }
    }
    const patch = { metadata: { labels: { [IstioLabel.config]: 'true' } }, data: { [CA_ROOT_CERT_KEY]: rootPem } };
    try {
      await retrying(() => kube.core.patchNamespacedConfigMap({ name: CA_ROOT_CONFIGMAP, namespace: ns, body: patch }, MERGE_PATCH), {
        stopped,
      });
      this.writes++;
    } catch (err) {
      if (isNotFound(err)) this.schedule(ns, 0);
      else throw err;
    }
  }
}
