// StatefulSet controller: pods <name>-<ordinal> created in order (OrderedReady) or all at once
// (Parallel); a template change rolls pods from the highest ordinal down, one at a time,
// rolloutPodDelayMs apart; currentRevision becomes updateRevision once every pod is updated.
import type { KubeObject } from '../types.js';
import { defOf, templateHash, type ControllerContext } from './context.js';
import { deletePod, ownedPods, podFromTemplate, podReady, writeStatus, type PodTemplate } from './workload.js';

const REV = 'controller-revision-hash';

export class StatefulSetController {
  private readonly lastRoll = new Map<string, number>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly requeueAfter: (key: string, ms: number) => void,
  ) {}

  async reconcile(ns: string, name: string): Promise<void> {
    const ctx = this.ctx;
    const def = defOf(ctx, 'apps', 'statefulsets');
    const key = `${ns}/${name}`;
    const sts = ctx.store.get(def, ns, name)?.obj;
    if (!sts) {
      this.lastRoll.delete(key);
      return;
    }
    const spec = sts.spec as {
      replicas: number;
      template: PodTemplate;
      serviceName?: string;
      podManagementPolicy?: string;
      updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
    };
    const updateRevision = `${name}-${templateHash(spec.template)}`;
    const ordered = spec.podManagementPolicy !== 'Parallel';
    const podsByOrdinal = new Map<number, KubeObject>();
    for (const p of ownedPods(ctx, sts)) {
      const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`).exec(p.metadata.name ?? '');
      if (m) podsByOrdinal.set(Number(m[1]), p);
    }
    let waiting = false;
    for (let i = 0; i < spec.replicas; i++) {
      const p = podsByOrdinal.get(i);
      if (!p) {
        const pod = podFromTemplate(
          spec.template,
          sts,
          'apps/v1',
          'StatefulSet',
          { name: `${name}-${i}` },
          { [REV]: updateRevision, 'statefulset.kubernetes.io/pod-name': `${name}-${i}`, 'apps.kubernetes.io/pod-index': String(i) },
          { hostname: `${name}-${i}`, ...(spec.serviceName ? { subdomain: spec.serviceName } : {}) },
        );
        await ctx.core.create(defOf(ctx, '', 'pods'), 'v1', ns, pod);
        if (ordered) {
          waiting = true;
          break;
        }
      } else if (ordered && !podReady(p)) {
        waiting = true;
        break;
      }
    }
    // Scale down from the highest ordinal.
    const surplus = [...podsByOrdinal.keys()].filter((i) => i >= spec.replicas).sort((a, b) => b - a);
    for (const i of ordered ? surplus.slice(0, 1) : surplus) await deletePod(ctx, podsByOrdinal.get(i)!);
    // Rolling update: once all pods are up and ready, replace the highest outdated ordinal.
    const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    if (!waiting && surplus.length === 0 && spec.updateStrategy?.type !== 'OnDelete') {
      const pods = [...podsByOrdinal.entries()].filter(([i]) => i < spec.replicas);
      const allReady = pods.length === spec.replicas && pods.every(([, p]) => podReady(p));
      const outdated = pods.filter(([i, p]) => i >= partition && p.metadata.labels?.[REV] !== updateRevision).sort((a, b) => b[0] - a[0]);
      if (allReady && outdated.length) {
        const since = Date.now() - (this.lastRoll.get(key) ?? 0);
        if (since >= ctx.rolloutPodDelayMs) {
          await deletePod(ctx, outdated[0]![1]);
          this.lastRoll.set(key, Date.now());
          this.requeueAfter(key, 5);
        } else this.requeueAfter(key, ctx.rolloutPodDelayMs - since + 5);
      }
    }
    const fresh = ctx.store.get(def, ns, name)?.obj;
    if (!fresh) return;
    const pods = ownedPods(ctx, fresh);
    const prev = (fresh.status ?? {}) as { currentRevision?: string };
    const updated = pods.filter((p) => p.metadata.labels?.[REV] === updateRevision).length;
    const currentRevision =
      updated === spec.replicas && pods.length === spec.replicas ? updateRevision : (prev.currentRevision ?? updateRevision);
    const ready = pods.filter(podReady).length;
    await writeStatus(ctx, def, fresh, {
      observedGeneration: fresh.metadata.generation,
      replicas: pods.length,
      readyReplicas: ready,
      currentReplicas: pods.filter((p) => p.metadata.labels?.[REV] === currentRevision).length,
      updatedReplicas: updated,
      availableReplicas: ready,
      currentRevision,
      updateRevision,
      collisionCount: 0,
    });
  }
}
