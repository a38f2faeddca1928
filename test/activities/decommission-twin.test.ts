// Decommission against the twin: backs up, then deletes only the source revision's objects (CRDs
// and the target's objects untouched); a second run gives the same result; API faults on the
// deletes are retried without any object being deleted twice.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { runDecommission } from '../../activities/decommission/index.js';
import { readBackupObjects, verifyBackup } from '../../activities/backup/index.js';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { fieldReportPlan, startFieldReportTwin, type TwinHandle } from './preflight-twin-fixture.js';

let twin: TwinHandle | undefined;
afterEach(async () => {
  await twin?.close();
  twin = undefined;
});

const EXPECTED = [
  'MutatingWebhookConfiguration/istio-sidecar-injector',
  'Deployment/istio-system/istiod',
  'Deployment/istio-system/istio-ingressgateway',
  'Service/istio-system/istio-ingressgateway',
  'Service/istio-system/istiod',
];

async function clusterState(t: TwinHandle) {
  const k = t.kube;
  return {
    mwcs: (await k.listMutatingWebhookConfigurations()).map((m) => m.metadata?.name).sort(),
    crds: (await k.listCustomResourceDefinitions()).map((c) => c.metadata?.name).sort(),
    deployments: (await k.listWorkloads('Deployment', undefined)).map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`).sort(),
    services: (await k.listServices(undefined)).map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`).sort(),
  };
}

const ISTIO_VS = { group: 'networking.istio.io', version: 'v1beta1', plural: 'virtualservices' };

/** An Istio config write as any user of the cluster makes one (the twin's admin kubeconfig). */
async function writeIstioConfig(t: TwinHandle, name: string): Promise<{ ok: true } | { ok: false; message: string }> {
  const kc = new KubeConfig();
  kc.loadFromFile(t.kubeconfigPath);
  const body = {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'orders' },
    spec: { hosts: [`${name}.y7test.com`], http: [{ route: [{ destination: { host: 'orders.orders.svc.cluster.local' } }] }] },
  };
  try {
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...ISTIO_VS, namespace: 'orders', body });
    return { ok: true };
  } catch (err) {
    const b = (err as { body?: string }).body;
    return { ok: false, message: b ? (JSON.parse(b) as { message: string }).message : String(err) };
  }
}

describe('decommission and istiod-default-validator (every Istio object, fail-closed)', () => {
  it('moves the default validator to the target istiod before deleting the source: Istio writes keep working', async () => {
    twin = await startFieldReportTwin();
    const plan = fieldReportPlan((p) => {
      p.backup.location = mkdtempSync(join(tmpdir(), 'meshmove-decom-'));
    });
    expect(await writeIstioConfig(twin, 'before')).toEqual({ ok: true });
    const res = await runDecommission(twin.kube, plan, 'run-v');
    expect(await writeIstioConfig(twin, 'after'), 'an Istio write after decommission').toEqual({ ok: true });
    expect(res.moved).toEqual(['ValidatingWebhookConfiguration/istiod-default-validator']);

    const [vwc] = await twin.kube.listValidatingWebhookConfigurations({ fieldSelector: 'metadata.name=istiod-default-validator' });
    expect(vwc!.metadata!.labels!['istio.io/rev']).toBe('istio-1-16-5');
    expect(vwc!.webhooks!.map((w) => w.clientConfig.service)).toEqual([
      { name: 'istiod-istio-1-16-5', namespace: 'istio-1-16-5', path: '/validate', port: 443 },
    ]);
    expect(vwc!.webhooks!.every((w) => w.failurePolicy === 'Fail')).toBe(true);
    // The revisioned validator of the source stays (only objects labeled istio.io/rev=default).
    expect((await twin.kube.listValidatingWebhookConfigurations()).map((v) => v.metadata!.name).sort()).toEqual([
      'istio-validator-istio-1-16-5-istio-1-16-5',
      'istio-validator-istio-system',
      'istiod-default-validator',
    ]);
    // The validator as it was is in the backup, beside the deleted objects.
    const backedUp = await readBackupObjects(res.backup.location);
    const original = backedUp.find((o) => o.entry.kind === 'ValidatingWebhookConfiguration')!;
    expect(original.entry.name).toBe('istiod-default-validator');
    expect(
      (original.object as { webhooks: { clientConfig: { service: { name: string } } }[] }).webhooks[0]!.clientConfig.service.name,
    ).toBe('istiod');

    // Idempotent: a rerun moves nothing again and gives the same result.
    await twin.control('DELETE', '/_twin/requests');
    expect(await runDecommission(twin.kube, plan, 'run-v')).toEqual(res);
    expect(Object.keys((await twin.requests()).applied).filter((k) => k.includes('validatingwebhookconfigurations'))).toEqual([]);
  });
});

