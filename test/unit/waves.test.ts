// Waves by selector: the plan's `select` shape (validated with messages naming the field), and the
// pure resolver that turns it into concrete namespaces once, before the start gate.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parsePlanText, PlanError } from '../../plan/load.js';
import { hasSelectWaves, plannedNamespaces, resolvedPlan, type Plan, type PlanInput } from '../../plan/schema.js';
import { globMatches, limitCount, resolveWaveSelection, type NamespaceInfo } from '../../activities/waves/resolve.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { testPlan } from '../support/fake-activities.js';

type WaveInput = PlanInput['waves'][number];

function problems(waves: unknown): { path: string; message: string }[] {
  const base = testPlan();
  try {
    parsePlanText(stringify({ ...base, waves }), 'plan.yaml');
  } catch (err) {
    if (err instanceof PlanError) return err.problems.map((p) => ({ path: p.path, message: p.message }));
    throw err;
  }
  return [];
}

function planWith(waves: WaveInput[]): Plan {
  return testPlan({ waves });
}

const ENABLED = { 'istio-injection': 'enabled' };
const CLUSTER: NamespaceInfo[] = [
  { name: 'payments', labels: { ...ENABLED, team: 'pay', tier: 'backend' } },
  { name: 'inventory', labels: { ...ENABLED, team: 'shop', tier: 'backend' } },
  { name: 'frontend', labels: { ...ENABLED, team: 'shop', tier: 'edge' } },
  { name: 'orders', labels: { ...ENABLED, team: 'shop', tier: 'backend' } },
  { name: 'inv-archive', labels: { team: 'shop' } },
  { name: 'already-moved', labels: { 'istio.io/rev': 'istio-1-16-5', team: 'shop' } },
  { name: 'istio-system', labels: { ...ENABLED } },
  { name: 'istio-1-16-5', labels: { team: 'shop' } },
  { name: 'kube-system', labels: { team: 'shop' } },
  { name: 'default', labels: {} },
];
// The injectors the chart renders: the source (default revision, istio-injection=enabled) and the target.
const WEBHOOKS = [
  istioInjectorWebhookConfiguration('default', { isDefault: true, istiodNamespace: 'istio-system' }),
  istioInjectorWebhookConfiguration('istio-1-16-5', { isDefault: false, istiodNamespace: 'istio-1-16-5' }),
];

