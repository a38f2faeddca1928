import type { V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  decideRestart,
  kubectlRolloutStatus,
  podsOf,
  restartBlocker,
  restartPatch,
  RESTART_KEY_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  rolloutState,
} from '../../activities/namespace/rollout.js';
import { describePod } from '../../activities/shared/pods.js';

const sidecar = (rev: string) => ({ 'sidecar.istio.io/status': JSON.stringify({ containers: ['istio-proxy'], revision: rev }) });

function dep(
  status: V1Deployment['status'],
  o: { generation?: number; replicas?: number; key?: string; paused?: boolean } = {},
): V1Deployment {
  return {
    metadata: { name: 'web', generation: o.generation ?? 2 },
    spec: {
      replicas: o.replicas ?? 2,
      paused: o.paused,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { annotations: o.key ? { [RESTART_KEY_ANNOTATION]: o.key } : {} } },
    },
    status,
  };
}

function pod(
  name: string,
  o: { app?: string; rev?: string; key?: string; owner?: { kind: string; name: string }; deleting?: boolean; phase?: string } = {},
): V1Pod {
  return {
    metadata: {
      name,
      labels: { app: o.app ?? 'web' },
      annotations: { ...(o.rev ? sidecar(o.rev) : {}), ...(o.key ? { [RESTART_KEY_ANNOTATION]: o.key } : {}) },
      ownerReferences: o.owner
        ? [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: 'u', controller: true }]
        : undefined,
      deletionTimestamp: o.deleting ? new Date() : undefined,
    },
    status: { phase: o.phase ?? 'Running' },
  };
}

describe('kubectlRolloutStatus (kubectl rollout status viewers)', () => {
  const deploymentCases: Array<[string, V1Deployment, boolean, RegExp]> = [
    ['spec not observed', dep({ observedGeneration: 1 }), false, /spec update to be observed/],
    [
      'updated < replicas',
      dep({ observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 2 }),
      false,
      /1 out of 2 new replicas/,
    ],
    [
      'old replicas pending termination',
      dep({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 }),
      false,
      /1 old replicas/,
    ],
    [
      'updated not available',
      dep({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 }),
      false,
      /1 of 2 updated replicas are available/,
    ],
    [
      'complete',
      dep({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 }),
      true,
      /successfully/,
    ],
    ['scaled to zero', dep({ observedGeneration: 2 }, { replicas: 0 }), true, /successfully/],
  ];
  for (const [name, d, done, msg] of deploymentCases) {
    it(`Deployment: ${name}`, () => {
      const s = kubectlRolloutStatus('Deployment', d);
      expect(s.done).toBe(done);
      expect(s.message).toMatch(msg);
    });
  }

  it('Deployment: progress deadline exceeded is a failure, not a wait', () => {
    const s = kubectlRolloutStatus(
      'Deployment',
      dep({ observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }),
    );
    expect(s).toMatchObject({ done: false, failed: true });
  });

  const sts = (status: V1StatefulSet['status'], replicas = 2): V1StatefulSet => ({
    metadata: { name: 'db', generation: 3 },
    spec: { replicas, serviceName: 'db', selector: {}, template: {} },
    status,
  });
  const stsCases: Array<[string, V1StatefulSet, boolean]> = [
    ['observedGeneration 0', sts({ replicas: 2, observedGeneration: 0 }), false],
    [
      'not ready',
      sts({ replicas: 2, observedGeneration: 3, readyReplicas: 1, updatedReplicas: 2, currentRevision: 'a', updateRevision: 'a' }),
      false,
    ],
    [
      'revisions differ',
      sts({ replicas: 2, observedGeneration: 3, readyReplicas: 2, updatedReplicas: 2, currentRevision: 'a', updateRevision: 'b' }),
      false,
    ],
    [
      'complete',
      sts({ replicas: 2, observedGeneration: 3, readyReplicas: 2, updatedReplicas: 2, currentRevision: 'b', updateRevision: 'b' }),
      true,
    ],
  ];
  for (const [name, s, done] of stsCases) it(`StatefulSet: ${name}`, () => expect(kubectlRolloutStatus('StatefulSet', s).done).toBe(done));

  const ds = (status: Partial<NonNullable<V1DaemonSet['status']>>): V1DaemonSet => ({
    metadata: { name: 'agent', generation: 4 },
    status: { currentNumberScheduled: 3, desiredNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3, ...status },
  });
  const dsCases: Array<[string, V1DaemonSet, boolean]> = [
    ['not observed', ds({ observedGeneration: 3 }), false],
    ['not all updated', ds({ observedGeneration: 4, updatedNumberScheduled: 2, numberAvailable: 3 }), false],
    ['not all available', ds({ observedGeneration: 4, updatedNumberScheduled: 3, numberAvailable: 2 }), false],
    ['complete', ds({ observedGeneration: 4, updatedNumberScheduled: 3, numberAvailable: 3 }), true],
  ];
  for (const [name, d, done] of dsCases) it(`DaemonSet: ${name}`, () => expect(kubectlRolloutStatus('DaemonSet', d).done).toBe(done));
});