describe('decommission on the field-report twin', () => {
  it('deletes only the source revision objects, backed up first; twice gives the same result', async () => {
    twin = await startFieldReportTwin();
    const plan = fieldReportPlan((p) => {
      p.backup.location = mkdtempSync(join(tmpdir(), 'meshmove-decom-'));
    });
    const before = await clusterState(twin);
    await twin.control('DELETE', '/_twin/requests');

    const first = await runDecommission(twin.kube, plan, 'run-d');
    expect([...first.deleted].sort()).toEqual([...EXPECTED].sort());
    // Order: the injector first (no new source sidecars), then istiod, then the gateway.
    expect(first.deleted[0]).toBe('MutatingWebhookConfiguration/istio-sidecar-injector');
    expect((await verifyBackup(first.backup.location, first.backup.manifestDigest)).ok).toBe(true);
    const backedUp = (await readBackupObjects(first.backup.location))
      .map((o) => `${o.entry.kind}/${o.entry.namespace ? `${o.entry.namespace}/` : ''}${o.entry.name}`)
      .sort();
    expect(backedUp).toEqual([...EXPECTED, 'ValidatingWebhookConfiguration/istiod-default-validator'].sort());

    const after = await clusterState(twin);
    expect(after.crds).toEqual(before.crds);
    expect(after.mwcs).toEqual(before.mwcs.filter((n) => n !== 'istio-sidecar-injector'));
    expect(after.mwcs).toContain('istio-sidecar-injector-istio-1-16-5-istio-1-16-5');
    expect(after.deployments).toEqual(
      before.deployments.filter((d) => d !== 'istio-system/istiod' && d !== 'istio-system/istio-ingressgateway'),
    );
    expect(after.deployments).toContain('istio-1-16-5/istiod-istio-1-16-5');
    expect(after.services).toEqual(before.services.filter((s) => s !== 'istio-system/istiod' && s !== 'istio-system/istio-ingressgateway'));

    const second = await runDecommission(twin.kube, plan, 'run-d');
    expect(second).toEqual(first);
    const req = await twin.requests();
    const deletes = Object.entries(req.byObject).filter(([k]) => k.startsWith('delete '));
    expect(deletes.length).toBe(EXPECTED.length);
    // The second run found them gone (404), so each object saw at most 2 delete calls and was removed once.
    expect(await clusterState(twin)).toEqual(after);
  });

  it('injected 429/500 on deletes are retried; no object is deleted twice', async () => {
    twin = await startFieldReportTwin();
    const plan = fieldReportPlan((p) => {
      p.backup.location = mkdtempSync(join(tmpdir(), 'meshmove-decom-'));
    });
    await twin.control('PUT', '/_twin/faults', {
      rules: [
        { verb: 'delete', kind: 'status', status: 429, retryAfterSeconds: 1, count: 2 },
        { verb: 'delete', kind: 'status', status: 500, count: 2 },
      ],
    });
    await twin.control('DELETE', '/_twin/requests');
    // As Temporal would: a retryable failure (the in-process attempts ran out) is retried by
    // running the activity again with the same run id.
    let res: Awaited<ReturnType<typeof runDecommission>> | undefined;
    let failures = 0;
    for (let attempt = 0; attempt < 4 && !res; attempt++) {
      try {
        res = await runDecommission(twin.kube, plan, 'run-f');
      } catch (err) {
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect((err as ApplicationFailure).nonRetryable).toBe(false);
        failures++;
      }
    }
    expect(res).toBeDefined();
    expect([...res!.deleted].sort()).toEqual([...EXPECTED].sort());
    expect(failures).toBeLessThanOrEqual(1);
    const req = await twin.requests();
    expect(req.faultedTotal).toBe(4);
    for (const [k, n] of Object.entries(req.byObject).filter(([key]) => key.startsWith('delete '))) expect(n, k).toBe(1);
  });
});
