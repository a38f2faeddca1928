// waitCaReady: until istio-ca-root-cert in the namespace holds the target istiod's root, to stay,
// which restarted pods mount to verify the target istiod on :15012.
//
// The target's root is its own (shared/own-root.ts: the caBundle istiod patches into its
// injector webhook configuration), never the copy of istio-ca-root-cert in its namespace: on a
// real cluster the target did not select its own namespace and the source's root sat there, so
// the wait compared against the wrong root and passed.
//
// Every write is seen: the ConfigMap is watched (each write is an event with a new
// resourceVersion), not sampled. On a real cluster two istiods with different roots rewrote it
// within 0.3 s of each other, non-stop, and a 2 s poll never saw the flips. When the root keeps
// changing between two roots (two writers), the step fails at once with both named; waiting longer
// cannot help. Read-only, so idempotent; it heartbeats every round and a resumed attempt keeps the
// first attempt's deadline.
import { ApplicationFailure } from '@temporalio/common';
import type { NamespaceRef } from '../contract.js';
import { discovers } from '../../mesh/discovery.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP, meshConfigMapName } from '../../mesh/naming.js';
import { isKubeFailure, KubeErrorType } from '../kube/errors.js';
import type { KubeAccess, KubeWatch } from '../kube/types.js';
import { compareRoots, holdsRoot, rootFingerprint, type RootRelation } from '../shared/ca-roots.js';
import { nowMs, tuning, type ClusterDeps } from '../shared/deps.js';
import { readControlPlaneRoots } from '../shared/own-root.js';
import { Changes, pollUntil, resumedDetails } from '../shared/waiting.js';
import { decideCaWait, explainCaTimeout, rootChanges, type CaObservation } from './ca-wait.js';
import { FailureType } from '../failures.js';

export const CaFailure = {
  timeout: FailureType.CaRootNotReady,
  noTargetRoot: FailureType.TargetRootUnknown,
  contested: FailureType.CaRootContested,
} as const;

async function targetDiscovers(deps: ClusterDeps, input: NamespaceRef): Promise<boolean | undefined> {
  try {
    const [cm, ns] = await Promise.all([
      deps.kube.getConfigMap(input.plan.target.istiodNamespace, meshConfigMapName(input.plan.target.revision)),
      deps.kube.getNamespace(input.namespace),
    ]);
    if (!cm || !ns) return undefined;
    return discovers(parseMeshConfig(cm.data?.mesh).discoverySelectors, ns.metadata?.labels ?? {});
  } catch {
    // Only used to word the failure better; its absence must not hide the real failure.
    return undefined;
  }
}

/** Every state of the namespace's istio-ca-root-cert: a GET, then a watch from its resourceVersion; again when the watch ends. */
class CaRootWatch {
  readonly history: CaObservation[] = [];
  private watch: KubeWatch | undefined;
  private open = false;
  private lastRv: string | undefined;
  private fatal: Error | undefined;
  /** Each new state, and the end of the watch: the wait looks again at once. */
  readonly changes = new Changes();

  constructor(
    private readonly kube: KubeAccess,
    private readonly namespace: string,
    private readonly now: () => number,
  ) {}

  private record(resourceVersion: string, pem: string | undefined): void {
    if (resourceVersion === this.lastRv) return;
    this.lastRv = resourceVersion;
    this.history.push({ at: this.now(), resourceVersion, pem });
    this.changes.notify();
  }

  /** Opens the watch if it is not open (first call, or it ended): what changed meanwhile is read by a GET. */
  async ensure(): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (this.open) return;
    const cm = await this.kube.getConfigMap(this.namespace, CA_ROOT_CONFIGMAP);
    const rv = cm?.metadata?.resourceVersion;
    this.record(rv ?? '', cm?.data?.[CA_ROOT_CERT_KEY]);
    this.open = true;
    try {
      // Absent: watch from "now" (the server first replays what exists, so a create in between is not lost).
      const w = await this.kube.watchConfigMaps(
        this.namespace,
        { fieldSelector: `metadata.name=${CA_ROOT_CONFIGMAP}`, ...(rv ? { resourceVersion: rv } : {}) },
        (type, obj) => {
          this.record(obj.metadata?.resourceVersion ?? '', type === 'DELETED' ? undefined : obj.data?.[CA_ROOT_CERT_KEY]);
        },
      );
      this.watch = w;
      void w.ended.then((err) => {
        this.open = false;
        this.watch = undefined;
        this.changes.notify();
        // A watch we may not open would silently leave us sampling: say which permission is missing.
        if (isKubeFailure(err) && (err.type === KubeErrorType.forbidden || err.type === KubeErrorType.unauthorized)) this.fatal = err;
      });
    } catch (err) {
      this.open = false;
      throw err;
    }
  }

  stop(): void {
    this.watch?.stop();
  }
}

