// restartWorkloads: `kubectl rollout restart` for every workload whose pods carry a sidecar, at
// most plan.restart.maxConcurrent rollouts in flight, each waited for as `kubectl rollout status`
// does. The restart key written next to restartedAt makes it idempotent: a rerun, or an attempt
// resumed after a worker crash, finds the key and only waits.
// Two restarts of one namespace must never alternate (issue 8: a rollback's restart and the
// still-running forward one re-patched each other's key, a dozen rolling restarts of each workload
// in seconds). So the activity checks for its cancellation before every round of patches, and it stops for
// good when a workload it restarted, or one still queued, now carries another meshmove restart key:
// a newer step (the compensation's restart back) has taken the namespace over.
import type { V1Pod } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { NamespaceRef, RestartResult } from '../contract.js';
import { sidecarRevision } from '../../mesh/syncz.js';
import { nowMs, tuning, type ClusterDeps } from '../shared/deps.js';
import {
  decideRestart,
  kubectlRolloutStatus,
  podsOf,
  RESTART_KEY_ANNOTATION,
  restartBlocker,
  restartPatch,
  rolloutState,
  templateRestartKey,
  templateRestartedAt,
  workloadId,
  type AnyWorkload,
  type WorkloadKind,
} from './rollout.js';
import { describePod } from '../shared/pods.js';
import { Changes, pollUntil, resumedDetails, throwIfCancelled } from '../shared/waiting.js';
import { isKubeFailure, KubeErrorType } from '../kube/errors.js';
import type { KubeWatch } from '../kube/types.js';
import { FailureType } from '../failures.js';

export const RestartFailure = {
  /** A rollout not complete within plan.restart.timeout, or one Kubernetes gave up on. */
  stuck: FailureType.RolloutStuck,
  /** A workload a restart cannot roll (paused, OnDelete, partitioned). */
  blocked: FailureType.RolloutBlocked,
  /** The rollout completed but the new pods got another sidecar (or none). */
  wrongRevision: FailureType.WrongSidecarRevision,
  /** Another step wrote its own restart key on a workload of this restart while it ran. */
  superseded: FailureType.RestartSuperseded,
} as const;

const KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

interface RestartProgress {
  key: string;
  /** Workloads whose rollout completed for this key. */
  done: string[];
  /** Workloads this restart is about: restarted for this key (by any attempt), found restarted, or queued. */
  targets: string[];
  /** Workloads seen carrying this key (restarted by any attempt, or found so); absent in older details. */
  restarted?: string[];
  /** `Kind/name: status` of the rollouts in flight. */
  inFlight?: string[];
  /** When this execution began waiting (epoch ms): kept across a resumed attempt, fresh for a new execution. */
  startedAt: number;
}

type Snapshot = { workloads: Map<string, { kind: WorkloadKind; w: AnyWorkload }>; pods: V1Pod[] };

async function snapshot(deps: ClusterDeps, namespace: string): Promise<Snapshot> {
  const [lists, pods] = await Promise.all([
    Promise.all(KINDS.map(async (kind) => ({ kind, items: (await deps.kube.listWorkloads(kind, namespace)) as AnyWorkload[] }))),
    deps.kube.listPods(namespace),
  ]);
  const workloads = new Map<string, { kind: WorkloadKind; w: AnyWorkload }>();
  for (const { kind, items } of lists)
    for (const w of items) workloads.set(workloadId({ kind, name: w.metadata?.name ?? '' }), { kind, w });
  return { workloads, pods };
}

/**
 * The namespace's workloads of the kinds being restarted, kept current by one watch per kind (the
 * server first replays every object, then sends each change): rollout progress is read from each
 * workload's status as it changes, without listing again. A watch that ends is opened anew after a
 * list of its kind (what was deleted meanwhile); one that cannot be opened leaves that kind to a
 * list every round.
 */
class WorkloadView {
  readonly changes = new Changes();
  private readonly open = new Map<WorkloadKind, KubeWatch>();
  /** Kinds whose watch ended or never opened: listed at the next round. */
  private readonly stale = new Set<WorkloadKind>();
  private fatal: Error | undefined;
  private stopped = false;

