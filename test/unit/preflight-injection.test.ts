import { describe, expect, it } from 'vitest';
import { decideInjection, decideInjectionAll, injectionFor } from '../../activities/preflight/injection.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { plan, sourceMwc, targetMwc } from './preflight-fixtures.js';
import type { MutatingWebhookConfigurationLike } from '../../mesh/injection.js';

const both = [sourceMwc, targetMwc] as MutatingWebhookConfigurationLike[];
// A second target-revision injector (e.g. a stale copy installed in istio-system): two matches.
const duplicate = istioInjectorWebhookConfiguration('istio-1-16-5', {
  isDefault: false,
  istiodNamespace: 'istio-system',
}) as MutatingWebhookConfigurationLike;
// A revision tag "prod" pointing at the target, whose namespaceSelector selects istio.io/rev=prod: no match for our relabel.
const onlyTag = istioInjectorWebhookConfiguration('istio-1-16-5', {
  isDefault: false,
  tag: 'prod',
  istiodNamespace: 'istio-1-16-5',
}) as MutatingWebhookConfigurationLike;

describe('decideInjection (table)', () => {
  const cases: {
    name: string;
    labels: Record<string, string>;
    configs: MutatingWebhookConfigurationLike[];
    statuses: string[];
    reason?: RegExp;
  }[] = [
    {
      name: 'field report namespace: default now, target after, warn on istio-injection',
      labels: { 'istio-injection': 'enabled' },
      configs: both,
      statuses: ['pass', 'warn'],
      reason: /after: .*→ istio-1-16-5 \| .*overrides istio.io\/rev/,
    },
    {
      name: 'unlabeled namespace: target after, pass',
      labels: {},
      configs: both,
      statuses: ['pass'],
      reason:
        /now: no webhook.*after: istio-sidecar-injector-istio-1-16-5-istio-1-16-5\/rev.namespace.sidecar-injector.istio.io → istio-1-16-5/,
    },
    {
      name: 'both labels already (istio-injection wins now), warn',
      labels: { 'istio-injection': 'enabled', 'istio.io/rev': 'istio-1-16-5' },
      configs: both,
      statuses: ['pass', 'warn'],
      reason: /now: istio-sidecar-injector\/namespace.sidecar-injector.istio.io → default/,
    },
    {
      name: 'no target webhook installed: block',
      labels: { 'istio-injection': 'enabled' },
      configs: [sourceMwc as MutatingWebhookConfigurationLike],
      statuses: ['block', 'warn'],
      reason: /no webhook would inject/,
    },
    {
      name: 'only a tag webhook of the target: block (selects istio.io/rev=prod)',
      labels: {},
      configs: [sourceMwc as MutatingWebhookConfigurationLike, onlyTag],
      statuses: ['block'],
      reason: /no webhook would inject/,
    },
    {
      name: 'two target injectors: block conflict',
      labels: {},
      configs: [...both, duplicate],
      statuses: ['block'],
      reason: /2 webhooks would inject.*last injection wins/,
    },
    {
      name: 'istio-injection=disabled: still removed by relabel, warn',
      labels: { 'istio-injection': 'disabled' },
      configs: both,
      statuses: ['pass', 'warn'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ns = { name: 'orders', labels: c.labels };
      const got = decideInjection(ns, injectionFor(c.configs, c.labels, plan), plan);
      expect(got.map((f) => f.status)).toEqual(c.statuses);
      if (c.reason) expect(got.map((f) => f.reason).join(' | ')).toMatch(c.reason);
    });
  }

  it('injection now reflects istio-injection overriding istio.io/rev', () => {
    const v = injectionFor(both, { 'istio-injection': 'enabled', 'istio.io/rev': 'istio-1-16-5' }, plan);
    expect(v.now.revision).toBe('default');
    expect(v.after.revision).toBe('istio-1-16-5');
    expect(v.after.matches).toHaveLength(1);
  });

  it('decideInjectionAll folds passing namespaces into one line and istio-injection notes into one', () => {
    const nss: { name: string; labels: Record<string, string> }[] = [
      { name: 'a', labels: { 'istio-injection': 'enabled' } },
      { name: 'b', labels: {} },
      { name: 'c', labels: { 'istio-injection': 'enabled' } },
    ];
    const got = decideInjectionAll(nss, both, plan);
    expect(got.map((f) => `${f.check}:${f.status}`)).toEqual(['injection:pass', 'injection/istio-injection:warn']);
    expect(got[1]!.reason).toMatch(/^a, c have the istio-injection label/);
  });
});
