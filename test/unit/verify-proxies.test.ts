import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { istiodNamespaceOf, judgeProxies } from '../../activities/verify/proxies.js';
import type { SynczEntry } from '../../mesh/syncz.js';

const pod = (name: string, rev: string | null, o: { phase?: string; probe?: boolean; deleting?: boolean } = {}): V1Pod => ({
  metadata: {
    name,
    labels: o.probe ? { 'meshmove.dev/probe': 'true' } : {},
    annotations: rev === null ? {} : { 'sidecar.istio.io/status': JSON.stringify({ revision: rev }) },
    deletionTimestamp: o.deleting ? new Date() : undefined,
  },
  status: { phase: o.phase ?? 'Running' },
});
const synced = (p: string): SynczEntry => ({
  proxy: `${p}.orders`,
  cluster_sent: 'n1',
  cluster_acked: 'n1',
  listener_sent: 'n2',
  listener_acked: 'n2',
});
const stale = (p: string): SynczEntry => ({
  proxy: `${p}.orders`,
  cluster_sent: 'n1',
  cluster_acked: '',
  listener_sent: 'n2',
  listener_acked: 'n2',
});

describe('judgeProxies', () => {
  it('counts SYNCED proxies on the revision', () => {
    expect(judgeProxies('orders', [pod('a', 'new'), pod('b', 'new')], [synced('a'), synced('b')], 'new')).toEqual({
      revision: 'new',
      pods: 2,
      synced: 2,
      problems: [],
    });
  });
  const problemCases: Array<[string, V1Pod[], SynczEntry[], RegExp]> = [
    ['pod on the other revision', [pod('a', 'default')], [], /a: sidecar revision default, expected new/],
    ['pod missing from syncz', [pod('a', 'new')], [], /a: not connected to istiod-new/],
    ['STALE never acknowledged', [pod('a', 'new')], [stale('a')], /a: STALE \(cluster, never acknowledged\)/],
    ['same pod name in another namespace does not count', [pod('a', 'new')], [{ ...synced('a'), proxy: 'a.payments' }], /not connected/],
  ];
  for (const [name, pods, syncz, re] of problemCases) {
    it(name, () => {
      const r = judgeProxies('orders', pods, syncz, 'new');
      expect(r.synced).toBe(0);
      expect(r.problems.join('\n')).toMatch(re);
    });
  }
  it('ignores pods without sidecar, finished pods, terminating pods and probes', () => {
    const pods = [
      pod('plain', null),
      pod('done', 'default', { phase: 'Succeeded' }),
      pod('bye', 'default', { deleting: true }),
      pod('probe', 'default', { probe: true }),
    ];
    expect(judgeProxies('orders', pods, [], 'new')).toEqual({ revision: 'new', pods: 0, synced: 0, problems: [] });
  });
  it('lists at most 20 problems', () => {
    const pods = Array.from({ length: 25 }, (_, i) => pod(`p${i}`, 'default'));
    const r = judgeProxies('orders', pods, [], 'new');
    expect(r.problems).toHaveLength(21);
    expect(r.problems[20]).toBe('... and 5 more');
  });
});

describe('istiodNamespaceOf', () => {
  const plan = {
    source: { revision: 'default', istiodNamespace: 'istio-system' },
    target: { revision: 'new', istiodNamespace: 'istio-new' },
  } as Parameters<typeof istiodNamespaceOf>[0];
  it('maps both revisions and refuses others', () => {
    expect(istiodNamespaceOf(plan, 'new')).toBe('istio-new');
    expect(istiodNamespaceOf(plan, 'default')).toBe('istio-system');
    expect(() => istiodNamespaceOf(plan, 'x')).toThrow(/neither/);
  });
});
