// Job controller: one pod at a time until one Succeeds (Complete) or more than backoffLimit Fail
// (Failed, BackoffLimitExceeded). The pod's end is written by whoever runs it (pods/status).
import { jsonClone, type KubeObject } from '../types.js';
import { defOf, setCondition, type Condition, type ControllerContext } from './context.js';
import { deletePod, ownedPods, podFromTemplate, podReady, writeStatus, type PodTemplate } from './workload.js';

const phase = (p: KubeObject): string | undefined => (p.status as { phase?: string } | undefined)?.phase;

export class JobController {
  constructor(private readonly ctx: ControllerContext) {}

  async reconcile(ns: string, name: string): Promise<void> {
    const ctx = this.ctx;
    const def = defOf(ctx, 'batch', 'jobs');
    const job = ctx.store.get(def, ns, name)?.obj;
    if (!job) return;
    const spec = job.spec as { template: PodTemplate; backoffLimit: number; completions: number; suspend?: boolean };
    const status = jsonClone(job.status ?? {}) as Record<string, unknown>;
    let conditions = (status.conditions ?? []) as Condition[];
    const finished = conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    const now = ctx.core.now();
    const pods = ownedPods(ctx, job, true);
    const succeeded = pods.filter((p) => phase(p) === 'Succeeded').length;
    const failed = pods.filter((p) => phase(p) === 'Failed').length;
    let active = pods.filter((p) => phase(p) !== 'Succeeded' && phase(p) !== 'Failed' && !p.metadata.deletionTimestamp);
    if (!finished) {
      status.startTime ??= now;
      if (succeeded >= (spec.completions ?? 1)) {
        conditions = setCondition(
          conditions,
          {
            type: 'SuccessCriteriaMet',
            status: 'True',
            reason: 'CompletionsReached',
            message: 'Reached expected number of succeeded pods',
          },
          now,
        );
        conditions = setCondition(
          conditions,
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
          now,
        );
        status.completionTime = now;
        for (const p of active) await deletePod(ctx, p);
        active = [];
      } else if (failed > spec.backoffLimit) {
        conditions = setCondition(
          conditions,
          { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' },
          now,
        );
        conditions = setCondition(
          conditions,
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' },
          now,
        );
        for (const p of active) await deletePod(ctx, p);
        active = [];
      } else if (active.length === 0 && !spec.suspend) {
        const pod = podFromTemplate(spec.template, job, 'batch/v1', 'Job', { generateName: `${name}-` });
        await ctx.core.create(defOf(ctx, '', 'pods'), 'v1', ns, pod);
        active = ownedPods(ctx, job).filter((p) => phase(p) !== 'Succeeded' && phase(p) !== 'Failed');
      }
    }
    const fresh = ctx.store.get(def, ns, name)?.obj;
    if (!fresh) return;
    const next: Record<string, unknown> = {
      ...status,
      ...(conditions.length ? { conditions } : {}),
      active: active.length,
      ready: active.filter(podReady).length,
      terminating: 0,
      uncountedTerminatedPods: {},
    };
    if (succeeded) next.succeeded = succeeded;
    else delete next.succeeded;
    if (failed) next.failed = failed;
    else delete next.failed;
    if (next.active === 0) delete next.active;
    await writeStatus(ctx, def, fresh, next);
  }
}
