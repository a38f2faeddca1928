// Webhook selection, every row of docs/istio-facts.md §2 and its consequences, evaluated on the MWCs the chart
// generates (built by the same function the twin uses to create them).
import { describe, expect, it } from 'vitest';
import {
  WebhookName,
  injectingRevision,
  injectorAccepts,
  istioInjectorWebhookConfiguration,
  istioInjectorWebhooks,
  webhooksInjecting,
  type MutatingWebhookConfigurationLike,
} from '../../mesh/injection.js';
import {
  discoveryAddress,
  injectorWebhookConfigName,
  istiodHost,
  istiodServiceName,
  meshConfigMapName,
  revisionOfIstiodService,
  revisionTagConfigName,
} from '../../mesh/naming.js';

const vendor = istioInjectorWebhookConfiguration('default', { isDefault: true, istiodNamespace: 'istio-system' });
const community = istioInjectorWebhookConfiguration('istio-1-16-5', { isDefault: false, istiodNamespace: 'istio-1-16-5' });
const prodTag = istioInjectorWebhookConfiguration('istio-1-16-5', { isDefault: false, tag: 'prod', istiodNamespace: 'istio-1-16-5' });
const defaultTag = istioInjectorWebhookConfiguration('istio-1-16-5', { isDefault: true, tag: 'default', istiodNamespace: 'istio-1-16-5' });

describe('naming (docs/istio-facts.md §2, §5, §7)', () => {
  it.each([
    ['default', 'istio-system', 'istio-sidecar-injector'],
    ['', 'istio-system', 'istio-sidecar-injector'],
    ['1-16', 'istio-system', 'istio-sidecar-injector-1-16'],
    ['default', 'mesh', 'istio-sidecar-injector-mesh'],
    // the Correction: revision and namespace are both appended
    ['istio-1-16-5', 'istio-1-16-5', 'istio-sidecar-injector-istio-1-16-5-istio-1-16-5'],
  ])('injector MWC for rev %j in %s is %s', (rev, ns, name) => {
    expect(injectorWebhookConfigName(rev, ns)).toBe(name);
  });

  it('names tags, services, hosts and mesh config maps', () => {
    expect(revisionTagConfigName('prod', 'istio-system')).toBe('istio-revision-tag-prod');
    expect(revisionTagConfigName('prod', 'istio-1-16-5')).toBe('istio-revision-tag-prod-istio-1-16-5');
    expect(istiodServiceName('default')).toBe('istiod');
    expect(istiodServiceName('istio-1-16-5')).toBe('istiod-istio-1-16-5');
    expect(istiodHost('istio-system', 'default')).toBe('istiod.istio-system.svc');
    expect(istiodHost('istio-1-16-5', 'istio-1-16-5')).toBe('istiod-istio-1-16-5.istio-1-16-5.svc');
    expect(discoveryAddress('istio-1-16-5', 'istio-1-16-5')).toBe('istiod-istio-1-16-5.istio-1-16-5.svc:15012');
    expect(meshConfigMapName('default')).toBe('istio');
    expect(meshConfigMapName('istio-1-16-5')).toBe('istio-istio-1-16-5');
    expect(revisionOfIstiodService('istiod')).toBe('default');
    expect(revisionOfIstiodService('istiod-canary')).toBe('canary');
    expect(revisionOfIstiodService('other')).toBeNull();
  });
});

