// restartWorkloads against a watch that replays an object older than the restart's own patch, as
// kube-apiserver does when its watch cache lags (seen in CI on the lab, a loaded machine): the
// older resourceVersion must not replace the patched one, or the restart mistakes its predecessor's
// key for a newer step and stops as "superseded".
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { partialKubeAccess } from '../../activities/kube/index.js';
import type { KubeWatch, WatchEventType } from '../../activities/kube/types.js';
import { restartWorkloads } from '../../activities/namespace/restart.js';
import type { Plan } from '../../plan/schema.js';
import type { RestartResult } from '../../activities/contract.js';

const NS = 'inventory';
const KEY_ANNOTATION = 'meshmove.dev/restart-key';

function deployment(key: string, rv: number, generation: number, observed: number): V1Deployment {
  return {
    metadata: { name: 'inventory', namespace: NS, resourceVersion: String(rv), generation },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'inventory' } },
      template: { metadata: { labels: { app: 'inventory' }, annotations: { [KEY_ANNOTATION]: key } }, spec: { containers: [] } },
    },
    status: { observedGeneration: observed, replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1 },
  };
}

function pod(revision: string, key: string): V1Pod {
  return {
    metadata: {
      name: `inventory-${revision}`,
      namespace: NS,
      labels: { app: 'inventory' },
      annotations: { 'sidecar.istio.io/status': JSON.stringify({ revision }), [KEY_ANNOTATION]: key },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `inventory-${revision}`, uid: 'u', controller: true }],
    },
    status: { phase: 'Running' },
  };
}

describe('restartWorkloads with a lagging watch', () => {
  it('keeps its own patch over an older replayed object, and completes', { timeout: 20_000 }, async () => {
    let patched = false;
    const kube = partialKubeAccess({
      listWorkloads: (kind: string) =>
        Promise.resolve(
          kind === 'Deployment'
            ? [patched ? deployment('run/inventory/rollback', 12, 3, 2) : deployment('run/inventory/forward', 10, 2, 2)]
            : [],
        ),
      listPods: () => Promise.resolve([patched ? pod('default', 'run/inventory/rollback') : pod('istio-1-16-5', 'run/inventory/forward')]),
      patchWorkload: () => {
        patched = true;
        return Promise.resolve(deployment('run/inventory/rollback', 12, 3, 2));
      },
      watchWorkloads: (
        _kind: string,
        _ns: string,
        _opts: unknown,
        onEvent: (type: WatchEventType, w: V1Deployment) => void,
      ): Promise<KubeWatch> => {
        let stopped = false;
        // The watch cache replays the object as it was before the patch, then the controller's progress.
        setTimeout(() => !stopped && onEvent('ADDED', deployment('run/inventory/forward', 10, 2, 2)), 10);
        setTimeout(() => !stopped && onEvent('MODIFIED', deployment('run/inventory/rollback', 14, 3, 3)), 80);
        return Promise.resolve({ stop: () => void (stopped = true), ended: new Promise<unknown>(() => undefined) } as unknown as KubeWatch);
      },
    } as never);
    const plan = { restart: { timeout: 30_000, maxConcurrent: 3 } } as unknown as Plan;
    const r: RestartResult = await new MockActivityEnvironment().run(() =>
      restartWorkloads(
        { kube, tuning: { pollMs: 50 } },
        { plan, migrationId: 'run', namespace: NS, key: 'run/inventory/rollback', expectRevision: 'default' },
      ),
    );
    expect(r.workloads).toEqual(['Deployment/inventory']);
    expect(patched).toBe(true);
  });
});
