// Preflight: every check of issue §"Before migration" 2–8, read-only. Each check fetches what it
// needs (shared through PreflightContext, so the namespaces and webhooks are listed once) and hands
// it to a pure decision function. A check that cannot even fetch (RBAC, API down) becomes a
// blocking finding naming the cause, so the person sees every other check's result too.
import type { Finding, PreflightReport, RunRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess } from '../kube/types.js';
import type { ClusterDeps } from '../shared/deps.js';
import { heartbeatIfActivity } from '../shared/waiting.js';
import { PreflightContext } from './context.js';
import { checkTargetHealth } from './target-health.js';
import { checkOutboundPolicy } from './outbound-policy.js';
import { checkDiscovery } from './discovery.js';
import { checkInjection } from './injection.js';
import { checkRootCa } from './root-ca.js';
import { checkProxyStatus } from './proxy-status.js';
import { checkCutover } from './cutover.js';
import { decideDecommissionScope, readDecommissionScope } from './pitfall-guard.js';
import { summarize } from './findings.js';
import { isKubeFailure } from '../kube/errors.js';

export const PREFLIGHT_CHECKS: { id: string; title: string; run: (ctx: PreflightContext) => Promise<Finding[]> }[] = [
  { id: 'target', title: 'Target control plane healthy', run: checkTargetHealth },
  { id: 'outbound-policy', title: 'Outbound traffic policy', run: checkOutboundPolicy },
  { id: 'discovery', title: 'Discovery selectors', run: checkDiscovery },
  { id: 'injection', title: 'Sidecar injection', run: checkInjection },
  { id: 'root-ca', title: 'Root CA', run: checkRootCa },
  { id: 'proxy-status', title: 'Proxy status', run: checkProxyStatus },
  { id: 'cutover', title: 'Cutover (DNS, or the gateway in place)', run: checkCutover },
  {
    id: 'pitfall',
    title: 'Pitfall guards',
    run: async (ctx) =>
      decideDecommissionScope(await readDecommissionScope(ctx.kube, ctx.plan), ctx.plan.source.revision, ctx.plan.target.revision),
  },
];

export interface PreflightOptions {
  /** Called after each check (the activity heartbeats with it). */
  onProgress?: (done: number, total: number, id: string) => void;
  /**
   * In an activity: rethrow transient API failures (network, 429, 5xx) so Temporal retries the
   * whole preflight, instead of reporting a block the next attempt would not see.
   */
  rethrowTransient?: boolean;
}

export async function runPreflight(kube: KubeAccess, plan: Plan, opts: PreflightOptions = {}): Promise<PreflightReport> {
  const ctx = new PreflightContext(kube, plan);
  const findings: Finding[] = [];
  let done = 0;
  for (const c of PREFLIGHT_CHECKS) {
    try {
      findings.push(...(await c.run(ctx)));
    } catch (err) {
      if (opts.rethrowTransient && isKubeFailure(err) && !err.nonRetryable) throw err;
      findings.push({
        check: c.id,
        status: 'block',
        reason: `the check could not run: ${(err as Error).message}`,
        fix: 'fix access to the cluster (see the message) and run preflight again',
      });
    }
    opts.onProgress?.(++done, PREFLIGHT_CHECKS.length, c.id);
  }
  return { ...summarize(findings), ...(ctx.rootRelation ? { rootRelation: ctx.rootRelation } : {}) };
}

/** The preflight activity: Temporal retries a transient API failure, and each check done is a heartbeat. */
export function preflight({ kube }: Pick<ClusterDeps, 'kube'>, { plan }: RunRef): Promise<PreflightReport> {
  return runPreflight(kube, plan, {
    rethrowTransient: true,
    onProgress: (done, total, id) => heartbeatIfActivity({ done, total, check: id }),
  });
}

export { PreflightContext } from './context.js';
export { decideTargetHealth, deploymentHealth } from './target-health.js';
export { decideOutboundPolicy } from './outbound-policy.js';
export { decideDiscovery, describeSelectors, requiredNamespaces } from './discovery.js';
export { decideInjection, decideInjectionAll, describeMatches, injectionFor } from './injection.js';
export { decideRootCa } from './root-ca.js';
export { decideProxyStatus, readSyncz } from './proxy-status.js';
export {
  decommissionScope,
  decideDecommissionScope,
  describeDecommission,
  readDecommissionScope,
  itemId,
  targetValidationClientConfig,
  validatorMovePatch,
  type DecommissionItem,
  type DecommissionScope,
} from './pitfall-guard.js';
export { labelsAfterRelabel } from './relabel.js';
export { collapse, summarize } from './findings.js';
