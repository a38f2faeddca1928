// Endpoints controller: for each Service with a selector, an Endpoints object listing the selected
// pods' (made-up) IPs, ready ones under addresses and the others under notReadyAddresses.
import { resolveTargetPort } from '../podnetwork.js';
import type { KubeObject } from '../types.js';
import { defOf, type ControllerContext } from './context.js';
import { podReady } from './workload.js';

export class EndpointsController {
  constructor(private readonly ctx: ControllerContext) {}

  /** Reconciles every service of a namespace (keys are namespaces). */
  async reconcile(ns: string): Promise<void> {
    const ctx = this.ctx;
    const svcDef = defOf(ctx, '', 'services');
    const epDef = defOf(ctx, '', 'endpoints');
    const pods = ctx.store
      .list(defOf(ctx, '', 'pods'), ns)
      .map((s) => s.obj)
      .filter((p) => (p.status as { podIP?: string } | undefined)?.podIP && !p.metadata.deletionTimestamp);
    for (const s of ctx.store.list(svcDef, ns)) {
      const svc = s.obj;
      const spec = (svc.spec ?? {}) as {
        selector?: Record<string, string>;
        ports?: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>;
      };
      if (!spec.selector || !Object.keys(spec.selector).length) continue;
      const selected = pods.filter((p) => Object.entries(spec.selector!).every(([k, v]) => p.metadata.labels?.[k] === v));
      const addr = (p: KubeObject): object => ({
        ip: (p.status as { podIP: string }).podIP,
        nodeName: (p.spec as { nodeName?: string }).nodeName,
        targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid },
      });
      const ports = (spec.ports ?? []).map((sp) => ({
        ...(sp.name ? { name: sp.name } : {}),
        port:
          (selected[0] ? resolveTargetPort(selected[0], sp.targetPort ?? sp.port) : undefined) ??
          (typeof sp.targetPort === 'number' ? sp.targetPort : sp.port),
        protocol: sp.protocol ?? 'TCP',
      }));
      const ready = selected.filter(podReady).map(addr);
      const notReady = selected.filter((p) => !podReady(p)).map(addr);
      const subsets = selected.length
        ? [{ ...(ready.length ? { addresses: ready } : {}), ...(notReady.length ? { notReadyAddresses: notReady } : {}), ports }]
        : [];
      const existing = ctx.store.get(epDef, ns, svc.metadata.name!)?.obj;
      const body: KubeObject = {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: svc.metadata.name, namespace: ns, ...(svc.metadata.labels ? { labels: svc.metadata.labels } : {}) },
        subsets,
      };
      if (!existing) await ctx.core.create(epDef, 'v1', ns, body);
      else if (JSON.stringify(existing.subsets ?? []) !== JSON.stringify(subsets))
        await ctx.core.update(epDef, 'v1', ns, svc.metadata.name!, { ...existing, subsets });
    }
    // Endpoints of deleted services go too.
    for (const e of ctx.store.list(epDef, ns)) {
      if (!ctx.store.get(svcDef, ns, e.obj.metadata.name!)) {
        try {
          ctx.core.delete(epDef, 'v1', ns, e.obj.metadata.name!);
        } catch {
          /* gone */
        }
      }
    }
  }
}
