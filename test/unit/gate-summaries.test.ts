// What an approver reads at each gate of the migration, from the plan and the results so far: the
// texts the workflow shows (and whose digest a signed approval covers), table-tested without a run.
import { describe, expect, it } from 'vitest';
import {
  analysisLines,
  baselineSummary,
  blockingLines,
  decommissionGateSummary,
  dnsCutoverGateSummary,
  manualDnsGateSummary,
  namespaceGateSummary,
  nothingSelectedError,
  resolvedWavesSummary,
  skippedPreflightLine,
  startGateSummary,
  unmatchedLine,
  waveLine,
} from '../../workflows/gate-summaries.js';
import { resolvedPlan } from '../../plan/schema.js';
import type { StepRecord } from '../../workflows/messages.js';
import type { TrafficBaseline, WaveSelection } from '../../activities/contract.js';
import { testPlan } from '../support/fake-activities.js';

const plan = testPlan();
const withAnalysis = testPlan({
  analysis: { prometheus: { url: 'http://prom:9090' }, namespace: { window: '60s', maxErrorRateIncrease: 0.01 }, drain: { window: '2m' } },
});
const selecting = testPlan({
  waves: [
    { name: 'canary', concurrency: 1, select: { names: ['inv*'], limit: 1 } },
    { name: 'rest', concurrency: 5, select: { injectedBy: 'source' } },
  ],
});

describe('the start gate', () => {
  it('names every wave, the label change, preflight and backup, and the equivalent kubectl', () => {
    const s = startGateSummary({
      written: plan,
      plan,
      selection: undefined,
      preflight: { blocking: 0, warnings: 2 },
      backup: { location: '/backups/run-1', manifestDigest: 'ab'.repeat(32), objects: 12 },
      skippedPreflight: [],
    });
    expect(s).toEqual({
      title: 'Move 4 namespace(s) from default to istio-1-16-5',
      details: [
        'wave 1 "canary" (1 at a time): inventory',
        'wave 2 "rest" (2 at a time): payments, orders, frontend',
        'each namespace: set istio.io/rev=istio-1-16-5, usergroup=istio-1-16-5; remove istio-injection; rollout-restart workloads with a sidecar',
        'preflight: 2 warning(s); backup: /backups/run-1',
      ],
      commands: [
        'kubectl label namespace NS istio.io/rev=istio-1-16-5 usergroup=istio-1-16-5 istio-injection- --overwrite',
        'kubectl rollout restart deployment,statefulset,daemonset -n NS',
      ],
    });
  });

  it('shows how select waves resolved, what no wave takes, a skipped preflight and the analysis queries', () => {
    const selection: WaveSelection = {
      waves: [
        { name: 'canary', namespaces: ['inventory'] },
        { name: 'rest', namespaces: [] },
      ],
      unmatched: { count: 3, names: ['legacy-a'] },
    };
    const s = startGateSummary({
      written: selecting,
      plan: resolvedPlan(selecting, selection),
      selection,
      preflight: undefined,
      backup: undefined,
      skippedPreflight: ['preflight: skipped by bob'],
    });
    expect(s.title).toBe('Move 1 namespace(s) from default to istio-1-16-5');
    expect(s.details).toEqual([
      'wave 1 "canary" (1 at a time; select: names inv*; at most 1): inventory',
      'wave 2 "rest" (5 at a time; select: injected by the source): no namespace matched: this wave moves nothing',
      'not in any wave, still injected by the source (no sidecar for their new pods after the decommission): legacy-a and 2 more',
      'each namespace: set istio.io/rev=istio-1-16-5, usergroup=istio-1-16-5; remove istio-injection; rollout-restart workloads with a sidecar',
      'preflight: 0 warning(s); backup: skipped',
      'preflight: skipped by bob',
    ]);
  });

  it.each([
    ['a wave by name', plan.waves[1]!, ['a', 'b'], 1, 'wave 2 "rest" (2 at a time): a, b'],
    [
      'a select wave that matched',
      selecting.waves[0]!,
      ['inventory'],
      0,
      'wave 1 "canary" (1 at a time; select: names inv*; at most 1): inventory',
    ],
  ])('waveLine: %s', (_what, written, names, i, line) => {
    expect(waveLine(written, names, i)).toBe(line);
  });

  it.each([
    [{ count: 2, names: ['a', 'b'] }, 'a, b'],
    [{ count: 25, names: ['a'] }, 'a and 24 more'],
  ])('unmatchedLine(%j) lists the names and how many more', (u, tail) => {
    expect(unmatchedLine(u)).toMatch(new RegExp(`: ${tail}$`));
  });

  it('analysisLines: none without an analysis block; the PromQL the activities send with one', () => {
    expect(analysisLines(plan)).toEqual([]);
    const [ns, drain] = analysisLines(withAnalysis);
    expect(ns).toMatch(
      /^traffic analysis via http:\/\/prom:9090: each namespace's error rate after its move ≤ its baseline \+ 1\.00%, e\.g\. /,
    );
    expect(ns).toContain('destination_service_namespace="NS"');
    expect(drain).toMatch(/^before decommission: the old gateway at 0 req\/s for 120s: /);
    expect(drain).toContain('source_workload="istio-ingressgateway"');
  });
});