describe('rolloutState adds "no old pods"', () => {
  const complete = dep({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }, { key: 'k1' });
  it('an old pod still running keeps it waiting', () => {
    const s = rolloutState(
      'Deployment',
      complete,
      [
        pod('web-a-1', { key: 'k1', owner: { kind: 'ReplicaSet', name: 'web-a' } }),
        pod('web-b-1', { owner: { kind: 'ReplicaSet', name: 'web-b' } }),
      ],
      'k1',
    );
    expect(s.done).toBe(false);
    expect(s.message).toMatch(/old pod/);
  });
  it('terminating old pods do not hold it', () => {
    const s = rolloutState('Deployment', complete, [pod('web-a-1', { key: 'k1' }), pod('web-b-1', { deleting: true })], 'k1');
    expect(s.done).toBe(true);
  });
});

describe('podsOf', () => {
  const d = dep({}, {});
  it('selector and owner both decide', () => {
    const pods = [
      pod('web-abc-1', { owner: { kind: 'ReplicaSet', name: 'web-abc' } }),
      pod('webby-1', { owner: { kind: 'ReplicaSet', name: 'webby-x' } }),
      pod('other', { app: 'other' }),
      pod('bare'),
      pod('sts-0', { owner: { kind: 'StatefulSet', name: 'web' } }),
    ];
    expect(podsOf('Deployment', d, pods).map((p) => p.metadata?.name)).toEqual(['web-abc-1', 'bare']);
  });
});

describe('decideRestart', () => {
  const d = dep({}, {});
  const cases: Array<[string, V1Deployment, V1Pod[], string]> = [
    ['pods on the source sidecar → restart', d, [pod('w1', { rev: 'default' })], 'restart'],
    ['already restarted for this key → wait', dep({}, { key: 'k1' }), [pod('w1', { rev: 'default' })], 'wait'],
    ['restarted for another key → restart', dep({}, { key: 'k0' }), [pod('w1', { rev: 'default' })], 'restart'],
    ['no sidecar → skip', d, [pod('w1')], 'skip'],
    ['no pods (scaled to 0) → skip', d, [], 'skip'],
    ['all on the expected revision → skip', d, [pod('w1', { rev: 'istio-1-16-5' })], 'skip'],
    ['mixed revisions → restart', d, [pod('w1', { rev: 'istio-1-16-5' }), pod('w2', { rev: 'default' })], 'restart'],
  ];
  for (const [name, w, pods, action] of cases)
    it(name, () => expect(decideRestart('Deployment', w, pods, 'k1', 'istio-1-16-5').action).toBe(action));
});

describe('restartBlocker', () => {
  it('paused deployment', () => expect(restartBlocker('Deployment', dep({}, { paused: true }))).toMatch(/paused/));
  it('OnDelete statefulset', () =>
    expect(
      restartBlocker('StatefulSet', {
        metadata: { name: 'db' },
        spec: { selector: {}, serviceName: 'db', template: {}, updateStrategy: { type: 'OnDelete' } },
      }),
    ).toMatch(/OnDelete/));
  it('partitioned statefulset', () =>
    expect(
      restartBlocker('StatefulSet', {
        metadata: { name: 'db' },
        spec: { selector: {}, serviceName: 'db', template: {}, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
      }),
    ).toMatch(/partition=2/));
  it('ordinary deployment', () => expect(restartBlocker('Deployment', dep({}))).toBeUndefined());
});

describe('restartPatch and describePod', () => {
  it('writes restartedAt as kubectl does (RFC 3339, seconds) and the key', () => {
    expect(restartPatch('k1', new Date('2026-04-15T10:00:00.123Z'))).toEqual({
      spec: {
        template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: '2026-04-15T10:00:00Z', [RESTART_KEY_ANNOTATION]: 'k1' } } },
      },
    });
  });
  it('says why a pod is stuck', () => {
    const p = pod('web-1', { phase: 'Pending' });
    p.status!.containerStatuses = [
      {
        name: 'app',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ImagePullBackOff', message: 'not found' } },
      },
    ];
    expect(describePod(p)).toBe('web-1 Pending: app: ImagePullBackOff (not found)');
  });
});
