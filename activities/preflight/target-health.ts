// Check 2: the target control plane is up before anything moves to it: `istiod-<rev>` Deployment
// available in its namespace, its gateway Deployment available, the gateway Service has an
// external address (DNS will point there).
import type { V1Deployment } from '@kubernetes/client-node';
import type { Finding } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { istiodServiceName } from '../../mesh/naming.js';
import type { PreflightContext } from './context.js';
import { EXTERNAL_ADDRESS_SOURCES, externalAddress } from '../shared/gateway.js';
import { gatewayDeploymentName } from '../../plan/model.js';

export interface DeploymentHealth {
  name: string;
  namespace: string;
  /** undefined = the Deployment does not exist. */
  found: boolean;
  desired: number;
  available: number;
  /** The Available condition, when the controller has written one. */
  availableCondition?: 'True' | 'False' | 'Unknown';
  conditionMessage?: string;
}

export function deploymentHealth(namespace: string, name: string, d: V1Deployment | undefined): DeploymentHealth {
  if (!d) return { name, namespace, found: false, desired: 0, available: 0 };
  const cond = d.status?.conditions?.find((c) => c.type === 'Available');
  return {
    name,
    namespace,
    found: true,
    desired: d.spec?.replicas ?? 1,
    available: d.status?.availableReplicas ?? 0,
    ...(cond ? { availableCondition: cond.status as 'True' | 'False' | 'Unknown', conditionMessage: cond.message } : {}),
  };
}

/** Available as `kubectl rollout status` would accept it: the condition says so, and at least one pod is. */
export function isAvailable(h: DeploymentHealth): boolean {
  if (!h.found || h.available < 1) return false;
  return h.availableCondition === undefined || h.availableCondition === 'True';
}

export interface TargetHealthView {
  revision: string;
  istiod: DeploymentHealth;
  gateway: DeploymentHealth;
  gatewayService: { namespace: string; name: string; found: boolean; address?: string };
}

export function decideTargetHealth(v: TargetHealthView): Finding[] {
  const dep = (h: DeploymentHealth, what: string, check: string, fix: string): Finding => {
    if (!h.found) return { check, status: 'block', reason: `${what} Deployment ${h.namespace}/${h.name} does not exist`, fix };
    if (!isAvailable(h)) {
      return {
        check,
        status: 'block',
        reason: `${what} Deployment ${h.namespace}/${h.name} is not available (${h.available}/${h.desired} pods available${h.conditionMessage ? `; ${h.conditionMessage}` : ''})`,
        fix: `${fix}; check \`kubectl -n ${h.namespace} describe deployment ${h.name}\` and its pods' events`,
      };
    }
    return { check, status: 'pass', reason: `${what} Deployment ${h.namespace}/${h.name} available (${h.available}/${h.desired})` };
  };
  const out = [
    dep(
      v.istiod,
      `target istiod (revision ${v.revision})`,
      'target/istiod',
      `install the target control plane (revision ${v.revision}) and wait until istiod is ready`,
    ),
    dep(v.gateway, 'target gateway', 'target/gateway', 'install the target ingress gateway and wait until it is ready'),
  ];
  const s = v.gatewayService;
  if (!s.found) {
    out.push({
      check: 'target/gateway-address',
      status: 'block',
      reason: `target gateway Service ${s.namespace}/${s.name} does not exist`,
      fix: 'create the gateway Service (type LoadBalancer) named in plan.target.gateway.service',
    });
  } else if (!s.address) {
    out.push({
      check: 'target/gateway-address',
      status: 'block',
      reason: `target gateway Service ${s.namespace}/${s.name} has no external address yet (${EXTERNAL_ADDRESS_SOURCES})`,
      fix: 'wait for the load balancer to be provisioned; DNS will be pointed at this address',
    });
  } else {
    out.push({
      check: 'target/gateway-address',
      status: 'pass',
      reason: `target gateway Service ${s.namespace}/${s.name} has external address ${s.address}`,
    });
  }
  return out;
}

export async function checkTargetHealth(ctx: PreflightContext): Promise<Finding[]> {
  const t: Plan['target'] = ctx.plan.target;
  const istiodName = istiodServiceName(t.revision);
  const gwDeployment = gatewayDeploymentName(t.gateway);
  const [istiod, gateway, svc] = await Promise.all([
    ctx.istiodDeployment('target'),
    ctx.kube.getWorkload('Deployment', t.gateway.namespace, gwDeployment),
    ctx.kube.getService(t.gateway.namespace, t.gateway.service),
  ]);
  return decideTargetHealth({
    revision: t.revision,
    istiod: deploymentHealth(t.istiodNamespace, istiodName, istiod),
    gateway: deploymentHealth(t.gateway.namespace, gwDeployment, gateway),
    gatewayService: { namespace: t.gateway.namespace, name: t.gateway.service, found: svc !== undefined, address: externalAddress(svc) },
  });
}
