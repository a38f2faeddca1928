// waitCaReady: until istio-ca-root-cert in the namespace holds the target istiod's root, which
// restarted pods mount to verify the target istiod on :15012. The target's root is read where the
// preflight root-CA check reads it (the ConfigMap in the target istiod's own namespace).
import { ApplicationFailure } from '@temporalio/common';
import type { NamespaceRef } from '../contract.js';
import { discovers } from '../../mesh/discovery.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP, meshConfigMapName } from '../../mesh/naming.js';
import { readControlPlaneRoots } from '../preflight/root-ca.js';
import { nowMs, tuning, type ClusterDeps } from './deps.js';
import { explainCaTimeout, holdsRoot, rootFingerprint } from './ca-root.js';
import { pollUntil, resumedDetails } from './waiting.js';

export const CaFailure = {
  timeout: 'CaRootNotReady',
  noTargetRoot: 'TargetRootUnknown',
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

export async function waitCaReady(deps: ClusterDeps, input: NamespaceRef): Promise<{ root: string }> {
  const { plan, namespace } = input;
  const t = tuning(deps);
  const roots = await readControlPlaneRoots(deps.kube, plan);
  const targetRoot = roots.target;
  if (targetRoot === undefined) {
    throw ApplicationFailure.create({
      type: CaFailure.noTargetRoot,
      nonRetryable: false,
      message: `the target's root is unknown: no ${CA_ROOT_CONFIGMAP}/${CA_ROOT_CERT_KEY} in ${plan.target.istiodNamespace}; is istiod-${plan.target.revision} running?`,
    });
  }
  const resumed = resumedDetails<{ namespace: string; startedAt: number }>((d) => typeof (d as { startedAt?: unknown }).startedAt === 'number');
  const startedAt = resumed?.namespace === namespace ? resumed.startedAt : nowMs(deps);
  let current: string | undefined;
  let heldSince: number | undefined;
  let changes = 0;
  let lastSeen: string | null = null;
  try {
    return await pollUntil<{ root: string }, string>({
      intervalMs: Math.min(t.pollMs, Math.max(50, Math.floor(t.caStableMs / 3))),
      deadline: startedAt + t.caReadyTimeoutMs,
      now: () => nowMs(deps),
      details: (holds) => ({ namespace, startedAt, holds, changes }),
      onTimeout: () => new CaTimeout(),
      check: async () => {
        const now = nowMs(deps);
        const cm = await deps.kube.getConfigMap(namespace, CA_ROOT_CONFIGMAP);
        current = cm?.data?.[CA_ROOT_CERT_KEY];
        const seen = rootFingerprint(current);
        if (lastSeen !== null && seen !== lastSeen) changes++;
        lastSeen = seen;
        if (!holdsRoot(current, targetRoot)) {
          heldSince = undefined;
          return { done: false, progress: seen };
        }
        // Held once is not enough: with two CAs writing, it flips back within seconds.
        heldSince ??= now;
        if (now - heldSince >= t.caStableMs) return { done: true, value: { root: rootFingerprint(targetRoot) } };
        return { done: false, progress: `${seen} (target root, held ${Math.round((now - heldSince) / 1000)}s)` };
      },
    });
  } catch (err) {
    if (!(err instanceof CaTimeout)) throw err;
    const explanation = explainCaTimeout({
      namespace,
      current,
      targetRoot,
      ...(roots.source !== undefined ? { sourceRoot: roots.source } : {}),
      targetRevision: plan.target.revision,
      sourceRevision: plan.source.revision,
      changes,
      ...(await targetDiscovers(deps, input).then((d) => (d === undefined ? {} : { targetDiscovers: d }))),
    });
    throw ApplicationFailure.create({
      type: CaFailure.timeout,
      nonRetryable: true,
      message: `the target's root did not arrive in ${namespace} within ${Math.round(t.caReadyTimeoutMs / 1000)}s: ${explanation}`,
    });
  }
}

class CaTimeout extends Error {}
