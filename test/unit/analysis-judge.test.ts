// The traffic analysis' decisions and queries (pure): only a measured number can pass, an empty
// answer or NaN never does; the PromQL is what Prometheus is asked (checked against a real one in
// test/e2e/traffic-analysis.test.ts).
import { describe, expect, it } from 'vitest';
import { drained, judgeNamespace, judgeShift, nextDrainState, type ShiftReading } from '../../activities/analysis/judge.js';
import { describeWaitProgress } from '../../activities/analysis/progress.js';
import { errorRatioByNamespace, gatewayRequestRate, namespaceErrorRatio, promDuration } from '../../mesh/traffic-queries.js';

describe('judgeNamespace', () => {
  const base = { namespace: 'orders', maxIncrease: 0.01, window: '60s', query: 'Q' };
  const cases: Array<[string, number | undefined, number | undefined, boolean, RegExp]> = [
    ['no errors, none before', 0, 0, true, /error rate 0\.00% \(baseline 0\.00%, limit 1\.00%\)/],
    ['within the margin', 0.019, 0.01, true, /limit 2\.00%/],
    ['above the margin', 0.021, 0.01, false, /error rate 2\.10% over the last 60s is above its baseline 1\.00% \+ 1\.00% \(query: Q\)/],
    ['no baseline compares with 0%', 0.02, undefined, false, /no requests in the baseline, so 0%/],
    ['empty answer never passes', undefined, 0, false, /no requests measured .*answered empty \(no series\) to Q/],
    ['NaN (requests stopped) never passes', NaN, 0, false, /answered NaN/],
  ];
  for (const [name, errorRatio, baselineErrorRatio, ok, text] of cases) {
    it(name, () => {
      const v = judgeNamespace({ ...base, errorRatio, baselineErrorRatio });
      expect(v.ok).toBe(ok);
      expect(v.ok ? v.summary : v.reason).toMatch(text);
    });
  }
});

describe('judgeShift', () => {
  const cases: Array<[string, ShiftReading, boolean, RegExp]> = [
    ['new carries, old fell', { target: 5, source: 1, sourceBaseline: 6 }, true, /new gateway 5\.000 req\/s, old gateway 1\.000 req\/s/],
    ['new carries, old at 0', { target: 5, source: 0, sourceBaseline: 6 }, true, /old gateway 0\.000/],
    ['new carries nothing yet', { target: 0, source: 6, sourceBaseline: 6 }, false, /new gateway carries no requests yet/],
    ['new not measured', { target: undefined, source: 1, sourceBaseline: 6 }, false, /empty \(no series\)/],
    ['old did not fall', { target: 1, source: 6, sourceBaseline: 6 }, false, /still carries 6\.000 req\/s, not less than its baseline/],
    ['old series vanished after having traffic', { target: 3, source: undefined, sourceBaseline: 6 }, false, /not measured any more/],
    ['old never had traffic', { target: 3, source: undefined, sourceBaseline: undefined }, true, /had no requests before either/],
  ];
  for (const [name, reading, ok, text] of cases) {
    it(name, () => {
      const v = judgeShift(reading);
      expect(v.ok).toBe(ok);
      expect(v.ok ? v.summary : v.reason).toMatch(text);
    });
  }
});

describe('drain', () => {
  it('needs a run of measured zeros as long as the window; traffic or an empty answer restarts it', () => {
    let s = nextDrainState({}, 0, 1_000);
    expect(s.zeroSince).toBe(1_000);
    s = nextDrainState(s, 0, 3_000);
    expect(drained(s, 3_000, 5_000)).toBe(false);
    s = nextDrainState(s, 0.2, 4_000);
    expect(s).toEqual({ last: 0.2 });
    s = nextDrainState(s, 0, 5_000);
    s = nextDrainState(s, undefined, 8_000);
    expect(s).toEqual({});
    s = nextDrainState(s, 0, 9_000);
    expect(drained(s, 13_999, 5_000)).toBe(false);
    expect(drained(s, 14_000, 5_000)).toBe(true);
  });
});

describe('queries', () => {
  it('namespace error ratio: 5xx over all, with the errors standing in as 0 when there are none', () => {
    expect(namespaceErrorRatio('orders', 60_000)).toBe(
      '(sum (rate(istio_requests_total{reporter="destination",destination_service_namespace="orders",response_code=~"5.."}[60s])) or sum (rate(istio_requests_total{reporter="destination",destination_service_namespace="orders"}[60s])) * 0) / sum (rate(istio_requests_total{reporter="destination",destination_service_namespace="orders"}[60s]))',
    );
    expect(errorRatioByNamespace(300_000)).toContain(
      'sum by (destination_service_namespace) (rate(istio_requests_total{reporter="destination",response_code=~"5.."}[300s]))',
    );
  });
  it('gateway rate: what its proxy reports as the client', () => {
    expect(gatewayRequestRate({ namespace: 'istio-system', workload: 'istio-ingressgateway' }, 2_500)).toBe(
      'sum(rate(istio_requests_total{reporter="source",source_workload="istio-ingressgateway",source_workload_namespace="istio-system"}[3s]))',
    );
    expect(promDuration(200)).toBe('1s');
  });
});

describe('describeWaitProgress (what `meshmove status` shows while a wait runs)', () => {
  const now = 100_000;
  const cases: Array<[string, unknown, string | undefined]> = [
    [
      'drain, traffic still there',
      { phase: 'gateway-drain', deadline: 160_000, last: 2, window: 120_000 },
      'old gateway still at 2.000 req/s; gives up in 60s',
    ],
    [
      'drain, zeros running',
      { phase: 'gateway-drain', deadline: 160_000, zeroSince: 70_000, last: 0, window: 120_000 },
      'old gateway at 0 req/s for 30s of 120s; gives up in 60s',
    ],
    ['drain, nothing measured', { phase: 'gateway-drain', deadline: 90_000 }, 'old gateway not measured yet; gives up in 1s'],
    [
      'shift',
      { phase: 'gateway-shift', deadline: 130_000, last: 'the new gateway carries no requests yet (empty (no series))' },
      'the new gateway carries no requests yet (empty (no series)); gives up in 30s',
    ],
    ['namespace window', { phase: 'namespace-window', since: 95_000 }, 'measuring the error rate after the move for 5s'],
    ['another activity', { phase: 'metrics-window', firstAt: 1 }, undefined],
    ['no details', null, undefined],
  ];
  for (const [name, details, line] of cases) it(name, () => expect(describeWaitProgress(details, now)).toBe(line));
});
