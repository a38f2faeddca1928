// createActivities(deps): the MigrationActivities the worker registers. Each activity resolves the
// cluster access for the plan's kubeconfig context, then calls the function that does the work:
// preflight, backup, decommission (this layer) and the namespace, DNS and verification steps
// (activities/namespace, dns, verify). Tests inject a fake KubeAccess.
import { Context } from '@temporalio/activity';
import type { Logger } from '../logging/logger.js';
import type { Plan } from '../plan/schema.js';
import type { MigrationActivities, NotifyActivities } from './contract.js';
import type { KubeAccess } from './kube/types.js';
import type { Tuning } from './namespace/deps.js';
import type { DnsProvider } from './dns/provider.js';
import { runPreflight } from './preflight/index.js';
import { runBackup } from './backup/index.js';
import { runDecommission } from './decommission/index.js';
import { resolveWaves } from './waves/index.js';
import { driftCheck } from './namespace/drift.js';
import { relabelNamespace, restoreNamespaceLabels } from './namespace/relabel.js';
import { waitCaReady } from './namespace/ca-ready.js';
import { restartWorkloads } from './namespace/restart.js';
import { verifyProxies, verifyTraffic, explainInjection, verifyMesh } from './verify/index.js';
import { checkGatewayStable, switchDns, verifyDns } from './dns/index.js';
import { awaitGatewayDrained, awaitGatewayShift, checkNamespaceTraffic, trafficBaseline } from './analysis/index.js';
import { createNotifyActivities } from './notify/index.js';

export interface ActivityDeps {
  /** One KubeAccess, or a factory keyed by plan.cluster.context (undefined = current context). */
  kube: KubeAccess | ((context: string | undefined) => KubeAccess);
  logger?: Logger;
  /** Where secrets are read by name (the DNS webhook's shared secret); process.env by default. */
  env?: Record<string, string | undefined>;
  /** Timings not in the plan (poll pace, timeouts); defaults suit a real cluster. */
  tuning?: Partial<Tuning>;
  /** Replaces the plan's DNS provider (tests, or a provider the plan cannot express yet). */
  dnsProvider?: DnsProvider;
  now?: () => number;
}

/** Heartbeat when running as an activity; a no-op when called from the CLI or a unit test. */
export function heartbeatIfActivity(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity: nobody to report progress to.
  }
}

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
  const cluster = (plan: Plan) => ({
    kube: kubeFor(plan),
    logger: deps.logger,
    env: deps.env,
    tuning: deps.tuning,
    now: deps.now,
    dnsProvider: deps.dnsProvider,
  });

  return {
    resolveWaves: (input) => resolveWaves(kubeFor(input.plan), input),
    preflight: ({ plan }) =>
      runPreflight(kubeFor(plan), plan, {
        rethrowTransient: true,
        onProgress: (done, total, id) => heartbeatIfActivity({ done, total, check: id }),
      }),
    backup: ({ plan, runId }) => runBackup(kubeFor(plan), plan, runId, { progress: (step) => heartbeatIfActivity({ step }) }),
    decommission: ({ plan, runId }) => runDecommission(kubeFor(plan), plan, runId, { progress: (step) => heartbeatIfActivity({ step }) }),

    driftCheck: (input) => driftCheck(cluster(input.plan), input),
    relabelNamespace: (input) => relabelNamespace(cluster(input.plan), input),
    restoreNamespaceLabels: (input) => restoreNamespaceLabels(cluster(input.plan), input),
    waitCaReady: (input) => waitCaReady(cluster(input.plan), input),
    restartWorkloads: (input) => restartWorkloads(cluster(input.plan), input),
    verifyProxies: (input) => verifyProxies(cluster(input.plan), input),
    verifyTraffic: (input) => verifyTraffic(cluster(input.plan), input),
    explainInjection: (input) => explainInjection(cluster(input.plan), input),

    checkGatewayStable: (input) => checkGatewayStable(cluster(input.plan), input),
    switchDns: (input) => switchDns(cluster(input.plan), input),
    verifyDns: (input) => verifyDns(cluster(input.plan), input),

    trafficBaseline: (input) => trafficBaseline(deps, input),
    checkNamespaceTraffic: (input) => checkNamespaceTraffic(deps, input),
    awaitGatewayShift: (input) => awaitGatewayShift(deps, input),
    awaitGatewayDrained: (input) => awaitGatewayDrained(deps, input),

    verifyMesh: (input) => verifyMesh(cluster(input.plan), input),

    // plan.notify: signed webhooks (the secret read here, from deps.env / the worker's environment)
    ...createNotifyActivities({ env: deps.env, logger: deps.logger, now: deps.now }),
  };
}
