// Deployment controller: one ReplicaSet per pod template (named <deployment>-<pod-template-hash>),
// rolling updates that add new pods one at a time (rolloutPodDelayMs apart) within maxSurge and
// remove old ones within maxUnavailable, and the status fields and conditions `kubectl rollout
// status` reads (observedGeneration, updated/ready/available replicas, Progressing/Available).
import { jsonClone, type KubeObject } from '../types.js';
import { controllerRef, defOf, ownerRefTo, setCondition, templateHash, type Condition, type ControllerContext } from './context.js';
import { resolveIntOrPercent, writeStatus, type PodTemplate } from './workload.js';

interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  template: PodTemplate;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: unknown; maxUnavailable?: unknown } };
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  paused?: boolean;
}

const REVISION = 'deployment.kubernetes.io/revision';

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export class DeploymentController {
  /** When the new ReplicaSet of a deployment was last scaled up during a rollout. */
  private readonly lastScaleUp = new Map<string, number>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly requeueAfter: (key: string, ms: number) => void,
  ) {}

  async reconcile(ns: string, name: string): Promise<void> {
    const ctx = this.ctx;
    const dDef = defOf(ctx, 'apps', 'deployments');
    const rsDef = defOf(ctx, 'apps', 'replicasets');
    const key = `${ns}/${name}`;
    const d = ctx.store.get(dDef, ns, name)?.obj;
    if (!d) {
      this.lastScaleUp.delete(key);
      return;
    }
    const spec = d.spec as unknown as DeploymentSpec;
    const desired = spec.replicas;
    const owned = (): KubeObject[] =>
      ctx.store
        .list(rsDef, ns)
        .map((s) => s.obj)
        .filter((rs) => controllerRef(rs)?.uid === d.metadata.uid);
    let all = owned();
    const hash = templateHash(spec.template);
    let newRs = all.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const olds = (): KubeObject[] => all.filter((rs) => rs !== newRs);
    const specReplicas = (rs: KubeObject): number => num(rs.spec?.replicas);
    const available = (rs: KubeObject): number => num(rs.status?.availableReplicas);

    if (!newRs && !spec.paused) {
      const maxRevision = Math.max(0, ...all.map((rs) => Number(rs.metadata.annotations?.[REVISION] ?? 0)));
      const oldTotal = olds().reduce((s, rs) => s + specReplicas(rs), 0);
      const template = jsonClone(spec.template);
      template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash } };
      const rs: KubeObject = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          namespace: ns,
          labels: { ...(spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash },
          annotations: {
            [REVISION]: String(maxRevision + 1),
            'deployment.kubernetes.io/desired-replicas': String(desired),
            'deployment.kubernetes.io/max-replicas': String(desired + 1),
          },
          ownerReferences: [ownerRefTo(d, 'apps/v1', 'Deployment')],
        },
        spec: {
          // A fresh deployment starts at full size; a rollout starts with one surge pod.
          replicas: oldTotal === 0 ? desired : 0,
          selector: { ...spec.selector, matchLabels: { ...(spec.selector.matchLabels ?? {}), 'pod-template-hash': hash } },
          template,
        },
      };
      newRs = (await ctx.core.create(rsDef, 'v1', ns, rs)).obj;
      all = owned();
    }

    if (newRs && !spec.paused) {
      const strategy = spec.strategy?.type ?? 'RollingUpdate';
      const scale = async (rs: KubeObject, replicas: number): Promise<void> => {
        if (specReplicas(rs) === replicas) return;
        const fresh = ctx.store.get(rsDef, ns, rs.metadata.name!)!.obj;
        await ctx.core.update(rsDef, 'v1', ns, rs.metadata.name!, { ...fresh, spec: { ...fresh.spec, replicas } });
      };
      if (strategy === 'Recreate') {
        for (const rs of olds()) await scale(rs, 0);
        const oldPodsLeft = olds().some((rs) => num(rs.status?.replicas) > 0);
        if (!oldPodsLeft) await scale(newRs, desired);
      } else {
        const maxSurge = resolveIntOrPercent(spec.strategy?.rollingUpdate?.maxSurge ?? '25%', desired, true);
        let maxUnavailable = resolveIntOrPercent(spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
        if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
        const oldTotal = olds().reduce((s, rs) => s + specReplicas(rs), 0);
        // Scale up the new ReplicaSet: one pod per step during a rollout, rolloutPodDelayMs apart.
        const total = oldTotal + specReplicas(newRs);
        const target = Math.min(desired, specReplicas(newRs) + Math.max(0, desired + maxSurge - total));
        if (target > specReplicas(newRs)) {
          if (oldTotal === 0) await scale(newRs, target);
          else {
            const since = Date.now() - (this.lastScaleUp.get(key) ?? 0);
            const newReady = available(newRs) >= specReplicas(newRs);
            if (since >= ctx.rolloutPodDelayMs && newReady) {
              await scale(newRs, specReplicas(newRs) + 1);
              this.lastScaleUp.set(key, Date.now());
            } else if (since < ctx.rolloutPodDelayMs) this.requeueAfter(key, ctx.rolloutPodDelayMs - since + 5);
          }
        } else if (specReplicas(newRs) > desired) await scale(newRs, desired);
        // Scale down old ReplicaSets while keeping desired - maxUnavailable pods available.
        all = owned();
        newRs = all.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash)!;
        const minAvailable = desired - maxUnavailable;
        const allPods = all.reduce((s, rs) => s + specReplicas(rs), 0);
        const newUnavailable = specReplicas(newRs) - available(newRs);
        let budget = allPods - minAvailable - newUnavailable;
        // Unhealthy old pods go first, then healthy ones while availability allows.
        for (const rs of olds().sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''))) {
          if (budget <= 0) break;
          const unhealthy = Math.max(0, specReplicas(rs) - available(rs));
          const cut = Math.min(unhealthy, budget);
          if (cut > 0) {
            await scale(rs, specReplicas(rs) - cut);
            budget -= cut;
          }
        }
        all = owned();
        const totalAvailable = all.reduce((s, rs) => s + available(rs), 0);
        let canRemove = Math.min(budget, totalAvailable - minAvailable);
        for (const rs of olds()) {
          if (canRemove <= 0) break;
          const cur = specReplicas(ctx.store.get(rsDef, ns, rs.metadata.name!)!.obj);
          const cut = Math.min(cur, canRemove);
          if (cut > 0) {
            await scale(rs, cur - cut);
            canRemove -= cut;
          }
        }
      }
      // Old ReplicaSets beyond revisionHistoryLimit are deleted once empty.
      const limit = spec.revisionHistoryLimit ?? 10;
      const emptyOlds = owned()
        .filter((rs) => rs.metadata.labels?.['pod-template-hash'] !== hash && specReplicas(rs) === 0 && num(rs.status?.replicas) === 0)
        .sort((a, b) => Number(a.metadata.annotations?.[REVISION] ?? 0) - Number(b.metadata.annotations?.[REVISION] ?? 0));
      for (const rs of emptyOlds.slice(0, Math.max(0, emptyOlds.length - limit))) {
        try {
          ctx.core.delete(rsDef, 'v1', ns, rs.metadata.name!);
        } catch {
          /* already gone */
        }
      }
    }
    await this.updateStatus(ns, name, hash);
  }

  private async updateStatus(ns: string, name: string, hash: string): Promise<void> {
    const ctx = this.ctx;
    const dDef = defOf(ctx, 'apps', 'deployments');
    const rsDef = defOf(ctx, 'apps', 'replicasets');
    const d = ctx.store.get(dDef, ns, name)?.obj;
    if (!d) return;
    const spec = d.spec as unknown as DeploymentSpec;
    const all = ctx.store
      .list(rsDef, ns)
      .map((s) => s.obj)
      .filter((rs) => controllerRef(rs)?.uid === d.metadata.uid);
    const newRs = all.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const sum = (f: (rs: KubeObject) => number): number => all.reduce((s, rs) => s + f(rs), 0);
    const desired = spec.replicas;
    const replicas = sum((rs) => num(rs.status?.replicas));
    const updated = newRs ? num(newRs.status?.replicas) : 0;
    const ready = sum((rs) => num(rs.status?.readyReplicas));
    const availableReplicas = sum((rs) => num(rs.status?.availableReplicas));
    const unavailable = Math.max(0, sum((rs) => num(rs.spec?.replicas)) - availableReplicas);
    const maxUnavailable = resolveIntOrPercent(spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
    const now = ctx.core.now();
    const prev = (d.status ?? {}) as Record<string, unknown>;
    let conditions = (prev.conditions ?? []) as Condition[];
    const minAvail = spec.strategy?.type === 'Recreate' ? desired : desired - maxUnavailable;
    conditions = setCondition(
      conditions,
      availableReplicas >= minAvail
        ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
        : {
            type: 'Available',
            status: 'False',
            reason: 'MinimumReplicasUnavailable',
            message: 'Deployment does not have minimum availability.',
          },
      now,
      true,
    );
    const complete = updated === desired && replicas === desired && availableReplicas === desired;
    const rsName = newRs?.metadata.name ?? `${name}-${hash}`;
    const progressedNow =
      prev.updatedReplicas !== updated ||
      prev.availableReplicas !== availableReplicas ||
      prev.replicas !== replicas ||
      prev.readyReplicas !== ready;
    const prevProg = conditions.find((c) => c.type === 'Progressing');
    const deadlineMs = (spec.progressDeadlineSeconds ?? 600) * 1000;
    if (complete) {
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${rsName}" has successfully progressed.`,
        },
        now,
        true,
      );
    } else if (spec.paused) {
      conditions = setCondition(
        conditions,
        { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' },
        now,
        true,
      );
    } else if (progressedNow || !prevProg || prevProg.reason === 'NewReplicaSetAvailable') {
      conditions = setCondition(
        conditions,
        { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` },
        now,
        true,
      );
      conditions = conditions.map((c) => (c.type === 'Progressing' ? { ...c, lastUpdateTime: now } : c));
      this.requeueAfter(`${ns}/${name}`, deadlineMs + 10);
    } else if (prevProg.reason !== 'ProgressDeadlineExceeded' && Date.now() - Date.parse(prevProg.lastUpdateTime ?? now) > deadlineMs) {
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: `ReplicaSet "${rsName}" has timed out progressing.`,
        },
        now,
        true,
      );
    }
    const order = ['Available', 'Progressing', 'ReplicaFailure'];
    conditions.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
    const status: Record<string, unknown> = {
      observedGeneration: d.metadata.generation,
      replicas,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas,
      ...(unavailable > 0 ? { unavailableReplicas: unavailable } : {}),
      conditions,
    };
    // Zero counters are omitted in the real API (omitempty).
    for (const k of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas']) if (status[k] === 0) delete status[k];
    await writeStatus(ctx, dDef, d, status);
  }
}