describe('the chart MWCs', () => {
  it('a revision has the two rev.* webhooks, the default revision also the legacy two', () => {
    expect(community.webhooks.map((w) => w.name)).toEqual([WebhookName.revNamespace, WebhookName.revObject]);
    expect(vendor.webhooks.map((w) => w.name)).toEqual([
      WebhookName.revNamespace,
      WebhookName.revObject,
      WebhookName.namespace,
      WebhookName.object,
    ]);
    for (const w of vendor.webhooks) {
      expect(w.failurePolicy).toBe('Fail');
      expect(w.clientConfig?.service).toEqual({ name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 });
      expect(w.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }]);
    }
  });

  it('labels: istio.io/rev and app, tags also istio.io/tag, and a tag calls its revision', () => {
    expect(community.metadata).toEqual({
      name: 'istio-sidecar-injector-istio-1-16-5-istio-1-16-5',
      labels: { 'istio.io/rev': 'istio-1-16-5', app: 'sidecar-injector' },
    });
    expect(vendor.metadata.labels['istio.io/rev']).toBe('default');
    expect(prodTag.metadata).toEqual({
      name: 'istio-revision-tag-prod-istio-1-16-5',
      labels: { 'istio.io/rev': 'istio-1-16-5', app: 'sidecar-injector', 'istio.io/tag': 'prod' },
    });
    expect(prodTag.webhooks[0]!.namespaceSelector?.matchExpressions?.[0]).toEqual({
      key: 'istio.io/rev',
      operator: 'In',
      values: ['prod'],
    });
    expect(prodTag.webhooks[0]!.clientConfig?.service?.name).toBe('istiod-istio-1-16-5');
  });

  it('the facts table selectors, literally', () => {
    const [revNs, revObj] = istioInjectorWebhooks('r1', { isDefault: false, istiodNamespace: 'x' });
    expect(revNs!.namespaceSelector).toEqual({
      matchExpressions: [
        { key: 'istio.io/rev', operator: 'In', values: ['r1'] },
        { key: 'istio-injection', operator: 'DoesNotExist' },
      ],
    });
    expect(revNs!.objectSelector).toEqual({ matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] });
    expect(revObj!.namespaceSelector).toEqual({
      matchExpressions: [
        { key: 'istio.io/rev', operator: 'DoesNotExist' },
        { key: 'istio-injection', operator: 'DoesNotExist' },
      ],
    });
    expect(revObj!.objectSelector).toEqual({
      matchExpressions: [
        { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] },
        { key: 'istio.io/rev', operator: 'In', values: ['r1'] },
      ],
    });
  });
});

type Row = [string, MutatingWebhookConfigurationLike[], Record<string, string>, Record<string, string>, string | null, string[]];
const both = [vendor, community];

