// Preflight against the twin through the real client: every check passes (or only warns) on the
// field-report cluster, and each pitfall variant turns its check to block (or warn).
import { afterEach, describe, expect, it } from 'vitest';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { AdmissionregistrationV1Api, KubeConfig } from '@kubernetes/client-node';
import { runPreflight } from '../../activities/preflight/index.js';
import type { ClientKubeAccess } from '../../activities/kube/index.js';
import type { Finding, PreflightReport } from '../../activities/contract.js';
import { fieldReportPlan, startFieldReportTwin, type ScenarioDoc, type TwinHandle } from './preflight-twin-fixture.js';
import { asOnRealStack } from '../support/scenario-variants.js';

let twin: TwinHandle | undefined;
afterEach(async () => {
  await twin?.close();
  twin = undefined;
});

const plan = fieldReportPlan();
const byCheck = (r: PreflightReport, check: string): Finding | undefined => r.findings.find((f) => f.check === check);
const statusOf = (r: PreflightReport, check: string) => byCheck(r, check)?.status;
const blocks = (r: PreflightReport) => r.findings.filter((f) => f.status === 'block').map((f) => f.check);

function targetCp(s: ScenarioDoc): ScenarioDoc {
  return s.controlPlanes.find((c: { revision: string }) => c.revision === 'istio-1-16-5');
}