/**
 * How long the target's root must stay before it counts. The window catches two namespace
 * controllers with different roots overwriting each other; when both control planes have the same
 * root (preflight found so, and the roots read now agree) an overwrite changes nothing a pod
 * mounts, so no window is needed.
 */
export function caStableWindowMs(configuredMs: number, preflight: RootRelation | undefined, now: RootRelation): number {
  return preflight === 'same' && now === 'same' ? 0 : configuredMs;
}

export async function waitCaReady(deps: ClusterDeps, input: NamespaceRef & { rootRelation?: RootRelation }): Promise<{ root: string }> {
  const { plan, namespace } = input;
  const t = tuning(deps);
  const roots = await readControlPlaneRoots(deps.kube, plan);
  const targetRoot = roots.target.pem;
  const stableMs = caStableWindowMs(t.caStableMs, input.rootRelation, compareRoots(roots.source.pem, roots.target.pem));
  if (targetRoot === undefined) {
    throw ApplicationFailure.create({
      type: CaFailure.noTargetRoot,
      nonRetryable: false,
      message: `the target's own root is unknown: ${roots.target.from}; is istiod-${plan.target.revision} running?`,
    });
  }
  const resumed = resumedDetails<{ namespace: string; startedAt: number }>(
    (d) => typeof (d as { startedAt?: unknown }).startedAt === 'number',
  );
  const startedAt = resumed?.namespace === namespace ? resumed.startedAt : nowMs(deps);
  const watch = new CaRootWatch(deps.kube, namespace, () => nowMs(deps));
  let changes = 0;
  try {
    return await pollUntil<{ root: string }, string>({
      intervalMs: stableMs > 0 ? Math.min(t.pollMs, Math.max(50, Math.floor(stableMs / 3))) : t.pollMs,
      changes: watch.changes,
      deadline: startedAt + t.caReadyTimeoutMs,
      now: () => nowMs(deps),
      details: (holds) => ({ namespace, startedAt, holds, changes }),
      onTimeout: () => new CaTimeout(),
      check: async () => {
        await watch.ensure();
        const d = decideCaWait(watch.history, targetRoot, nowMs(deps), { stableMs });
        if (d.state === 'ready') return { done: true, value: { root: rootFingerprint(targetRoot) } };
        if (d.state === 'contested') {
          const first = watch.history[0]!.at;
          const secs = Math.max(1, Math.round((nowMs(deps) - first) / 1000));
          const name = (fp: string): string =>
            fp === rootFingerprint(targetRoot)
              ? `the target ${plan.target.revision}'s own root ${fp} (read from ${roots.target.from})`
              : roots.source.pem !== undefined && fp === rootFingerprint(roots.source.pem)
                ? `the source ${plan.source.revision}'s root ${fp}`
                : `${fp} (neither control plane's)`;
          throw ApplicationFailure.create({
            type: CaFailure.contested,
            nonRetryable: true,
            message: `istio-ca-root-cert in ${namespace} changed root ${d.changes} times in ${secs}s${d.lastChangeGapMs !== undefined ? ` (the last two writes ${d.lastChangeGapMs} ms apart)` : ''}: two writers keep rewriting it, between ${d.roots.map(name).join(' and ')}. Two namespace controllers with different roots both select ${namespace} (each writes the namespaces its discoverySelectors select, or every namespace before Istio 1.22) and will not stop; pods restarted now could mount either root and fail to verify their istiod. Plug the same root CA into both control planes (cacerts), or make the source's discoverySelectors stop selecting migrated namespaces, then retry.`,
          });
        }
        changes = d.changes;
        return { done: false, progress: d.progress };
      },
    });
  } catch (err) {
    if (!(err instanceof CaTimeout)) throw err;
    const current = watch.history[watch.history.length - 1]?.pem;
    const explanation = explainCaTimeout({
      namespace,
      current,
      targetRoot,
      ...(roots.source.pem !== undefined ? { sourceRoot: roots.source.pem } : {}),
      targetRevision: plan.target.revision,
      sourceRevision: plan.source.revision,
      changes: rootChanges(watch.history),
      ...(await targetDiscovers(deps, input).then((d) => (d === undefined ? {} : { targetDiscovers: d }))),
    });
    throw ApplicationFailure.create({
      type: CaFailure.timeout,
      nonRetryable: true,
      message: `the target's root did not arrive in ${namespace} within ${Math.round(t.caReadyTimeoutMs / 1000)}s: ${explanation}${holdsRoot(current, targetRoot) ? '' : ` (the target's root was read from ${roots.target.from})`}`,
    });
  } finally {
    watch.stop();
  }
}

class CaTimeout extends Error {}
