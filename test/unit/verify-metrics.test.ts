import { describe, expect, it } from 'vitest';
import { compareCounters, errorCounters, parsePrometheusText, seriesKey } from '../../activities/verify/metrics.js';

const METRICS = `# HELP pilot_xds_pushes Pilot build and send errors for lds, rds, cds and eds.
# TYPE pilot_xds_pushes counter
pilot_xds_pushes{type="cds"} 120
pilot_xds_pushes{type="cds_senderr"} 3
pilot_xds_pushes{type="eds_senderr"} 0
pilot_total_xds_rejects{type="type.googleapis.com/envoy.config.cluster.v3.Cluster"} 2
pilot_total_xds_internal_errors 1
pilot_xds{version="1.16.5"} 12
pilot_proxy_convergence_time_bucket{le="+Inf"} 40
weird{a="x\\"y",b="1"} 5 1712345678000
`;

describe('parsePrometheusText', () => {
  it('reads names, labels (with escapes), values and skips comments', () => {
    const s = parsePrometheusText(METRICS);
    expect(s).toHaveLength(8);
    expect(s[7]).toEqual({ name: 'weird', labels: { a: 'x"y', b: '1' }, value: 5 });
    expect(s.find((x) => x.name === 'pilot_proxy_convergence_time_bucket')!.labels.le).toBe('+Inf');
  });
  it('series keys sort labels', () => {
    expect(seriesKey({ name: 'm', labels: { b: '2', a: '1' } })).toBe('m{a="1",b="2"}');
    expect(seriesKey({ name: 'm', labels: {} })).toBe('m');
  });
});

describe('errorCounters: the metrics that exist (docs/istio-facts.md §8)', () => {
  it('keeps *_senderr pushes, rejects and internal errors; not ordinary pushes', () => {
    expect(errorCounters(METRICS)).toEqual({
      'pilot_xds_pushes{type="cds_senderr"}': 3,
      'pilot_xds_pushes{type="eds_senderr"}': 0,
      'pilot_total_xds_rejects{type="type.googleapis.com/envoy.config.cluster.v3.Cluster"}': 2,
      pilot_total_xds_internal_errors: 1,
    });
  });
  it('the runbook metric pilot_xds_push_errors_total is not looked for', () => {
    expect(errorCounters('pilot_xds_push_errors_total 9\n')).toEqual({});
  });
});

describe('compareCounters', () => {
  const cases: Array<[string, Record<string, number>, Record<string, number>, string[], string[]]> = [
    ['nothing changed', { a: 1 }, { a: 1 }, [], []],
    ['increase', { a: 3 }, { a: 5 }, ['a 3 -> 5'], []],
    ['new series counts from 0', {}, { b: 2 }, ['b 0 -> 2'], []],
    ['new series at 0 is no increase', {}, { b: 0 }, [], []],
    ['reset (istiod restarted)', { a: 5 }, { a: 1 }, [], ['a 5 -> 1']],
  ];
  for (const [name, before, after, inc, resets] of cases) {
    it(name, () => expect(compareCounters(before, after)).toEqual({ increases: inc, resets }));
  }
});