describe('wave schema', () => {
  it('keeps name waves exactly as before', () => {
    const plan = testPlan();
    expect(plan.waves).toEqual([
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'rest', concurrency: 2, namespaces: ['payments', 'orders', 'frontend'] },
    ]);
    expect(hasSelectWaves(plan)).toBe(false);
  });

  it('accepts a select wave and normalizes it with no namespaces yet', () => {
    const plan = planWith([
      { name: 'canary', concurrency: 1, select: { names: ['inv*'], limit: 1 } },
      {
        name: 'rest',
        concurrency: 2,
        select: { injectedBy: 'source', exclude: ['legacy-*'], limit: '50%', matchExpressions: [{ key: 'team', operator: 'Exists' }] },
      },
    ]);
    expect(hasSelectWaves(plan)).toBe(true);
    expect(plan.waves[0]).toEqual({ name: 'canary', concurrency: 1, namespaces: [], select: { names: ['inv*'], limit: 1 } });
    expect(plannedNamespaces(plan)).toEqual([]);
  });

  it.each<[string, unknown, { path: string; message: RegExp }]>([
    ['neither namespaces nor select', [{ name: 'w', concurrency: 1 }], { path: 'waves[0].namespaces', message: /"select"/ }],
    [
      'both namespaces and select',
      [{ name: 'w', concurrency: 1, namespaces: ['a'], select: { names: ['a*'] } }],
      { path: 'waves[0].select', message: /either "namespaces" or "select"/ },
    ],
    [
      'an empty select',
      [{ name: 'w', concurrency: 1, select: {} }],
      { path: 'waves[0].select', message: /matchLabels, matchExpressions, injectedBy or names/ },
    ],
    ['a limit of only', [{ name: 'w', concurrency: 1, select: { limit: 2 } }], { path: 'waves[0].select', message: /every namespace/ }],
    [
      'an unknown field',
      [{ name: 'w', concurrency: 1, select: { names: ['a'], namespaceSelector: {} } }],
      { path: 'waves[0].select', message: /unknown field "namespaceSelector"/ },
    ],
    [
      'a bad operator',
      [{ name: 'w', concurrency: 1, select: { matchExpressions: [{ key: 'team', operator: 'Equals', values: ['a'] }] } }],
      { path: 'waves[0].select.matchExpressions[0].operator', message: /In, NotIn, Exists, DoesNotExist/ },
    ],
    [
      'In without values',
      [{ name: 'w', concurrency: 1, select: { matchExpressions: [{ key: 'team', operator: 'In' }] } }],
      { path: 'waves[0].select.matchExpressions[0].values', message: /at least one value/ },
    ],
    [
      'Exists with values',
      [{ name: 'w', concurrency: 1, select: { matchExpressions: [{ key: 'team', operator: 'Exists', values: ['a'] }] } }],
      { path: 'waves[0].select.matchExpressions[0].values', message: /no values/ },
    ],
    [
      'injectedBy target',
      [{ name: 'w', concurrency: 1, select: { injectedBy: 'target' } }],
      { path: 'waves[0].select.injectedBy', message: /only "source"/ },
    ],
    [
      'a bad pattern',
      [{ name: 'w', concurrency: 1, select: { names: ['Shop_*'] } }],
      { path: 'waves[0].select.names[0]', message: /"\*"/ },
    ],
    [
      'a zero limit',
      [{ name: 'w', concurrency: 1, select: { names: ['a*'], limit: 0 } }],
      { path: 'waves[0].select.limit', message: /at least 1/ },
    ],
    [
      'a percentage over 100',
      [{ name: 'w', concurrency: 1, select: { names: ['a*'], limit: '150%' } }],
      { path: 'waves[0].select.limit', message: /between "1%" and "100%"/ },
    ],
    [
      'a limit in words',
      [{ name: 'w', concurrency: 1, select: { names: ['a*'], limit: 'half' } }],
      { path: 'waves[0].select.limit', message: /"10%"/ },
    ],
  ])('refuses %s, naming the field', (_what, waves, expected) => {
    const found = problems(waves);
    expect(
      found.some((p) => p.path === expected.path && expected.message.test(p.message)),
      JSON.stringify(found),
    ).toBe(true);
  });

  it('cross-field checks still apply to name waves and do not trip over select waves', () => {
    const found = problems([
      { name: 'w', concurrency: 1, namespaces: ['a', 'istio-system'] },
      { name: 'w', concurrency: 1, select: { injectedBy: 'source' } },
      { name: 'x', concurrency: 1, namespaces: ['a'] },
    ]);
    expect(found.map((p) => p.path)).toEqual(expect.arrayContaining(['waves[2].namespaces[0]', 'waves[1].name', 'waves']));
  });

  it('resolvedPlan gives every wave concrete namespaces and keeps name waves as written', () => {
    const plan = planWith([
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'rest', concurrency: 2, select: { injectedBy: 'source' } },
    ]);
    const resolved = resolvedPlan(plan, {
      waves: [
        { name: 'canary', namespaces: ['inventory'] },
        { name: 'rest', namespaces: ['frontend', 'orders'] },
      ],
    });
    expect(resolved.waves).toEqual([
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'rest', concurrency: 2, namespaces: ['frontend', 'orders'] },
    ]);
    expect(hasSelectWaves(resolved)).toBe(false);
    expect(plannedNamespaces(resolved)).toEqual(['inventory', 'frontend', 'orders']);
    expect(plan.waves[1]!.namespaces).toEqual([]);
  });
});