describe('which webhook injects (docs/istio-facts.md §2 rows and consequences)', () => {
  const rows: Row[] = [
    [
      'istio-injection=enabled → default namespace webhook',
      both,
      { 'istio-injection': 'enabled' },
      {},
      'default',
      [`istio-sidecar-injector/${WebhookName.namespace}`],
    ],
    [
      'istio.io/rev=istio-1-16-5 → the revision',
      both,
      { 'istio.io/rev': 'istio-1-16-5' },
      {},
      'istio-1-16-5',
      [`istio-sidecar-injector-istio-1-16-5-istio-1-16-5/${WebhookName.revNamespace}`],
    ],
    [
      'istio.io/rev=default → default rev.namespace',
      both,
      { 'istio.io/rev': 'default' },
      {},
      'default',
      [`istio-sidecar-injector/${WebhookName.revNamespace}`],
    ],
    [
      'istio-injection=enabled overrides istio.io/rev',
      both,
      { 'istio-injection': 'enabled', 'istio.io/rev': 'istio-1-16-5' },
      {},
      'default',
      [`istio-sidecar-injector/${WebhookName.namespace}`],
    ],
    [
      'istio-injection=disabled whatever istio.io/rev says',
      both,
      { 'istio-injection': 'disabled', 'istio.io/rev': 'istio-1-16-5' },
      {},
      null,
      [],
    ],
    ['istio-injection=disabled alone', both, { 'istio-injection': 'disabled' }, {}, null, []],
    ['pod opt-out under istio-injection=enabled', both, { 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }, null, []],
    ['pod opt-out under istio.io/rev', both, { 'istio.io/rev': 'istio-1-16-5' }, { 'sidecar.istio.io/inject': 'false' }, null, []],
    ['unlabeled namespace, plain pod → nothing', both, {}, {}, null, []],
    [
      'unlabeled namespace, pod istio.io/rev → rev.object',
      both,
      {},
      { 'istio.io/rev': 'istio-1-16-5' },
      'istio-1-16-5',
      [`istio-sidecar-injector-istio-1-16-5-istio-1-16-5/${WebhookName.revObject}`],
    ],
    [
      'unlabeled namespace, pod inject=true → default object webhook',
      both,
      {},
      { 'sidecar.istio.io/inject': 'true' },
      'default',
      [`istio-sidecar-injector/${WebhookName.object}`],
    ],
    [
      'pod inject=true and istio.io/rev → only rev.object',
      both,
      {},
      { 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'istio-1-16-5' },
      'istio-1-16-5',
      [`istio-sidecar-injector-istio-1-16-5-istio-1-16-5/${WebhookName.revObject}`],
    ],
    [
      'namespace istio.io/rev beats pod istio.io/rev',
      both,
      { 'istio.io/rev': 'default' },
      { 'istio.io/rev': 'istio-1-16-5' },
      'default',
      [`istio-sidecar-injector/${WebhookName.revNamespace}`],
    ],
    ['unknown revision → nothing', both, { 'istio.io/rev': 'nope' }, {}, null, []],
    [
      'revision tag prod → the tag MWC, revision of its istiod',
      [...both, prodTag],
      { 'istio.io/rev': 'prod' },
      {},
      'istio-1-16-5',
      [`istio-revision-tag-prod-istio-1-16-5/${WebhookName.revNamespace}`],
    ],
  ];
  it.each(rows)('%s', (_name, mwcs, ns, pod, revision, matched) => {
    const d = injectingRevision(mwcs, ns, pod);
    expect(d.revision).toBe(revision);
    expect(d.matches.map((m) => `${m.configName}/${m.webhookName}`)).toEqual(matched);
    expect(d.conflict).toBe(false);
  });

  it('default tag beside the old default injector: both match, name order, last wins, conflict', () => {
    // docs/istio-facts.md §9: with the `default` tag the old istio-sidecar-injector must be deleted or pods get injected twice
    const d = injectingRevision([defaultTag, vendor], { 'istio-injection': 'enabled' }, {});
    expect(d.matches.map((m) => m.configName)).toEqual(['istio-revision-tag-default-istio-1-16-5', 'istio-sidecar-injector']);
    expect(d.revision).toBe('default');
    expect(d.conflict).toBe(true);
    expect(d.matches[0]!.tag).toBe('default');
  });

  it('two MWCs matching: called in name order whatever the list order, the last name wins', () => {
    // A second configuration that also selects istio-injection=enabled (a leftover vendor injector).
    const rogue: MutatingWebhookConfigurationLike = {
      metadata: { name: 'zz-vendor-injector', labels: { 'istio.io/rev': 'istio-1-16-5' } },
      webhooks: [
        {
          name: 'x.sidecar-injector.istio.io',
          namespaceSelector: { matchLabels: { 'istio-injection': 'enabled' } },
          rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }],
        },
      ],
    };
    const d = injectingRevision([rogue, vendor], { 'istio-injection': 'enabled' }, {});
    expect(d.matches.map((m) => m.configName)).toEqual(['istio-sidecar-injector', 'zz-vendor-injector']);
    expect(d.revision).toBe('istio-1-16-5');
    expect(d.conflict).toBe(true);
  });

  it('absent selectors match everything; rules not covering pod CREATE match nothing', () => {
    const open: MutatingWebhookConfigurationLike = {
      metadata: { name: 'a', labels: { 'istio.io/rev': 'r' } },
      webhooks: [{ name: 'w', rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }],
    };
    const updateOnly: MutatingWebhookConfigurationLike = {
      metadata: { name: 'b' },
      webhooks: [{ name: 'w', rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }],
    };
    expect(webhooksInjecting([open, updateOnly], {}, {}).map((m) => m.configName)).toEqual(['a']);
  });

  it('the revision falls back to the called service when the MWC has no istio.io/rev label', () => {
    const m = { ...community, metadata: { name: community.metadata.name } };
    expect(injectingRevision([m], { 'istio.io/rev': 'istio-1-16-5' }, {}).revision).toBe('istio-1-16-5');
  });
});

describe('injector opt-outs once called', () => {
  it.each([
    [{ metadata: { namespace: 'a' } }, true],
    [{ metadata: { namespace: 'a', labels: { 'sidecar.istio.io/inject': 'false' } } }, false],
    [{ metadata: { namespace: 'a', annotations: { 'sidecar.istio.io/inject': 'no' } } }, false],
    [{ metadata: { namespace: 'a', annotations: { 'sidecar.istio.io/inject': 'true' } } }, true],
    [{ metadata: { namespace: 'a' }, spec: { hostNetwork: true } }, false],
    [{ metadata: { namespace: 'kube-system' } }, false],
  ])('%j → %s', (pod, ok) => {
    expect(injectorAccepts(pod)).toBe(ok);
  });
});
