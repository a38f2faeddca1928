import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { describeFailure, probeJob, probeJobName, probeOutcome, probesFor } from '../../activities/verify/probes.js';

const probe = { from: 'orders', url: 'http://payments.payments.svc.cluster.local:8080/healthz', expectStatus: 200 };
const pod = (state: NonNullable<V1Pod['status']>['containerStatuses']): V1Pod => ({
  metadata: { name: 'p-1' },
  status: { phase: 'Running', containerStatuses: state },
});
const term = (message: string | undefined, exitCode = 0) => [
  {
    name: 'probe',
    image: 'c',
    imageID: '',
    ready: false,
    restartCount: 0,
    state: { terminated: { exitCode, ...(message !== undefined ? { message } : {}) } },
  },
];

describe('probe Job', () => {
  it('name is deterministic per run and probe, and a valid DNS label', () => {
    const n = probeJobName('run-1', probe);
    expect(n).toBe(probeJobName('run-1', probe));
    expect(n).not.toBe(probeJobName('run-2', probe));
    expect(n).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  });
  it('has the probe label, container, URL env, termination message and no retries', () => {
    const j = probeJob('meshmove-probe-x', 'orders', probe, 'curlimages/curl:8.10.1', 180);
    expect(j.metadata?.labels?.['meshmove.dev/probe']).toBe('true');
    expect(j.spec?.backoffLimit).toBe(0);
    const c = j.spec?.template.spec?.containers[0];
    expect(c?.name).toBe('probe');
    expect(c?.env).toEqual([{ name: 'URL', value: probe.url }]);
    expect(c?.command?.[2]).toContain('/dev/termination-log');
    expect(c?.command?.[2]).toContain('http://127.0.0.1:15020/quitquitquit');
    expect(j.spec?.template.spec?.restartPolicy).toBe('Never');
    expect(j.spec?.template.metadata?.labels?.['meshmove.dev/probe']).toBe('true');
  });
});

describe('probeOutcome', () => {
  const cases: Array<[string, V1Pod | undefined, object]> = [
    ['no pod', undefined, { done: false }],
    [
      'still running',
      pod([{ name: 'probe', image: 'c', imageID: '', ready: true, restartCount: 0, state: { running: {} } }]),
      { done: false },
    ],
    ['200', pod(term('200')), { done: true, status: 200 }],
    ['503 with whitespace', pod(term('503\n')), { done: true, status: 503 }],
    ['000: no HTTP answer', pod(term('000')), { done: true, status: 0 }],
    ['no message', pod(term(undefined, 1)), { done: true, status: undefined }],
  ];
  for (const [name, p, want] of cases) it(name, () => expect(probeOutcome(p)).toMatchObject(want));
});

describe('probes and messages', () => {
  it("selects this namespace's probes", () => {
    const plan = {
      verification: {
        crossNamespace: [probe, { ...probe, from: 'frontend' }],
        gateway: [{ host: 'a', path: '/', namespace: 'orders', expectStatus: 200 }],
        metricsWindow: 1,
      },
    };
    const r = probesFor(plan, 'orders');
    expect(r.cross).toHaveLength(1);
    expect(r.gateway).toHaveLength(1);
  });
  it('failure lines', () => {
    expect(describeFailure('x', 503, 200)).toBe('x: got 503, expected 200');
    expect(describeFailure('x', 0, 200, 'ECONNREFUSED')).toBe('x: got no HTTP answer, expected 200 (ECONNREFUSED)');
  });
});