describe('preflight on the field-report twin', () => {
  it('passes every check (warning only about istio-injection being removed)', async () => {
    twin = await startFieldReportTwin();
    const r = await runPreflight(twin.kube, plan);
    expect(blocks(r)).toEqual([]);
    for (const check of [
      'target/istiod',
      'target/gateway',
      'target/gateway-address',
      'outbound-policy',
      'discovery',
      'discovery/source',
      'injection',
      'root-ca',
      'proxy-status/target',
      'proxy-status/source',
      'decommission/scope',
    ]) {
      expect(statusOf(r, check), `${check}: ${byCheck(r, check)?.reason}`).toBe('pass');
    }
    expect(statusOf(r, 'injection/istio-injection')).toBe('warn');
    // Preflight is read-only: the client sent only reads (and port-forwards, which change nothing).
    expect(Object.keys((twin.kube as ClientKubeAccess).requestCounts).sort()).toEqual(['get', 'list', 'portforward']);
    // The API server saw no change to what a migration touches (the twin's own controllers do
    // write istio-ca-root-cert and gateway status, so those are not counted here).
    const touched = Object.keys((await twin.requests()).byObject).filter((k) =>
      /namespaces|mutatingwebhookconfigurations|deployments|customresourcedefinitions/.test(k),
    );
    expect(touched).toEqual([]);
  });

  it('REGISTRY_ONLY on the target blocks outbound-policy', async () => {
    twin = await startFieldReportTwin((s) => {
      targetCp(s).outboundTrafficPolicy = 'REGISTRY_ONLY';
    });
    const r = await runPreflight(twin.kube, plan);
    expect(statusOf(r, 'outbound-policy')).toBe('block');
    expect(byCheck(r, 'outbound-policy')!.reason).toMatch(/REGISTRY_ONLY.*BlackHoleCluster/);
  });

  it('split root CAs block root-ca, and the plan can accept them (warn)', async () => {
    twin = await startFieldReportTwin((s) => {
      s.sameRootCA = false;
    });
    const r = await runPreflight(twin.kube, plan);
    expect(statusOf(r, 'root-ca')).toBe('block');
    expect(byCheck(r, 'root-ca')!.reason).toMatch(/overwrite each other/);
    const accepted = await runPreflight(
      twin.kube,
      fieldReportPlan((p) => {
        p.rootCA.acceptDifferentRoots = true;
      }),
    );
    expect(statusOf(accepted, 'root-ca')).toBe('warn');
  });

  it('a namespace with both istio-injection and the target istio.io/rev warns', async () => {
    twin = await startFieldReportTwin((s) => {
      const ns = s.namespaces.find((n: { name: string }) => n.name === 'orders');
      ns.labels = { ...ns.labels, 'istio-injection': 'enabled', 'istio.io/rev': 'istio-1-16-5' };
    });
    const r = await runPreflight(twin.kube, plan);
    expect(statusOf(r, 'injection/istio-injection')).toBe('warn');
    expect(byCheck(r, 'injection/istio-injection')!.reason).toMatch(/orders/);
    expect(blocks(r)).toEqual([]);
  });

  it('no target webhook matching blocks injection for every planned namespace', async () => {
    twin = await startFieldReportTwin();
    expect(await twin.kube.deleteMutatingWebhookConfiguration('istio-sidecar-injector-istio-1-16-5-istio-1-16-5')).toBe('deleted');
    const r = await runPreflight(twin.kube, plan);
    for (const ns of ['inventory', 'payments', 'orders', 'frontend']) expect(statusOf(r, `injection/${ns}`)).toBe('block');
    expect(byCheck(r, 'injection/orders')!.reason).toMatch(/no webhook would inject/);
  });

  it('two webhooks matching blocks injection', async () => {
    twin = await startFieldReportTwin();
    const kc = new KubeConfig();
    kc.loadFromFile(twin.kubeconfigPath);
    const api = kc.makeApiClient(AdmissionregistrationV1Api);
    const original = await api.readMutatingWebhookConfiguration({ name: 'istio-sidecar-injector-istio-1-16-5-istio-1-16-5' });
    const copy: V1MutatingWebhookConfiguration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'zz-copied-injector', labels: original.metadata?.labels },
      webhooks: original.webhooks,
    };
    await api.createMutatingWebhookConfiguration({ body: copy });
    const r = await runPreflight(twin.kube, plan);
    expect(statusOf(r, 'injection/orders')).toBe('block');
    expect(byCheck(r, 'injection/orders')!.reason).toMatch(/2 webhooks would inject.*zz-copied-injector/);
  });

  it('the target istiod not available blocks target/istiod and proxy-status/target', async () => {
    twin = await startFieldReportTwin();
    await twin.kube.patchWorkload('Deployment', 'istio-1-16-5', 'istiod-istio-1-16-5', { spec: { replicas: 0 } }, 'merge');
    // The twin's controllers remove the pods and update the status.
    await expect
      .poll(async () => (await twin!.kube.listPods('istio-1-16-5', { labelSelector: 'app=istiod' })).length, {
        timeout: 10_000,
        message: 'the target istiod pods gone',
      })
      .toBe(0);
    const r = await runPreflight(twin.kube, plan);
    expect(statusOf(r, 'target/istiod')).toBe('block');
    expect(statusOf(r, 'proxy-status/target')).toBe('block');
    expect(byCheck(r, 'proxy-status/target')!.reason).toMatch(/no Running istiod pod/);
  });

  it('a STALE proxy on the target blocks proxy-status/target', async () => {
    twin = await startFieldReportTwin();
    // The target gateway's proxy is connected to the target istiod: make it STALE.
    const faults = await twin.control<Record<string, unknown>>('GET', '/_twin/istio/faults');
    await twin.control('PUT', '/_twin/istio/faults', { ...faults, staleProxies: { namespaces: ['istio-1-16-5'], pods: [] } });
    const r = await runPreflight(twin.kube, plan);
    expect(statusOf(r, 'proxy-status/target')).toBe('block');
    expect(byCheck(r, 'proxy-status/target')!.reason).toMatch(/STALE/);
  });

  it('the target discovery label not applied by the plan blocks discovery (the 503 pitfall)', async () => {
    twin = await startFieldReportTwin();
    const r = await runPreflight(
      twin.kube,
      fieldReportPlan((p) => {
        p.target.discoveryLabels = { team: 'mesh' };
      }),
    );
    expect(statusOf(r, 'discovery/orders')).toBe('block');
    expect(byCheck(r, 'discovery/orders')!.reason).toMatch(/503/);
  });
});

