// Check 3: the target's outbound policy. During the migration a migrated pod calls namespaces that
// are not migrated yet, which its (target) istiod does not know: with ALLOW_ANY that traffic goes
// to PassthroughCluster and works; with REGISTRY_ONLY it goes to BlackHoleCluster and fails
// (docs/istio-facts.md §7). Absent counts as ALLOW_ANY.
import type { Finding } from '../contract.js';
import { MESH_CONFIG_KEY, meshConfigMapName } from '../../mesh/naming.js';
import { allowsPassthrough, parseMeshConfig } from '../../mesh/meshconfig.js';
import type { PreflightContext } from './context.js';

export interface OutboundPolicyView {
  configMap: string;
  namespace: string;
  /** undefined = the ConfigMap does not exist. */
  meshText: string | undefined | null;
  found: boolean;
}

export function decideOutboundPolicy(v: OutboundPolicyView): Finding {
  const check = 'outbound-policy';
  const where = `ConfigMap ${v.namespace}/${v.configMap}`;
  if (!v.found) {
    return {
      check,
      status: 'block',
      reason: `the target's mesh config ${where} does not exist, so its outbound policy cannot be checked`,
      fix: `check plan.target.revision and istiodNamespace: istiod of that revision reads its mesh config from ${where}`,
    };
  }
  let mode: string;
  try {
    mode = parseMeshConfig(v.meshText).outboundTrafficPolicyMode;
  } catch (err) {
    return {
      check,
      status: 'block',
      reason: `the target's mesh config in ${where} cannot be read: ${(err as Error).message}`,
      fix: `fix the "${MESH_CONFIG_KEY}" key of ${where}`,
    };
  }
  if (!allowsPassthrough(mode as Parameters<typeof allowsPassthrough>[0])) {
    return {
      check,
      status: 'block',
      reason: `the target's outboundTrafficPolicy.mode is ${mode}: a migrated pod calling a namespace that is not migrated yet (unknown to the target istiod) is sent to BlackHoleCluster and fails`,
      fix: `set meshConfig.outboundTrafficPolicy.mode: ALLOW_ANY in ${where} (at least for the migration), or add ServiceEntries for every not-yet-migrated service`,
    };
  }
  return {
    check,
    status: 'pass',
    reason: `the target's outboundTrafficPolicy.mode is ${mode}${v.meshText && /outboundTrafficPolicy/.test(v.meshText) ? '' : ' (absent = ALLOW_ANY)'}: calls to not-yet-migrated namespaces pass through`,
  };
}

export async function checkOutboundPolicy(ctx: PreflightContext): Promise<Finding[]> {
  const cm = await ctx.meshConfigMap('target');
  const t = ctx.plan.target;
  return [
    decideOutboundPolicy({
      configMap: meshConfigMapName(t.revision),
      namespace: t.istiodNamespace,
      found: cm !== undefined,
      meshText: cm?.data?.[MESH_CONFIG_KEY],
    }),
  ];
}
