// createActivities(deps): the MigrationActivities the worker registers. Every activity is built the
// same way: the function of its area (waves, preflight, backup, namespace, verify, dns, analysis,
// decommission, notify) called with (deps, input), where input is the contract's and deps are the
// plan's: the cluster access of its kubeconfig context and the worker's settings
// (shared/deps.ts). Tests inject a fake KubeAccess.
import type { Plan } from '../plan/schema.js';
import type { MigrationActivities, NotifyActivities } from './contract.js';
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

  return {
    resolveWaves: (input) => resolveWaves(on(input.plan), input),
    preflight: (input) => preflight(on(input.plan), input),
    backup: (input) => backup(on(input.plan), input),

    driftCheck: (input) => driftCheck(on(input.plan), input),
    relabelNamespace: (input) => relabelNamespace(on(input.plan), input),
    restoreNamespaceLabels: (input) => restoreNamespaceLabels(on(input.plan), input),
    waitCaReady: (input) => waitCaReady(on(input.plan), input),
    restartWorkloads: (input) => restartWorkloads(on(input.plan), input),
    verifyProxies: (input) => verifyProxies(on(input.plan), input),
    verifyTraffic: (input) => verifyTraffic(on(input.plan), input),
    explainInjection: (input) => explainInjection(on(input.plan), input),

    checkGatewayStable: (input) => checkGatewayStable(on(input.plan), input),
    switchDns: (input) => switchDns(on(input.plan), input),
    verifyDns: (input) => verifyDns(on(input.plan), input),

    trafficBaseline: (input) => trafficBaseline(on(input.plan), input),
    checkNamespaceTraffic: (input) => checkNamespaceTraffic(on(input.plan), input),
    awaitGatewayShift: (input) => awaitGatewayShift(on(input.plan), input),
    awaitGatewayDrained: (input) => awaitGatewayDrained(on(input.plan), input),

    verifyMesh: (input) => verifyMesh(on(input.plan), input),
    decommission: (input) => decommission(on(input.plan), input),

    // plan.notify: its input names no plan, so it gets the worker's settings (the webhook secrets
    // are read from deps.env, the worker's environment).
    notify: (input) => notify(deps, input),
  };
}