describe('preflight on the cluster as the real stack showed it (split roots, target scoped by discoverySelectors)', () => {
  it("root-ca reads each control plane's own root (its injector's caBundle) and blocks: the roots differ", async () => {
    twin = await startFieldReportTwin(asOnRealStack);
    // The trap: istio-ca-root-cert in the target's namespace holds the SOURCE's root (the target does
    // not select its own namespace), so reading "the target's root" there says "same".
    const inTargetNs = await twin.kube.getConfigMap('istio-1-16-5', 'istio-ca-root-cert');
    const inSourceNs = await twin.kube.getConfigMap('istio-system', 'istio-ca-root-cert');
    expect(inTargetNs?.data?.['root-cert.pem']).toBe(inSourceNs?.data?.['root-cert.pem']);
    const r = await runPreflight(twin.kube, plan);
    const f = byCheck(r, 'root-ca')!;
    expect(f.status, f.reason).toBe('block');
    expect(f.reason).not.toMatch(/same root/);
    expect(f.reason).toMatch(/the roots differ/);
    expect(f.reason).toMatch(
      /target .*read from the caBundle of MutatingWebhookConfiguration istio-sidecar-injector-istio-1-16-5-istio-1-16-5/,
    );
    expect(f.reason).toMatch(/source .*read from the caBundle of MutatingWebhookConfiguration istio-sidecar-injector\b/);
  });

  it("discovery blocks on the target's own namespace, where its gateway and the routes' Gateway live", async () => {
    twin = await startFieldReportTwin((s) => {
      asOnRealStack(s);
      s.sameRootCA = true;
    });
    const r = await runPreflight(twin.kube, plan);
    const f = byCheck(r, 'discovery/istio-1-16-5')!;
    expect(f, JSON.stringify(r.findings.map((x) => x.check))).toBeDefined();
    expect(f.status).toBe('block');
    expect(f.reason).toMatch(/target gateway/);
    expect(f.reason).toMatch(/Gateway istio-1-16-5\/y7test-gateway/);
    expect(f.reason).toMatch(/frontend\/shop/);
    expect(f.fix).toMatch(/kubectl label namespace istio-1-16-5 usergroup=istio-1-16-5/);
    // The source's Gateway (istio-system) does not select the target gateway's pods: not required.
    expect(byCheck(r, 'discovery/istio-system')).toBeUndefined();
    // Labeled as the fix says, the check passes.
    await twin.kube.patchNamespace('istio-1-16-5', { metadata: { labels: { usergroup: 'istio-1-16-5' } } });
    const again = await runPreflight(twin.kube, plan);
    expect(byCheck(again, 'discovery/istio-1-16-5')).toBeUndefined();
    expect(blocks(again)).toEqual([]);
  });

  it('an older target (1.16, no enhanced scoping) reads config everywhere: the same namespace only warns', async () => {
    twin = await startFieldReportTwin();
    const r = await runPreflight(twin.kube, plan);
    const f = byCheck(r, 'discovery/istio-1-16-5')!;
    expect(f.status).toBe('warn');
    expect(f.reason).toMatch(/1\.16\.5/);
  });

  it('says what decommission does with istiod-default-validator and what it leaves behind', async () => {
    twin = await startFieldReportTwin();
    const r = await runPreflight(twin.kube, plan);
    const v = byCheck(r, 'pitfall/default-validator')!;
    expect(v.reason).toMatch(/istiod-default-validator.*every Istio object.*istiod.istio-system/);
    expect(v.reason).toMatch(/repoint.*istiod-istio-1-16-5\.istio-1-16-5/);
    const scope = byCheck(r, 'decommission/scope')!;
    expect(scope.status).toBe('pass');
    expect(scope.reason).toMatch(/ValidatingWebhookConfiguration\/istiod-default-validator/);
    expect(scope.reason).toMatch(/leaves behind.*ValidatingWebhookConfiguration\/istio-validator-istio-system/);
    expect(scope.reason).toMatch(/HorizontalPodAutoscaler/);
    expect(scope.reason).toMatch(/istio-ca-secret/);
    expect(scope.reason).toMatch(/Gateway istio-system\/y7test-gateway/);
  });
});
