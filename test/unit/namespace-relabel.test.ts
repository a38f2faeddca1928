// relabelNamespace's conditional patch: a concurrent writer's 409 makes it re-read and decide again
// (with the new resourceVersion), never patch blindly; a missing namespace fails for good.
import type { V1Namespace } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { partialKubeAccess, KubeErrorType } from '../../activities/kube/index.js';
import { relabelNamespace } from '../../activities/namespace/relabel.js';
import { createActivities } from '../../activities/index.js';
import type { NamespaceRef } from '../../activities/contract.js';
import type { Plan } from '../../plan/schema.js';

const plan = {
  target: {
    revision: 'new',
    istiodNamespace: 'istio-new',
    discoveryLabels: { usergroup: 'new' },
    gateway: { namespace: 'g', service: 'g', selector: { a: 'b' } },
  },
} as unknown as Plan;

describe('relabelNamespace against a fake API', () => {
  it('re-reads after a 409 and patches with the fresh resourceVersion', async () => {
    const versions: V1Namespace[] = [
      { metadata: { name: 'orders', resourceVersion: '1', labels: { 'istio-injection': 'enabled' } } },
      // Someone added a label between our read and our patch.
      { metadata: { name: 'orders', resourceVersion: '2', labels: { 'istio-injection': 'enabled', team: 'shop' } } },
    ];
    let reads = 0;
    const patches: Array<{ resourceVersion?: string }> = [];
    const kube = partialKubeAccess({
      getNamespace: () => Promise.resolve(versions[Math.min(reads++, versions.length - 1)]),
      patchNamespace: (_name, patch) => {
        const meta = (patch as { metadata: { resourceVersion?: string } }).metadata;
        patches.push({ resourceVersion: meta.resourceVersion });
        if (meta.resourceVersion === '1')
          return Promise.reject(ApplicationFailure.create({ type: KubeErrorType.conflict, message: 'conflict' }));
        return Promise.resolve({});
      },
    });
    const r = await relabelNamespace({ kube }, { plan, migrationId: 'run1', namespace: 'orders' });
    expect(r).toEqual({ changed: true, previousLabels: { 'istio-injection': 'enabled' } });
    expect(patches).toEqual([{ resourceVersion: '1' }, { resourceVersion: '2' }]);
    expect(reads).toBe(2);
  });

  it('a namespace that does not exist is a non-retryable KubeNotFound', async () => {
    const kube = partialKubeAccess({ getNamespace: () => Promise.resolve(undefined) });
    const err = (await relabelNamespace({ kube }, { plan, migrationId: 'run1', namespace: 'nope' }).catch(
      (e: unknown) => e,
    )) as ApplicationFailure;
    expect(err.type).toBe(KubeErrorType.notFound);
    expect(err.nonRetryable).toBe(true);
  });

  it("an activity task scheduled before the rename (its input says runId) records the same migration's labels", async () => {
    const patches: unknown[] = [];
    const kube = partialKubeAccess({
      getNamespace: () => Promise.resolve({ metadata: { name: 'orders', resourceVersion: '1', labels: { 'istio-injection': 'enabled' } } }),
      patchNamespace: (_name, patch) => {
        patches.push(patch);
        return Promise.resolve({});
      },
    });
    const acts = createActivities({ kube });
    const legacy = { plan: { ...plan, cluster: {} }, runId: 'shop-run-1', namespace: 'orders' } as unknown as NamespaceRef;
    await acts.relabelNamespace(legacy);
    const annotations = (patches[0] as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
    expect(Object.keys(JSON.parse(Object.values(annotations)[0]!) as object)).toEqual(['shop-run-1']);
  });
});
