// DaemonSet controller: one pod per simulated node (a single node here); a template change deletes
// the outdated pod and creates an updated one (maxUnavailable 1).
import { defOf, templateHash, type ControllerContext } from './context.js';
import { deletePod, ownedPods, podFromTemplate, podReady, writeStatus, type PodTemplate } from './workload.js';

const REV = 'controller-revision-hash';

export class DaemonSetController {
  constructor(private readonly ctx: ControllerContext) {}

  async reconcile(ns: string, name: string): Promise<void> {
    const ctx = this.ctx;
    const def = defOf(ctx, 'apps', 'daemonsets');
    const ds = ctx.store.get(def, ns, name)?.obj;
    if (!ds) return;
    const spec = ds.spec as { template: PodTemplate; updateStrategy?: { type?: string } };
    const hash = templateHash(spec.template);
    let pods = ownedPods(ctx, ds);
    const outdated = pods.filter((p) => p.metadata.labels?.[REV] !== hash);
    if (spec.updateStrategy?.type !== 'OnDelete') for (const p of outdated) await deletePod(ctx, p);
    pods = ownedPods(ctx, ds);
    for (const p of pods.slice(1)) await deletePod(ctx, p);
    if (pods.length === 0) {
      const pod = podFromTemplate(
        spec.template,
        ds,
        'apps/v1',
        'DaemonSet',
        { generateName: `${name}-` },
        { [REV]: hash, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
        { nodeName: ctx.nodeName },
      );
      await ctx.core.create(defOf(ctx, '', 'pods'), 'v1', ns, pod);
    }
    const fresh = ctx.store.get(def, ns, name)?.obj;
    if (!fresh) return;
    pods = ownedPods(ctx, fresh);
    const ready = pods.filter(podReady).length;
    await writeStatus(ctx, def, fresh, {
      currentNumberScheduled: pods.length,
      desiredNumberScheduled: 1,
      numberMisscheduled: 0,
      numberReady: ready,
      numberAvailable: ready,
      ...(ready < 1 ? { numberUnavailable: 1 - ready } : {}),
      updatedNumberScheduled: pods.filter((p) => p.metadata.labels?.[REV] === hash).length,
      observedGeneration: fresh.metadata.generation,
    });
  }
}
