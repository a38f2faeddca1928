import { describe, expect, it } from 'vitest';
import { explain, explainSelector, podLabelVariants } from '../../activities/verify/injection.js';
import { istioInjectorWebhookConfiguration, type MutatingWebhookConfigurationLike } from '../../mesh/injection.js';

const plan = {
  source: {
    revision: 'default',
    istiodNamespace: 'istio-system',
    gateway: { namespace: 'istio-system', service: 'gw', selector: { a: 'b' } },
  },
  target: {
    revision: 'istio-1-16-5',
    istiodNamespace: 'istio-1-16-5',
    discoveryLabels: { usergroup: 'istio-1-16-5' },
    gateway: { namespace: 'istio-1-16-5', service: 'gw', selector: { a: 'b' } },
  },
};
const source = istioInjectorWebhookConfiguration('default', {
  isDefault: true,
  istiodNamespace: 'istio-system',
}) as MutatingWebhookConfigurationLike;
const target = istioInjectorWebhookConfiguration('istio-1-16-5', {
  isDefault: false,
  istiodNamespace: 'istio-1-16-5',
}) as MutatingWebhookConfigurationLike;
// The rollback failure of the field report: a "default" tag pointing at the target answers istio-injection=enabled.
const defaultTagOnTarget = istioInjectorWebhookConfiguration('istio-1-16-5', {
  isDefault: true,
  tag: 'default',
  istiodNamespace: 'istio-1-16-5',
}) as MutatingWebhookConfigurationLike;
const restored = { 'istio-injection': 'enabled', 'kubernetes.io/metadata.name': 'orders' };

describe('explain (after a namespace rollback)', () => {
  it('labels restored, only the source matches: back on the source', () => {
    const e = explain('orders', restored, [source, target], [{}], plan);
    expect(e.targetIntercepts).toBe(false);
    expect(e.injectors).toEqual(['istio-sidecar-injector/namespace.sidecar-injector.istio.io']);
    expect(e.message).toMatch(/get the sidecar of revision default/);
    expect(e.message).toMatch(/No webhook of the target istio-1-16-5 matches/);
  });

  it("labels not restored: the target's revision webhook intercepts, named precisely with the labels and the fix", () => {
    const e = explain('orders', { 'istio.io/rev': 'istio-1-16-5', usergroup: 'istio-1-16-5' }, [source, target], [{}], plan);
    expect(e.targetIntercepts).toBe(true);
    expect(e.message).toContain(
      'MutatingWebhookConfiguration istio-sidecar-injector-istio-1-16-5-istio-1-16-5, webhook rev.namespace.sidecar-injector.istio.io',
    );
    expect(e.message).toContain('istio.io/rev In [istio-1-16-5] (has istio.io/rev=istio-1-16-5)');
    expect(e.message).toContain('istio-injection DoesNotExist (no istio-injection label)');
    expect(e.message).toContain('kubectl label namespace orders istio.io/rev- istio-injection=enabled');
    expect(e.message).toMatch(/Do not delete the Istio CRDs/);
  });

  it('labels restored but a default tag points at the target: both match (conflict), reported', () => {
    const e = explain('orders', restored, [source, target, defaultTagOnTarget], [{}], plan);
    expect(e.targetIntercepts).toBe(true);
    expect(e.injectors).toContain('istio-revision-tag-default-istio-1-16-5/namespace.sidecar-injector.istio.io');
    expect(e.message).toMatch(/get the sidecar of revision default \(several webhooks match/);
    expect(e.message).toContain('istio-injection In [enabled] (has istio-injection=enabled)');
    expect(e.message).toContain('istioctl tag remove default');
  });

  it('no webhook at all: pods without sidecar', () => {
    const e = explain('orders', {}, [target], [{}], plan);
    expect(e.injectors).toEqual([]);
    expect(e.message).toMatch(/No webhook injects new pods/);
  });

  it('pods labelled istio.io/rev=<target> in an unlabelled namespace are caught by the object selector', () => {
    const variants = podLabelVariants([{ metadata: { labels: { 'istio.io/rev': 'istio-1-16-5', app: 'x' } } }]);
    expect(variants).toEqual([{}, { 'istio.io/rev': 'istio-1-16-5' }]);
    const e = explain('orders', {}, [source, target], variants, plan);
    expect(e.targetIntercepts).toBe(true);
    expect(e.message).toContain('rev.object.sidecar-injector.istio.io');
  });
});

describe('explainSelector', () => {
  it('renders requirements next to the namespace values', () => {
    expect(explainSelector({ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'c', operator: 'Exists' }] }, { a: 'b' })).toBe(
      'a=b (has a=b), c Exists (no c label)',
    );
    expect(explainSelector(undefined, {})).toMatch(/every namespace/);
  });
});
