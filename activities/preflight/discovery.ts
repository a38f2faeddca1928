// Check 4: discoverySelectors. The target must discover every planned namespace once the plan's
// labels are applied (else its gateway answers 503 for that namespace's hosts: the field report's
// pitfall), and should not discover one before it is migrated. The source must keep discovering
// migrated namespaces: its gateway serves traffic until DNS moves, and its proxies still call them.
import type { Finding } from '../contract.js';
import type { SelectorLike } from '../../mesh/injection.js';
import { discovers } from '../../mesh/discovery.js';
import { MESH_CONFIG_KEY, meshConfigMapName } from '../../mesh/naming.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import { selectorToString, type LabelSelector } from '../../mesh/labels.js';
import type { Plan } from '../../plan/schema.js';
import type { NamespaceView, PreflightContext, Side } from './context.js';
import { collapse, nameList } from './findings.js';
import { labelsAfterRelabel } from './relabel.js';

export interface DiscoveryView {
  plan: Pick<Plan, 'target' | 'source'>;
  namespaces: NamespaceView[];
  missing: string[];
  target: SelectorLike[];
  source: SelectorLike[];
}

export function describeSelectors(sels: readonly SelectorLike[]): string {
  if (sels.length === 0) return 'no discoverySelectors: every namespace';
  return sels.map((s) => `{${selectorToString(s as LabelSelector)}}`).join(' OR ');
}

export function decideDiscovery(v: DiscoveryView): Finding[] {
  const out: Finding[] = [];
  for (const name of v.missing) {
    out.push({ check: `namespace/${name}`, status: 'block', reason: `planned namespace ${name} does not exist`, fix: 'remove it from the plan\'s waves or create it' });
  }
  const perNs: Finding[] = [];
  const alreadyDiscovered: string[] = [];
  const sourceLoses: string[] = [];
  for (const ns of v.namespaces) {
    const after = labelsAfterRelabel(ns.labels, v.plan);
    if (!discovers(v.target, after)) {
      perNs.push({
        check: `discovery/${ns.name}`,
        status: 'block',
        reason: `after the relabel, the target's discoverySelectors (${describeSelectors(v.target)}) would not select ${ns.name}: the target istiod would not know its services and the new gateway would answer 503 for its hosts`,
        fix: `make plan.target.discoveryLabels match the target's discoverySelectors (currently ${describeSelectors(v.target)})`,
      });
      continue;
    }
    if (discovers(v.target, ns.labels) && v.target.length > 0) alreadyDiscovered.push(ns.name);
    if (!discovers(v.source, after)) sourceLoses.push(ns.name);
    perNs.push({ check: `discovery/${ns.name}`, status: 'pass', reason: '' });
  }
  out.push(...collapse('discovery', perNs, (passed) => `the target discovers ${passed.length === v.namespaces.length ? 'every planned namespace' : nameList(passed)} once relabeled (${describeSelectors(v.target)})`));
  if (alreadyDiscovered.length > 0) {
    out.push({
      check: 'discovery/before-migration',
      status: 'warn',
      reason: `the target already discovers ${nameList(alreadyDiscovered)} before migrating: its routes (VirtualServices through the new gateway) take effect for them now, not at their wave`,
      fix: 'usually harmless; if unintended, remove the discovery labels from those namespaces until their wave',
    });
  }
  if (v.target.length === 0) {
    out.push({
      check: 'discovery/target-scope',
      status: 'warn',
      reason: 'the target has no discoverySelectors: it discovers every namespace from the start, so the migration is not scoped by labels',
      fix: 'set meshConfig.discoverySelectors on the target (e.g. matchLabels of plan.target.discoveryLabels) if you want a namespace-by-namespace migration',
    });
  }
  if (sourceLoses.length > 0) {
    out.push({
      check: 'discovery/source',
      status: 'block',
      reason: `after the relabel the source's discoverySelectors (${describeSelectors(v.source)}) would no longer select ${nameList(sourceLoses)}: the old gateway, which serves traffic until DNS moves, would answer 503 for them and old proxies could not reach them`,
      fix: 'widen the source\'s discoverySelectors to keep selecting migrated namespaces (or use discovery labels the source also selects) until DNS is cut over',
    });
  } else if (v.namespaces.length > 0) {
    out.push({ check: 'discovery/source', status: 'pass', reason: `the source keeps discovering migrated namespaces (${describeSelectors(v.source)})` });
  }
  return out;
}

async function selectors(ctx: PreflightContext, side: Side): Promise<SelectorLike[] | Finding> {
  const cm = await ctx.meshConfigMap(side);
  const cp = ctx.plan[side];
  const where = `ConfigMap ${cp.istiodNamespace}/${meshConfigMapName(cp.revision)}`;
  if (!cm) return { check: `discovery/${side}-config`, status: 'block', reason: `the ${side}'s mesh config ${where} does not exist`, fix: `check plan.${side}.revision and istiodNamespace` };
  try {
    return parseMeshConfig(cm.data?.[MESH_CONFIG_KEY]).discoverySelectors;
  } catch (err) {
    return { check: `discovery/${side}-config`, status: 'block', reason: `the ${side}'s mesh config in ${where} cannot be read: ${(err as Error).message}`, fix: `fix the "${MESH_CONFIG_KEY}" key of ${where}` };
  }
}

export async function checkDiscovery(ctx: PreflightContext): Promise<Finding[]> {
  const [{ present, missing }, target, source] = await Promise.all([ctx.plannedNamespaces(), selectors(ctx, 'target'), selectors(ctx, 'source')]);
  if (!Array.isArray(target) || !Array.isArray(source)) {
    return [target, source].filter((x): x is Finding => !Array.isArray(x));
  }
  try {
    return decideDiscovery({ plan: ctx.plan, namespaces: present, missing, target, source });
  } catch (err) {
    // An invalid selector operator makes istiod reject the config too.
    return [{ check: 'discovery', status: 'block', reason: `a discoverySelector is invalid: ${(err as Error).message}`, fix: 'fix the selector in the mesh config' }];
  }
}
