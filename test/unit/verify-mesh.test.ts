// verifyMesh with a fake KubeAccess (canned syncz and /metrics): the window is kept across a resumed
// attempt and counters are compared per istiod pod. (Traffic through Prometheus is the analysis
// steps' job: test/unit/analysis-*.test.ts and the e2e suite.)
import type { V1Pod } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { partialKubeAccess } from '../../activities/kube/index.js';
import { verifyMesh } from '../../activities/verify/index.js';
import type { Plan } from '../../plan/schema.js';
import type { MeshVerification } from '../../activities/contract.js';

const plan = {
  source: {
    revision: 'default',
    istiodNamespace: 'istio-system',
    gateway: { namespace: 'istio-system', service: 'istio-ingressgateway', selector: { istio: 'ingressgateway' } },
  },
  target: {
    revision: 'new',
    istiodNamespace: 'istio-new',
    discoveryLabels: { usergroup: 'new' },
    gateway: { namespace: 'istio-new', service: 'gw', selector: { a: 'b' } },
  },
  waves: [{ name: 'w', concurrency: 1, namespaces: ['a', 'b'] }],
  verification: { crossNamespace: [], gateway: [], metricsWindow: 200 },
} as unknown as Plan;

const pod = (name: string, rev: string): V1Pod => ({
  metadata: { name, annotations: { 'sidecar.istio.io/status': JSON.stringify({ revision: rev }) } },
  status: { phase: 'Running' },
});
const synced = (proxy: string) => ({ proxy, cluster_sent: '1', cluster_acked: '1' });

function fakeKube(metricsReads: string[]) {
  let reads = 0;
  return partialKubeAccess({
    listPods: (ns) => Promise.resolve(ns === 'a' ? [pod('a-1', 'new')] : [pod('b-1', 'new'), pod('b-2', 'default')]),
    readIstiodDebugAll: (rev, _ns, path) => {
      if (path === '/debug/syncz')
        return Promise.resolve([
          { pod: `istiod-${rev}-1`, body: JSON.stringify(rev === 'new' ? [synced('a-1.a'), synced('b-1.b')] : [synced('b-2.b')]) },
        ]);
      const body = metricsReads[Math.min(reads, metricsReads.length - 1)]!;
      reads++;
      return Promise.resolve([{ pod: 'istiod-new-1', body }]);
    },
  });
}

describe('verifyMesh', () => {
  it('counts proxies per side, compares error counters a window apart', async () => {
    const kube = fakeKube([
      'pilot_xds_pushes{type="cds_senderr"} 3\npilot_total_xds_rejects{type="lds"} 1\n',
      'pilot_xds_pushes{type="cds_senderr"} 5\npilot_total_xds_rejects{type="lds"} 1\n',
    ]);
    const started = Date.now();
    const r: MeshVerification = await new MockActivityEnvironment().run(() =>
      verifyMesh({ kube, tuning: { pollMs: 50 } }, { plan, migrationId: 'r' }),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(r).toMatchObject({ namespaces: 2, onTarget: 2, onSource: 1 });
    expect(r.errorIncreases).toEqual(['pilot_xds_pushes{type="cds_senderr"} 3 -> 5']);
    const notes = r.notes.join('\n');
    expect(notes).toContain("pilot_xds_push_errors_total (in the field report's checklist) does not exist in Istio");
    expect(notes).toContain('b/b-2: sidecar revision default');
    expect(notes).toContain('no analysis in the plan');
  });

  it('a resumed attempt keeps the first read and its window', async () => {
    const kube = fakeKube(['pilot_total_xds_internal_errors 9\n']);
    const firstAt = Date.now() - 10_000;
    const env = new MockActivityEnvironment({
      heartbeatDetails: { phase: 'metrics-window', firstAt, first: { 'istiod-new-1': { pilot_total_xds_internal_errors: 4 } } },
    });
    const started = Date.now();
    const r: MeshVerification = await env.run(() => verifyMesh({ kube, tuning: { pollMs: 50 } }, { plan, migrationId: 'r' }));
    // The window had already passed: no new wait, and the comparison is against the earlier read.
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(r.errorIncreases).toEqual(['pilot_total_xds_internal_errors 4 -> 9']);
    expect(r.notes.join('\n')).toContain('no analysis in the plan');
  });
});
