// Rollout restart decisions, pure: which workloads carry sidecars, which still need a restart for
// this key, and whether a rollout is complete as `kubectl rollout status` judges it (its status
// viewers in k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), plus "no old pods left".
import type { V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { selectorMatches, type LabelSelector } from '../../mesh/labels.js';
import { hasSidecar, sidecarRevision } from '../../mesh/syncz.js';
import { isTerminating } from '../shared/pods.js';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
export type AnyWorkload = V1Deployment | V1StatefulSet | V1DaemonSet;

/** What `kubectl rollout restart` writes into the pod template. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
/** Ours, next to it: the restart's idempotency key, so a rerun waits instead of restarting again. */
export const RESTART_KEY_ANNOTATION = 'meshmove.dev/restart-key';

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

export function workloadId(w: WorkloadRef): string {
  return `${w.kind}/${w.name}`;
}

/** The restart as a merge patch of the pod template's annotations (kubectl uses RFC 3339 time). */
export function restartPatch(key: string, now: Date): object {
  return {
    spec: {
      template: {
        metadata: {
          annotations: { [RESTARTED_AT_ANNOTATION]: now.toISOString().replace(/\.\d{3}Z$/, 'Z'), [RESTART_KEY_ANNOTATION]: key },
        },
      },
    },
  };
}

export function templateRestartKey(w: AnyWorkload): string | undefined {
  return w.spec?.template?.metadata?.annotations?.[RESTART_KEY_ANNOTATION];
}

export function templateRestartedAt(w: AnyWorkload): number | undefined {
  const v = w.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
  const t = v === undefined ? NaN : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The pods a workload owns: its selector matches their labels and, when they say who owns them,
 * the owner fits (a Deployment's pods are owned by its ReplicaSets `<name>-<hash>`). The owner check
 * keeps overlapping selectors from mixing two workloads without listing ReplicaSets.
 */
export function podsOf(kind: WorkloadKind, w: AnyWorkload, pods: readonly V1Pod[]): V1Pod[] {
  const name = w.metadata?.name ?? '';
  const sel = w.spec?.selector as LabelSelector | undefined;
  return pods.filter((p) => {
    if (!selectorMatches(sel, p.metadata?.labels ?? {})) return false;
    const owner = (p.metadata?.ownerReferences ?? []).find((o) => o.controller) ?? p.metadata?.ownerReferences?.[0];
    if (!owner) return true;
    if (kind === 'Deployment') return owner.kind === 'ReplicaSet' && owner.name.startsWith(`${name}-`);
    return owner.kind === kind && owner.name === name;
  });
}

export type RestartAction =
  /** No pod of it carries a sidecar: nothing to re-inject (opted out, or scaled to zero). */
  | { action: 'skip'; reason: 'no-sidecar' | 'on-revision' }
  | { action: 'restart' }
  /** Already restarted for this key (by an earlier attempt): only wait. */
  | { action: 'wait' };

/**
 * What to do with one workload. A workload whose pods all already run `expectRevision` needs no
 * restart (e.g. a compensation for a namespace whose pods were never restarted).
 */
export function decideRestart(
  kind: WorkloadKind,
  w: AnyWorkload,
  pods: readonly V1Pod[],
  key: string,
  expectRevision: string,
): RestartAction {
  if (templateRestartKey(w) === key) return { action: 'wait' };
  const own = podsOf(kind, w, pods).filter((p) => !isTerminating(p));
  if (!own.some(hasSidecar)) return { action: 'skip', reason: 'no-sidecar' };
  if (own.every((p) => sidecarRevision(p) === expectRevision)) return { action: 'skip', reason: 'on-revision' };
  return { action: 'restart' };
}

/**
 * Conditions under which a restart cannot bring every pod onto the new template; failing up
 * front with the fix beats waiting for the timeout.
 */
export function restartBlocker(kind: WorkloadKind, w: AnyWorkload): string | undefined {
  const id = `${kind}/${w.metadata?.name ?? ''}`;
  if (kind === 'Deployment' && (w as V1Deployment).spec?.paused) {
    return `${id} is paused: a restart would not roll it out (run "kubectl rollout resume deployment/${w.metadata?.name ?? ''}" first, or leave it out of the plan)`;
  }
  if (kind === 'StatefulSet') {
    const s = (w as V1StatefulSet).spec?.updateStrategy;
    if (s?.type === 'OnDelete')
      return `${id} uses updateStrategy OnDelete: its pods are replaced only when deleted; delete them yourself or switch it to RollingUpdate`;
    const partition = s?.rollingUpdate?.partition ?? 0;
    if (partition > 0)
      return `${id} has rollingUpdate.partition=${partition}: pods with an ordinal below ${partition} would keep the old sidecar; set the partition to 0`;
  }
  if (kind === 'DaemonSet' && (w as V1DaemonSet).spec?.updateStrategy?.type === 'OnDelete') {
    return `${id} uses updateStrategy OnDelete: its pods are replaced only when deleted; delete them yourself or switch it to RollingUpdate`;
  }
  return undefined;
}

export interface RolloutState {
  done: boolean;
  /** kubectl's wording when not done; also set for a failed rollout. */
  message: string;
  /** A rollout that will not finish by waiting (progress deadline exceeded). */
  failed?: boolean;
}

/** `kubectl rollout status` for one workload, plus: none of its live pods predates the restart key. */
export function rolloutState(kind: WorkloadKind, w: AnyWorkload, pods: readonly V1Pod[], key: string): RolloutState {
  const base = kubectlRolloutStatus(kind, w);
  if (!base.done) return base;
  const old = podsOf(kind, w, pods).filter((p) => !isTerminating(p) && p.metadata?.annotations?.[RESTART_KEY_ANNOTATION] !== key);
  if (old.length > 0)
    return {
      done: false,
      message: `${old.length} old pod(s) still running: ${old
        .slice(0, 3)
        .map((p) => p.metadata?.name ?? '?')
        .join(', ')}`,
    };
  return base;
}

export function kubectlRolloutStatus(kind: WorkloadKind, w: AnyWorkload): RolloutState {
  const generation = w.metadata?.generation ?? 0;
  if (kind === 'Deployment') {
    const d = w as V1Deployment;
    const st = d.status ?? {};
    if (generation > (st.observedGeneration ?? 0)) return { done: false, message: 'waiting for deployment spec update to be observed' };
    const progressing = (st.conditions ?? []).find((c) => c.type === 'Progressing');
    if (progressing?.reason === 'ProgressDeadlineExceeded')
      return {
        done: false,
        failed: true,
        message: `deployment exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ''}`,
      };
    const want = d.spec?.replicas ?? 1;
    const updated = st.updatedReplicas ?? 0;
    if (updated < want) return { done: false, message: `${updated} out of ${want} new replicas have been updated` };
    if ((st.replicas ?? 0) > updated)
      return { done: false, message: `${(st.replicas ?? 0) - updated} old replicas are pending termination` };
    if ((st.availableReplicas ?? 0) < updated)
      return { done: false, message: `${st.availableReplicas ?? 0} of ${updated} updated replicas are available` };
    return { done: true, message: 'successfully rolled out' };
  }
  if (kind === 'StatefulSet') {
    const s = w as V1StatefulSet;
    const st = s.status;
    if (!st || !st.observedGeneration || generation > st.observedGeneration)
      return { done: false, message: 'waiting for statefulset spec update to be observed' };
    const want = s.spec?.replicas ?? 1;
    if ((st.readyReplicas ?? 0) < want) return { done: false, message: `waiting for ${want - (st.readyReplicas ?? 0)} pods to be ready` };
    if ((st.updatedReplicas ?? 0) < want)
      return { done: false, message: `${st.updatedReplicas ?? 0} out of ${want} new pods have been updated` };
    if (st.updateRevision !== st.currentRevision)
      return {
        done: false,
        message: `waiting for statefulset rolling update to complete ${st.updatedReplicas ?? 0} pods at revision ${st.updateRevision ?? '?'}`,
      };
    return { done: true, message: 'rolling update complete' };
  }
  const ds = w as V1DaemonSet;
  const st = ds.status;
  if (!st || generation > (st.observedGeneration ?? 0))
    return { done: false, message: 'waiting for daemon set spec update to be observed' };
  const desired = st.desiredNumberScheduled ?? 0;
  if ((st.updatedNumberScheduled ?? 0) < desired)
    return { done: false, message: `${st.updatedNumberScheduled ?? 0} out of ${desired} new pods have been updated` };
  if ((st.numberAvailable ?? 0) < desired)
    return { done: false, message: `${st.numberAvailable ?? 0} of ${desired} updated pods are available` };
  return { done: true, message: 'successfully rolled out' };
}
