// Check 5: for each planned namespace, which webhook(s) inject new pods now and which would after
// the relabel (every match evaluated, not istioctl's first-match). Block when no webhook of the
// target would inject, or when more than one would (Istio's injector replaces an earlier
// injection, so the last by name silently wins: docs/istio-facts.md §2). Warn on istio-injection: it overrides
// istio.io/rev, and the relabel removes it in the same patch.
import type { Finding } from '../contract.js';
import {
  injectingRevision,
  type InjectionDecision,
  type MutatingWebhookConfigurationLike,
  type WebhookMatch,
} from '../../mesh/injection.js';
import { IstioLabel, injectorWebhookConfigName } from '../../mesh/naming.js';
import type { Plan } from '../../plan/schema.js';
import type { NamespaceView, PreflightContext } from './context.js';
import { collapse, nameList } from './findings.js';
import { labelsAfterRelabel } from './relabel.js';
import { afterTagSwitch } from '../tag/point.js';

export function describeMatches(d: InjectionDecision): string {
  if (d.matches.length === 0) return 'no webhook (no sidecar)';
  return d.matches.map((m: WebhookMatch) => `${m.configName}/${m.webhookName} → ${m.revision ?? 'unknown revision'}`).join(', ');
}

export interface InjectionView {
  now: InjectionDecision;
  after: InjectionDecision;
}

/** A pod with no labels: what a Deployment's new pod gets from the namespace alone. */
export function injectionFor(
  configs: readonly MutatingWebhookConfigurationLike[],
  labels: Record<string, string>,
  plan: Pick<Plan, 'target'>,
): InjectionView {
  return { now: injectingRevision(configs, labels, {}), after: injectingRevision(configs, labelsAfterRelabel(labels, plan), {}) };
}

export function decideInjection(ns: NamespaceView, v: InjectionView, plan: Pick<Plan, 'target'>): Finding[] {
  const check = `injection/${ns.name}`;
  const target = plan.target.revision;
  const expected = injectorWebhookConfigName(target, plan.target.istiodNamespace);
  const out: Finding[] = [];
  const nowText = `now: ${describeMatches(v.now)}`;
  if (v.after.matches.length === 0) {
    out.push({
      check,
      status: 'block',
      reason: `after the relabel no webhook would inject new pods of ${ns.name} (${nowText}): they would start without a sidecar`,
      fix: `install the target's injector (MutatingWebhookConfiguration ${expected}) or fix its namespaceSelector to select istio.io/rev=${target}`,
    });
  } else if (v.after.matches.length > 1) {
    out.push({
      check,
      status: 'block',
      reason: `after the relabel ${v.after.matches.length} webhooks would inject new pods of ${ns.name}: ${describeMatches(v.after)}; the apiserver calls them all in name order and the last injection wins`,
      fix: 'remove or narrow the extra MutatingWebhookConfiguration (e.g. an old revision tag or a duplicated default injector) so exactly one matches',
    });
  } else if (v.after.revision !== target) {
    out.push({
      check,
      status: 'block',
      reason: `after the relabel new pods of ${ns.name} would be injected by revision ${v.after.revision ?? 'unknown'} (${describeMatches(v.after)}), not the target ${target}`,
      fix: `check which webhook selects istio.io/rev=${target}; the target's should be ${expected}`,
    });
  }
  // The injection itself is right: say so (the istio-injection note below is a separate finding).
  if (out.length === 0) out.push({ check, status: 'pass', reason: `${nowText}; after: ${describeMatches(v.after)}` });
  if (IstioLabel.injection in ns.labels) {
    out.push({
      check: `${check}/istio-injection`,
      status: 'warn',
      reason: `${ns.name} has ${IstioLabel.injection}=${ns.labels[IstioLabel.injection]}, which overrides istio.io/rev (the default webhook would keep injecting); the relabel removes it in the same patch that sets istio.io/rev=${target}`,
      fix: "nothing to do: shown so the label's disappearance is expected; a rollback puts it back",
    });
  }
  return out;
}

export function decideInjectionAll(
  namespaces: readonly NamespaceView[],
  configs: readonly MutatingWebhookConfigurationLike[],
  plan: Pick<Plan, 'target'>,
): Finding[] {
  const per: Finding[] = [];
  const warns: Finding[] = [];
  for (const ns of namespaces) {
    for (const f of decideInjection(ns, injectionFor(configs, ns.labels, plan), plan)) {
      (f.check.endsWith('/istio-injection') ? warns : per).push(f);
    }
  }
  const out = collapse(
    'injection',
    per,
    (passed) =>
      `exactly one webhook, the target's, would inject new pods of ${passed.length === namespaces.length ? 'every planned namespace' : nameList(passed)} after the relabel`,
  );
  // The istio-injection notes are per namespace but of one kind: one line names them all.
  if (warns.length > 0) {
    const names = warns.map((w) => w.check.slice('injection/'.length, -'/istio-injection'.length));
    out.push({
      check: 'injection/istio-injection',
      status: 'warn',
      reason: `${nameList(names)} ha${names.length === 1 ? 's' : 've'} the istio-injection label, which overrides istio.io/rev (docs/istio-facts.md §2: a namespace with both is injected by the default webhook); the relabel removes it in the same patch that sets istio.io/rev=${plan.target.revision}`,
      fix: "nothing to do: shown so the label's removal is expected; a namespace rollback puts it back",
    });
  }
  return out;
}

export async function checkInjection(ctx: PreflightContext): Promise<Finding[]> {
  const [{ present }, mwcs] = await Promise.all([ctx.plannedNamespaces(), ctx.mutatingWebhookConfigurations()]);
  // The revision-tag path: namespaces are injected through the tag, as it will be once it points at the target.
  const configs = afterTagSwitch(mwcs, ctx.plan);
  try {
    return decideInjectionAll(present, configs as MutatingWebhookConfigurationLike[], ctx.plan);
  } catch (err) {
    return [
      {
        check: 'injection',
        status: 'block',
        reason: `a webhook selector cannot be evaluated: ${(err as Error).message}`,
        fix: 'fix the MutatingWebhookConfiguration; the apiserver rejects the same selector',
      },
    ];
  }
}
