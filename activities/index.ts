// createActivities(deps): the MigrationActivities the worker registers. Every activity is built the
// same way: the function of its area (waves, preflight, backup, namespace, verify, dns, analysis,
// decommission, notify) called with (deps, input), where input is the contract's and deps are the
// plan's: the cluster access of its kubeconfig context and the worker's settings
// (shared/deps.ts). Tests inject a fake KubeAccess.
import type { Plan } from '../plan/schema.js';
import type { MigrationActivities, NotifyActivities, RunRef } from './contract.js';
import type { KubeAccess } from './kube/types.js';
import type { ClusterDeps } from './shared/deps.js';
import type { DnsDeps, DnsProvider } from './dns/index.js';
import { resolveWaves } from './waves/index.js';
import { preflight } from './preflight/index.js';
import { backup } from './backup/index.js';
import { decommission } from './decommission/index.js';
import { driftCheck } from './namespace/drift.js';
import { relabelNamespace, restoreNamespaceLabels } from './namespace/relabel.js';
import { waitCaReady } from './namespace/ca-ready.js';
import { restartWorkloads } from './namespace/restart.js';
import { verifyProxies, verifyTraffic, explainInjection, verifyMesh } from './verify/index.js';
import { checkGatewayStable, switchDns, verifyDns } from './dns/index.js';
import { relabelGateway } from './gateway/move.js';
import { pointTag, unpinTagNamespaces } from './tag/point.js';
import { verifyGatewayProbes } from './verify/probes.js';
import { awaitGatewayDrained, awaitGatewayShift, checkNamespaceTraffic, trafficBaseline } from './analysis/index.js';
import { notify } from './notify/index.js';

export interface ActivityDeps extends Omit<ClusterDeps, 'kube'> {
  /** One KubeAccess, or a factory keyed by plan.cluster.context (undefined = current context). */
  kube: KubeAccess | ((context: string | undefined) => KubeAccess);
  /** Replaces the plan's DNS provider (tests, or a provider the plan cannot express yet). */
  dnsProvider?: DnsProvider;
}

/** What every activity function is given for the plan it acts on. */
type PlanDeps = ClusterDeps & Pick<DnsDeps, 'dnsProvider'>;

export function createActivities(deps: ActivityDeps): MigrationActivities & NotifyActivities {
  const kubes = new Map<string, KubeAccess>();
  const kubeFor = (plan: Plan): KubeAccess => {
    if (typeof deps.kube !== 'function') return deps.kube;
    const key = plan.cluster.context ?? '';
    let k = kubes.get(key);
    if (!k) {
      k = deps.kube(plan.cluster.context);
      kubes.set(key, k);
    }
    return k;
  };
  const on = (plan: Plan): PlanDeps => ({
    logger: deps.logger,
    env: deps.env,
    tuning: deps.tuning,
    now: deps.now,
    dnsProvider: deps.dnsProvider,
    // Resolved on first use: the analysis activities never touch the cluster, so they must not
    // need (or fail on) a client for the plan's context.
    get kube() {
      return kubeFor(plan);
    },
  });

  /** An activity: its area's function, given the deps of the plan it acts on. */
  const act =
    <I extends RunRef, R>(area: (d: PlanDeps, input: I) => Promise<R>) =>
    (input: I): Promise<R> => {
      const ref = withMigrationId(input);
      return area(on(ref.plan), ref);
    };

  return {
    resolveWaves: act(resolveWaves),
    preflight: act(preflight),
    backup: act(backup),

    driftCheck: act(driftCheck),
    relabelNamespace: act(relabelNamespace),
    restoreNamespaceLabels: act(restoreNamespaceLabels),
    waitCaReady: act(waitCaReady),
    restartWorkloads: act(restartWorkloads),
    verifyProxies: act(verifyProxies),
    verifyTraffic: act(verifyTraffic),
    explainInjection: act(explainInjection),

    checkGatewayStable: act(checkGatewayStable),
    switchDns: act(switchDns),
    verifyDns: act(verifyDns),

    relabelGateway: act(relabelGateway),
    verifyGateway: act(verifyGatewayProbes),
    pointTag: act(pointTag),
    unpinTagNamespaces: act(unpinTagNamespaces),

    trafficBaseline: act(trafficBaseline),
    checkNamespaceTraffic: act(checkNamespaceTraffic),
    awaitGatewayShift: act(awaitGatewayShift),
    awaitGatewayDrained: act(awaitGatewayDrained),

    verifyMesh: act(verifyMesh),
    decommission: act(decommission),

    // plan.notify: its input names no plan, so it gets the worker's settings (the webhook secrets
    // are read from deps.env, the worker's environment).
    notify: (input) => notify(deps, { ...input, event: withMigrationId(input.event) }),
  };
}

/**
 * The migration's workflow id was called `runId` in activity inputs before; a task scheduled then
 * and retried on this worker carries it under that name. Read it as `migrationId`, so the retry keys
 * its idempotency (annotations, backup ids, DNS request ids) on the same id.
 */
function withMigrationId<T extends { migrationId: string }>(input: T): T {
  const legacy = (input as { runId?: unknown }).runId;
  return input.migrationId === undefined && typeof legacy === 'string' ? { ...input, migrationId: legacy } : input;
}