  constructor(
    private readonly deps: ClusterDeps,
    private readonly namespace: string,
    private readonly kinds: ReadonlySet<WorkloadKind>,
    readonly workloads: Snapshot['workloads'],
  ) {}

  /**
   * A patch's answer may arrive after the watch event of a later change (the controller's status
   * update): the newer resourceVersion wins. Versions that do not compare as numbers (opaque on
   * some servers) leave the kind to a list at the next round.
   */
  set(kind: WorkloadKind, w: AnyWorkload, fromList = false): void {
    const id = workloadId({ kind, name: w.metadata?.name ?? '' });
    const held = this.workloads.get(id)?.w.metadata?.resourceVersion;
    const next = w.metadata?.resourceVersion;
    const a = Number(held);
    const b = Number(next);
    if (held !== undefined && next !== undefined && Number.isSafeInteger(a) && Number.isSafeInteger(b)) {
      if (b < a) return;
    } else if (held !== undefined && !fromList) {
      this.stale.add(kind);
    }
    this.workloads.set(id, { kind, w });
  }

  /** Brings every kind up to date: opens missing watches, lists kinds that had none. */
  async ensure(): Promise<void> {
    if (this.fatal) throw this.fatal;
    for (const kind of this.kinds) {
      if (this.stale.has(kind)) {
        this.stale.delete(kind);
        const items = (await this.deps.kube.listWorkloads(kind, this.namespace)) as AnyWorkload[];
        const listed = new Set(items.map((w) => workloadId({ kind, name: w.metadata?.name ?? '' })));
        for (const [id, e] of this.workloads) if (e.kind === kind && !listed.has(id)) this.workloads.delete(id);
        for (const w of items) this.set(kind, w, true);
      }
      if (this.open.has(kind) || this.stopped) continue;
      try {
        const watch = await this.deps.kube.watchWorkloads(kind, this.namespace, {}, (type, w) => {
          const id = workloadId({ kind, name: w.metadata?.name ?? '' });
          if (type === 'DELETED') this.workloads.delete(id);
          // A watch opened without a resourceVersion replays from the server's watch cache, which may
          // lag behind our own patch: the newer resourceVersion wins here too.
          else this.set(kind, w as AnyWorkload);
          this.changes.notify();
        });
        this.open.set(kind, watch);
        void watch.ended.then((err) => {
          this.open.delete(kind);
          this.stale.add(kind);
          if (isKubeFailure(err) && (err.type === KubeErrorType.forbidden || err.type === KubeErrorType.unauthorized)) this.fatal = err;
          this.changes.notify();
        });
      } catch (err) {
        if (isKubeFailure(err) && (err.type === KubeErrorType.forbidden || err.type === KubeErrorType.unauthorized)) throw err;
        // Not watchable now: this kind is listed every round until a watch opens.
        this.stale.add(kind);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.open.values()) w.stop();
  }
}

export async function restartWorkloads(
  deps: ClusterDeps,
  input: NamespaceRef & { key: string; expectRevision: string; only?: string[] },
): Promise<RestartResult> {
  const { namespace, key, expectRevision, plan } = input;
  const t = tuning(deps);
  const resumed = resumedDetails<RestartProgress>((d) => (d as RestartProgress).key === key && Array.isArray((d as RestartProgress).done));
  const done = new Set(resumed?.done ?? []);
  // plan.restart.timeout runs from the restart, or from the start of this execution when it came
  // later: an operator's retry after fixing a stuck rollout gets the full timeout again, while an
  // attempt resumed after a worker crash keeps the original clock.
  const startedAt = typeof resumed?.startedAt === 'number' ? resumed.startedAt : nowMs(deps);
  const targets = new Set(resumed?.targets ?? []);
  // Workloads known to have carried our key, and the key each workload had at this execution's
  // first look: another meshmove key appearing after either means another step restarts them.
  const restarted = new Set(resumed?.restarted ?? []);
  const keyAtFirstLook = new Map<string, string | undefined>();

  // First look: what needs a restart, what an earlier attempt already restarted.
  const first = await snapshot(deps, namespace);
  let alreadyRestarted = 0;
  const blockers: string[] = [];
  for (const [id, { kind, w }] of first.workloads) {
    if (input.only && !input.only.includes(id)) continue;
    keyAtFirstLook.set(id, templateRestartKey(w));
    const action = decideRestart(kind, w, first.pods, key, expectRevision);
    if (action.action === 'skip') continue;
    if (action.action === 'wait') {
      alreadyRestarted++;
      restarted.add(id);
    }
    targets.add(id);
    if (action.action === 'restart') {
      const b = restartBlocker(kind, w);
      if (b) blockers.push(b);
    }
  }
  if (blockers.length > 0) {
    throw ApplicationFailure.create({
      type: RestartFailure.blocked,
      nonRetryable: true,
      message: `cannot restart in namespace ${namespace}: ${blockers.join('; ')}`,
    });
  }

  const order = [...targets].sort();
  const kinds = new Set(order.map((id) => first.workloads.get(id)?.kind).filter((k): k is WorkloadKind => k !== undefined));
  const view = new WorkloadView(deps, namespace, kinds, first.workloads);
  // Pods are listed only to judge workloads whose status says rolled out (old pods gone, new pods'
  // sidecar revision), and to describe a stuck rollout.
  let pods: V1Pod[] | undefined = first.pods;
  try {
    return await pollUntil<RestartResult, string[]>({
      intervalMs: t.pollMs,
      changes: view.changes,
      now: () => nowMs(deps),
      details: (inFlight) =>
        ({ key, done: [...done].sort(), targets: order, restarted: [...restarted].sort(), inFlight, startedAt }) satisfies RestartProgress,
      onTimeout: () => new Error('unreachable: restart has per-workload deadlines'),
      check: async () => {
        await view.ensure();
        const s: Snapshot = { workloads: view.workloads, pods: pods ?? [] };
        // Whatever this round saw, a cancelled restart changes nothing more.
        throwIfCancelled();
        const superseded = supersededBy(s, order, done, key, restarted, keyAtFirstLook);
        if (superseded) {
          throw ApplicationFailure.create({
            type: RestartFailure.superseded,
            nonRetryable: true,
            message: `${superseded.id} in ${namespace} now carries restart key "${superseded.key}", written by another step while this restart (key "${key}") ran; stopping without restarting anything again, so that the two restarts do not alternate`,
          });
        }
        const inFlight: string[] = [];
        const pending: string[] = [];
        const rolledOut: string[] = [];
        for (const id of order) {
          if (done.has(id)) continue;
          const entry = s.workloads.get(id);
          // Deleted since the first look: nothing left to restart or wait for.
          if (!entry) {
            done.add(id);
            continue;
          }
          const { kind, w } = entry;
          if (templateRestartKey(w) !== key) {
            pending.push(id);
            continue;
          }
          restarted.add(id);
          const status = kubectlRolloutStatus(kind, w);
          if (status.done) {
            rolledOut.push(id);
            continue;
          }
          const since = Math.max(templateRestartedAt(w) ?? startedAt, startedAt);
          const stuckFor = nowMs(deps) - since;
          if (status.failed || stuckFor > plan.restart.timeout) {
            const podList = podsOf(kind, w, await deps.kube.listPods(namespace))
              .map(describePod)
              .slice(0, 10);
            throw ApplicationFailure.create({
              type: RestartFailure.stuck,
              nonRetryable: true,
              message:
                `${id} in ${namespace}: rollout not complete ${status.failed ? '' : `after ${Math.round(stuckFor / 1000)}s (restart.timeout ${Math.round(plan.restart.timeout / 1000)}s)`}: ${status.message}; pods: ${podList.length ? podList.join(' | ') : 'none'}. Fix the workload, then decide retry (it will not be restarted again, only waited for)`.replace(
                  /  +/g,
                  ' ',
                ),
            });
          }
          inFlight.push(`${id}: ${status.message}`);
        }
        // Rolled out by status: judged by their pods (old ones gone, the new ones' sidecar) with one
        // pod list, once nothing else rolls, or sooner when queued workloads wait for their slot (so
        // that a wrong sidecar revision stops the restart before it goes further).
        const judgeNow = rolledOut.length > 0 && (pending.length > 0 || inFlight.length === 0);
        if (!judgeNow) for (const id of rolledOut) inFlight.push(`${id}: rolled out, pods to check`);
        if (judgeNow) {
          // The first round may judge with the first look's pods; afterwards, pods as they are now.
          pods = pods ?? (await deps.kube.listPods(namespace));
          for (const id of rolledOut) {
            const { kind, w } = s.workloads.get(id)!;
            const state = rolloutState(kind, w, pods, key);
            if (!state.done) {
              inFlight.push(`${id}: ${state.message}`);
              continue;
            }
            // Judge the new pods only: old ones may still be terminating with the old sidecar.
            const fresh = podsOf(kind, w, pods).filter(
              (p) => !p.metadata?.deletionTimestamp && p.metadata?.annotations?.[RESTART_KEY_ANNOTATION] === key,
            );
            const wrong = fresh.filter((p) => sidecarRevision(p) !== expectRevision);
            if (wrong.length > 0) {
              const seen = [...new Set(wrong.map((p) => sidecarRevision(p) ?? 'no sidecar'))].join(', ');
              throw ApplicationFailure.create({
                type: RestartFailure.wrongRevision,
                nonRetryable: true,
                message: `${id} in ${namespace} rolled out but its new pods got ${seen} instead of sidecar revision ${expectRevision} (${wrong
                  .slice(0, 3)
                  .map((p) => p.metadata?.name ?? '?')
                  .join(
                    ', ',
                  )}); another webhook intercepts the namespace: see explainInjection, fix the namespace labels or webhooks, then retry`,
              });
            }
            done.add(id);
          }
        }
        // Pods seen are stale from now on: the next judgement lists them again.
        pods = undefined;
        const room = Math.max(0, plan.restart.maxConcurrent - inFlight.length);
        const now = new Date(nowMs(deps));
        // The workloads that have room start side by side: their rollouts are independent, and a
        // round's patches in sequence only delayed the later ones.
        const starting = pending.slice(0, room);
        if (starting.length > 0) throwIfCancelled();
        await Promise.all(
          starting.map(async (id) => {
            const { kind } = s.workloads.get(id)!;
            const name = id.slice(kind.length + 1);
            view.set(kind, (await deps.kube.patchWorkload(kind, namespace, name, restartPatch(key, now), 'merge')) as AnyWorkload);
            restarted.add(id);
            deps.logger?.info({ namespace, workload: id, key }, 'workload restarted');
            inFlight.push(`${id}: restarted`);
          }),
        );
        if (done.size === order.length) return { done: true, value: { workloads: order, alreadyRestarted } };
        return { done: false, progress: [...inFlight, ...pending.slice(room).map((id) => `${id}: queued`)] };
      },
    });
  } finally {
    view.stop();
  }
}

/**
 * The first workload of this restart (not yet done) that carries another meshmove restart key
 * than ours although it carried ours before, or although it carried a different one at our first
 * look: another step wrote it while we ran. A workload without any key is not counted: only
 * meshmove writes keys, and an absent one is what a restart still to do looks like.
 */
function supersededBy(
  s: Snapshot,
  order: readonly string[],
  done: ReadonlySet<string>,
  key: string,
  restarted: ReadonlySet<string>,
  keyAtFirstLook: ReadonlyMap<string, string | undefined>,
): { id: string; key: string } | undefined {
  for (const id of order) {
    if (done.has(id)) continue;
    const entry = s.workloads.get(id);
    if (!entry) continue;
    const now = templateRestartKey(entry.w);
    if (now === undefined || now === key) continue;
    if (restarted.has(id) || now !== keyAtFirstLook.get(id)) return { id, key: now };
  }
  return undefined;
}