describe('preflight in the start gate', () => {
  const report = {
    blocking: 1,
    warnings: 1,
    findings: [
      { check: 'outbound-policy', status: 'block' as const, reason: 'REGISTRY_ONLY differs', fix: 'align the mesh config' },
      { check: 'root-ca', status: 'block' as const, reason: 'roots differ' },
      { check: 'scope', status: 'warn' as const, reason: 'wide' },
    ],
  };
  it('blockingLines: each blocking finding with its fix, warnings left out', () => {
    expect(blockingLines(report as never)).toEqual([
      'outbound-policy: REGISTRY_ONLY differs (fix: align the mesh config)',
      'root-ca: roots differ',
    ]);
  });

  const rec = (over: Partial<StepRecord>): StepRecord => ({
    id: 'preflight',
    title: 'Preflight checks',
    state: 'skipped',
    attempts: 2,
    ...over,
  });
  it.each([
    [
      'the blocking checks of the attempt that was skipped',
      rec({ skippedBy: { by: 'bob', at: '2026-01-01T00:00:00Z', reason: 'known' } }),
      { blocking: 1, warnings: 0, blocks: ['root-ca: roots differ'], attempt: 2 },
      'preflight: 1 blocking check(s) skipped by bob at 2026-01-01T00:00:00Z, reason: "known": root-ca: roots differ',
    ],
    [
      'the error when the findings are from another attempt',
      rec({ lastError: 'API server unreachable' }),
      { blocking: 1, warnings: 0, blocks: ['root-ca: roots differ'], attempt: 1 },
      'preflight: skipped by an operator; it had failed: API server unreachable',
    ],
    ['no findings and no error', rec({}), undefined, 'preflight: skipped by an operator; it had failed: unknown error'],
  ])('skippedPreflightLine names %s', (_what, r, results, line) => {
    expect(skippedPreflightLine(r, results)).toBe(line);
  });
});

describe('step lines', () => {
  it.each([
    [
      'traffic, the worst error rate and the old gateway',
      {
        namespaces: { a: { requestRate: 1.5, errorRatio: 0.02 }, b: { requestRate: 0.5, errorRatio: 0.1 } },
        quiet: ['c'],
        sourceGateway: 3,
      },
      '2 namespace(s) with traffic (2.00 req/s), 1 without; highest error rate 10.00% (b); old gateway 3.00 req/s',
    ],
    [
      'no traffic at all',
      { namespaces: {}, quiet: ['a'] },
      '0 namespace(s) with traffic (0.00 req/s), 1 without; no errors; old gateway not measured',
    ],
  ])('baselineSummary: %s', (_what, b, line) => {
    expect(baselineSummary({ at: 't', window: '5m', queries: [], ...b } as unknown as TrafficBaseline)).toBe(line);
  });

  it('resolvedWavesSummary lists small waves and samples big ones', () => {
    const many = Array.from({ length: 12 }, (_, i) => `ns-${i}`);
    expect(
      resolvedWavesSummary({
        waves: [
          { name: 'canary', namespaces: ['a'] },
          { name: 'empty', namespaces: [] },
          { name: 'big', namespaces: many },
        ],
      }),
    ).toBe('canary: a; empty: none; big: 12 namespaces (ns-0, ns-1, ns-2, …)');
  });

  it('nothingSelectedError names every wave and how it selects', () => {
    expect(nothingSelectedError(selecting)).toBe(
      'no wave selected any namespace ("canary": names inv*; at most 1; "rest": injected by the source); label the namespaces or change the plan, then retry',
    );
  });
});

describe('the later gates', () => {
  it('the DNS cutover gate: the records, the provider and TTL, how many namespaces moved', () => {
    expect(dnsCutoverGateSummary(plan, plan.dns!, 3, 4)).toEqual({
      title: 'Point DNS at the new gateway istio-1-16-5/istio-ingressgateway',
      details: [
        "A shop.y7test.com → the new gateway's external address",
        'provider: webhook; then a wait of one TTL (1s) with both gateways serving',
        'namespaces migrated: 3/4',
      ],
    });
  });

  it('a manual DNS gate lists each record with the address', () => {
    const change = { provider: 'manual', changed: false, address: '10.0.0.9', records: ['shop.y7test.com', 'api.y7test.com'] };
    expect(manualDnsGateSummary('Change them', change as never)).toEqual({
      title: 'Change them',
      details: ['shop.y7test.com → 10.0.0.9', 'api.y7test.com → 10.0.0.9'],
    });
  });

  it.each([
    [
      'preflight scope, no analysis',
      plan,
      'webhooks and istiod',
      undefined,
      ['webhooks and istiod', 'each object is backed up before it is deleted'],
    ],
    [
      'the default scope, and the drain with an analysis',
      withAnalysis,
      undefined,
      '0 req/s for 120s',
      [
        "the source revision's webhook configurations, istiod and gateway Deployments/Services; never CRDs",
        'each object is backed up before it is deleted',
        'old gateway: 0 req/s for 120s',
      ],
    ],
    [
      'a drain step that was skipped',
      withAnalysis,
      'x',
      undefined,
      ['x', 'each object is backed up before it is deleted', 'old gateway: drain not measured (step skipped)'],
    ],
  ])('the decommission gate: %s', (_what, p, scope, drained, details) => {
    const s = decommissionGateSummary(p, scope, drained);
    expect(s.title).toBe('Remove the old control plane default (istio-system) — cannot be rolled back');
    expect(s.details).toEqual(details);
  });

  it("a namespace's gate: its label change, the restart and what is verified, in kubectl too", () => {
    expect(namespaceGateSummary(plan, 'orders')).toEqual({
      title: 'Move namespace orders to istio-1-16-5',
      details: [
        'labels set: istio.io/rev=istio-1-16-5, usergroup=istio-1-16-5; removed: istio-injection',
        `workloads with a sidecar are rollout-restarted, at most ${plan.restart.maxConcurrent} at once`,
        'then verified: proxies SYNCED on istio-1-16-5, 0 traffic probe(s)',
      ],
      commands: [
        'kubectl label namespace orders istio.io/rev=istio-1-16-5 usergroup=istio-1-16-5 istio-injection- --overwrite',
        'kubectl rollout restart deployment,statefulset,daemonset -n orders',
      ],
    });
  });
});
