// ReplicaSet controller: keeps spec.replicas pods (created through admission, so webhooks inject
// them), deletes surplus pods not-ready first, and reports replicas/ready/available.
import type { KubeObject } from '../types.js';
import { defOf, recordEvent, setCondition, type Condition, type ControllerContext } from './context.js';
import { deletePod, ownedPods, podFromTemplate, podReady, writeStatus, type PodTemplate } from './workload.js';

export class ReplicaSetController {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly requeueAfter: (key: string, ms: number) => void,
  ) {}

  async reconcile(ns: string, name: string): Promise<void> {
    const ctx = this.ctx;
    const def = defOf(ctx, 'apps', 'replicasets');
    const rs = ctx.store.get(def, ns, name)?.obj;
    if (!rs) return;
    const spec = rs.spec as { replicas: number; template: PodTemplate };
    let pods = ownedPods(ctx, rs);
    const diff = spec.replicas - pods.length;
    let failure: string | undefined;
    if (diff > 0) {
      for (let i = 0; i < diff; i++) {
        try {
          const pod = podFromTemplate(spec.template, rs, 'apps/v1', 'ReplicaSet', { generateName: `${name}-` });
          await ctx.core.create(defOf(ctx, '', 'pods'), 'v1', ns, pod);
        } catch (e) {
          failure = (e as Error).message;
          break;
        }
      }
    } else if (diff < 0) {
      // Not-ready pods first, then the newest, as the controller's ActivePods ranking does.
      const victims = [...pods]
        .sort(
          (a, b) =>
            Number(podReady(a)) - Number(podReady(b)) ||
            (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
        )
        .slice(0, -diff);
      for (const v of victims) await deletePod(ctx, v);
    }
    const key = `${ns}/${name}`;
    if (failure) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      await recordEvent(ctx, rs, 'ReplicaSet', 'Warning', 'FailedCreate', `Error creating: ${failure}`, 'replicaset-controller');
      this.requeueAfter(key, Math.min(5000, 100 * 2 ** Math.min(n, 6)));
    } else this.failures.delete(key);
    pods = ownedPods(ctx, rs);
    const fresh = ctx.store.get(def, ns, name)?.obj;
    if (!fresh) return;
    const ready = pods.filter(podReady).length;
    const selLabels = spec.template.metadata?.labels ?? {};
    let conditions = (fresh.status?.conditions ?? []) as Condition[];
    if (failure)
      conditions = setCondition(
        conditions,
        { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: failure },
        ctx.core.now(),
      );
    else conditions = conditions.filter((c) => c.type !== 'ReplicaFailure');
    const status: Record<string, unknown> = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.filter((p) => Object.entries(selLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: fresh.metadata.generation,
      ...(conditions.length ? { conditions } : {}),
    };
    await writeStatus(ctx, def, fresh as KubeObject, status);
  }
}