describe('globMatches and limitCount', () => {
  it.each<[string, string, boolean]>([
    ['inv*', 'inventory', true],
    ['inv*', 'inv', true],
    ['inv*', 'xinventory', false],
    ['*-prod', 'shop-prod', true],
    ['*-prod', 'shop-prod-2', false],
    ['shop-?', 'shop-1', true],
    ['shop-?', 'shop-12', false],
    ['orders', 'orders', true],
    ['orders', 'orders2', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });

  it.each<[number | string | undefined, number, number]>([
    [undefined, 7, 7],
    [3, 7, 3],
    [10, 7, 7],
    ['10%', 7, 1], // 0.7 rounds up
    ['50%', 7, 4],
    ['100%', 7, 7],
    ['1%', 0, 0],
    ['34%', 3, 2],
  ])('limit %s of %i matched → %i', (limit, matched, expected) => {
    expect(limitCount(limit as never, matched)).toBe(expected);
  });
});

describe('resolveWaveSelection', () => {
  it.each<[string, WaveInput[], string[][]]>([
    [
      'name waves as written (even a namespace not in the cluster)',
      [{ name: 'a', concurrency: 1, namespaces: ['orders', 'ghost'] }],
      [['orders', 'ghost']],
    ],
    [
      'matchLabels, sorted by name',
      [{ name: 'a', concurrency: 1, select: { matchLabels: { team: 'shop' } } }],
      [['already-moved', 'frontend', 'inv-archive', 'inventory', 'orders']],
    ],
    [
      'matchExpressions In and DoesNotExist',
      [
        {
          name: 'a',
          concurrency: 1,
          select: {
            matchExpressions: [
              { key: 'tier', operator: 'In', values: ['backend', 'edge'] },
              { key: 'istio.io/rev', operator: 'DoesNotExist' },
            ],
          },
        },
      ],
      [['frontend', 'inventory', 'orders', 'payments']],
    ],
    [
      'matchExpressions NotIn (absent key matches)',
      [{ name: 'a', concurrency: 1, select: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] } }],
      [['already-moved', 'default', 'frontend', 'inv-archive']],
    ],
    [
      'injected by the source: not the one on the target, not an unlabelled one',
      [{ name: 'a', concurrency: 1, select: { injectedBy: 'source' } }],
      [['frontend', 'inventory', 'orders', 'payments']],
    ],
    ['name patterns', [{ name: 'a', concurrency: 1, select: { names: ['inv*', 'orders'] } }], [['inv-archive', 'inventory', 'orders']]],
    ['criteria are ANDed', [{ name: 'a', concurrency: 1, select: { names: ['inv*'], injectedBy: 'source' } }], [['inventory']]],
    [
      'exclusions by name and pattern',
      [{ name: 'a', concurrency: 1, select: { injectedBy: 'source', exclude: ['pay*', 'frontend'] } }],
      [['inventory', 'orders']],
    ],
    [
      'a count takes the first by name',
      [{ name: 'a', concurrency: 1, select: { injectedBy: 'source', limit: 2 } }],
      [['frontend', 'inventory']],
    ],
    [
      'a percentage of what remains, rounded up; earlier waves are never taken again',
      [
        { name: 'a', concurrency: 1, select: { injectedBy: 'source', limit: '25%' } },
        { name: 'b', concurrency: 1, select: { injectedBy: 'source', limit: '50%' } },
        { name: 'c', concurrency: 1, select: { injectedBy: 'source' } },
      ],
      [['frontend'], ['inventory', 'orders'], ['payments']],
    ],
    [
      'a namespace named by any wave is left to that wave, even a later one',
      [
        { name: 'a', concurrency: 1, select: { injectedBy: 'source' } },
        { name: 'b', concurrency: 1, namespaces: ['payments'] },
      ],
      [['frontend', 'inventory', 'orders'], ['payments']],
    ],
    [
      'control-plane and kube-system namespaces are never taken',
      [{ name: 'a', concurrency: 1, select: { names: ['istio-*', 'kube-*', 'default'] } }],
      [['default']],
    ],
    ['nothing matched: an empty wave', [{ name: 'a', concurrency: 1, select: { matchLabels: { team: 'nobody' } } }], [[]]],
  ])('%s', (_what, waves, expected) => {
    const found = resolveWaveSelection(planWith(waves), CLUSTER, WEBHOOKS);
    expect(found.waves.map((w) => w.namespaces)).toEqual(expected);
    expect(found.waves.map((w) => w.name)).toEqual(waves.map((w) => w.name));
  });

  it('lists the namespaces the source still injects that no wave takes', () => {
    const found = resolveWaveSelection(planWith([{ name: 'a', concurrency: 1, select: { names: ['inv*'] } }]), CLUSTER, WEBHOOKS);
    expect(found.unmatched).toEqual({ count: 3, names: ['frontend', 'orders', 'payments'] });
    const all = resolveWaveSelection(planWith([{ name: 'a', concurrency: 1, select: { injectedBy: 'source' } }]), CLUSTER, WEBHOOKS);
    expect(all.unmatched).toBeUndefined();
  });

  it('does not depend on the order the cluster lists namespaces in', () => {
    const waves: WaveInput[] = [
      { name: 'a', concurrency: 1, select: { injectedBy: 'source', limit: '50%' } },
      { name: 'b', concurrency: 1, select: { injectedBy: 'source' } },
    ];
    const plan = planWith(waves);
    expect(resolveWaveSelection(plan, [...CLUSTER].reverse(), WEBHOOKS)).toEqual(resolveWaveSelection(plan, CLUSTER, WEBHOOKS));
  });

  it('without webhooks nothing is injected by the source', () => {
    expect(
      resolveWaveSelection(planWith([{ name: 'a', concurrency: 1, select: { injectedBy: 'source' } }]), CLUSTER).waves[0]!.namespaces,
    ).toEqual([]);
  });
});
