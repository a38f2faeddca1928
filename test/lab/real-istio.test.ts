// On the lab's real kube-apiserver and two real istiod revisions (see lab/index.ts for what is real
// and what is stood in): the Istio and Kubernetes behaviour the migration depends on, as the real
// components show it, and meshmove's checks judged against them. One lab per file.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { applyNamespaces, FIELD_REPORT_NAMESPACES, startLab, type Lab } from '../../lab/index.js';
import { createKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import { runPreflight } from '../../activities/preflight/index.js';
import { readSyncz } from '../../activities/preflight/proxy-status.js';
import { relabelNamespace, restoreNamespaceLabels, waitCaReady } from '../../activities/namespace/index.js';
import type { ClusterDeps } from '../../activities/shared/deps.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Finding, PreflightReport } from '../../activities/contract.js';
import { fieldReportPlan } from '../activities/preflight-twin-fixture.js';

let lab: Lab;
const runActivity = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment().run(fn);
let kube: KubeAccess;
const plan = fieldReportPlan((p) => {
  p.cluster.context = 'lab';
});

interface PodJson {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { initContainers?: { name: string }[]; containers: { name: string; env?: { name: string; value?: string }[] }[] };
  status?: { phase?: string };
}

async function kubectlJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await lab.kube.kubectl([...args, '-o', 'json'])) as T;
}

async function rootCertOf(namespace: string): Promise<{ pem: string; resourceVersion: string } | undefined> {
  try {
    const cm = await kubectlJson<{ data: Record<string, string>; metadata: { resourceVersion: string } }>(
      'get',
      'configmap',
      'istio-ca-root-cert',
      '-n',
      namespace,
    );
    return { pem: cm.data['root-cert.pem']!, resourceVersion: cm.metadata.resourceVersion };
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  lab = await startLab({ progress: (l) => process.stderr.write(`${l}\n`) });
  await applyNamespaces(lab.kube, FIELD_REPORT_NAMESPACES);
  kube = createKubeAccess({ kubeconfig: lab.kube.adminKubeconfig, context: 'lab' });
}, 1_800_000);

afterAll(async () => {
  await lab?.stop();
});

describe('real istiod on a real kube-apiserver', () => {
  it('installs the webhook configurations under the names Istio renders', async () => {
    const mwc = (await lab.kube.kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name'])).trim().split('\n').sort();
    expect(mwc).toEqual([
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/istio-sidecar-injector',
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/istio-sidecar-injector-istio-1-16-5-istio-1-16-5',
    ]);
    const vwc = (await lab.kube.kubectl(['get', 'validatingwebhookconfigurations', '-o', 'name'])).trim().split('\n').sort();
    expect(vwc).toEqual([
      'validatingwebhookconfiguration.admissionregistration.k8s.io/istio-validator-istio-1-16-5-istio-1-16-5',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/istio-validator-istio-system',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/istiod-default-validator',
    ]);
  });

  it('the source injects istio-injection=enabled pods, and says so in the pod', async () => {
    const pods = await vi.waitFor(
      async () => {
        const list = await kubectlJson<{ items: PodJson[] }>('get', 'pods', '-n', 'inventory');
        expect(list.items, 'two inventory pods').toHaveLength(2);
        return list.items;
      },
      { timeout: 60_000, interval: 500 },
    );
    for (const pod of pods) {
      expect(pod.spec.initContainers?.map((c) => c.name)).toContain('istio-init');
      expect(pod.spec.containers.map((c) => c.name)).toContain('istio-proxy');
      const status = JSON.parse(pod.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}') as { revision?: string };
      expect(status.revision).toBe('default');
      const proxy = pod.spec.containers.find((c) => c.name === 'istio-proxy')!;
      // PROXY_CONFIG holds only what differs from ProxyConfig's defaults: for the default revision
      // in istio-system, nothing (the twin wrote the discovery address there).
      expect(parse(proxy.env?.find((e) => e.name === 'PROXY_CONFIG')?.value ?? '')).toEqual({});
      expect(proxy.env?.find((e) => e.name === 'CA_ADDR')?.value).toBe('istiod.istio-system.svc:15012');
    }
  });

  it('each namespace controller writes istio-ca-root-cert only where its discoverySelectors select', async () => {
    // The source selects everything; the target (usergroup=istio-1-16-5) selects nothing yet, not even its own namespace.
    await expect
      .poll(
        async () => {
          for (const ns of ['inventory', 'orders', 'istio-system', 'istio-1-16-5']) if (!(await rootCertOf(ns))) return false;
          return true;
        },
        { timeout: 30_000, interval: 500, message: 'istio-ca-root-cert in every namespace (the source selects all)' },
      )
      .toBe(true);
    const sourceRoot = (await rootCertOf('istio-system'))!.pem;
    // The copy in the target's own namespace is the source's root: the target never wrote there.
    expect((await rootCertOf('istio-1-16-5'))!.pem).toBe(sourceRoot);
    const targetWebhook = await kubectlJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(
      'get',
      'mutatingwebhookconfiguration',
      'istio-sidecar-injector-istio-1-16-5-istio-1-16-5',
    );
    const targetRoot = Buffer.from(targetWebhook.webhooks[0]!.clientConfig.caBundle ?? '', 'base64').toString('utf8');
    expect(targetRoot).toContain('BEGIN CERTIFICATE');
    expect(targetRoot.trim()).not.toBe(sourceRoot.trim());
  });

  it("meshmove reads each istiod's syncz by port-forward through the apiserver and the node's kubelet API", async () => {
    for (const cp of [plan.source, plan.target]) {
      const entries = await readSyncz(kube, cp.revision, cp.istiodNamespace);
      // No Envoy runs in the lab (no container runtime), so no proxy is connected.
      expect(Array.isArray(entries)).toBe(true);
    }
  });

  it('two namespace controllers with different roots rewrite istio-ca-root-cert non-stop, and waitCaReady does not pass (item 2)', async () => {
    const ref = { plan, migrationId: 'lab-split-roots', namespace: 'orders' };
    const deps: ClusterDeps = { kube, tuning: { pollMs: 200, caReadyTimeoutMs: 20_000, caStableMs: 2_000 } };
    const relabeled = await runActivity(() => relabelNamespace(deps, ref));
    // The fact: once both select the namespace, the ConfigMap changes again and again.
    const versions = new Set<string>();
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const cm = await rootCertOf('orders');
      if (cm) versions.add(cm.resourceVersion);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(versions.size, 'resourceVersions of istio-ca-root-cert seen in 3 s').toBeGreaterThan(3);
    const outcome = await runActivity(() => waitCaReady(deps, ref)).then(
      (r) => `passed: ${JSON.stringify(r)}`,
      (err: Error) => `failed: ${err.name}: ${err.message}`,
    );
    // A check that fails, not a crash that happens to stop it.
    expect(outcome).toMatch(/^failed: ApplicationFailure: /);
    await runActivity(() => restoreNamespaceLabels(deps, { ...ref, labels: relabeled.previousLabels }));
  }, 60_000);

  describe('preflight on the field-report cluster', () => {
    let report: PreflightReport;
    const finding = (check: string): Finding | undefined => report.findings.find((f) => f.check === check);
    beforeAll(async () => {
      report = await runPreflight(kube, plan);
    }, 120_000);

    it('does not call two different roots the same (item 1 of the real-stack findings)', () => {
      const rootCa = finding('root-ca');
      expect(rootCa, JSON.stringify(report.findings.map((f) => f.check))).toBeDefined();
      expect(rootCa!.status, rootCa!.reason).toBe('block');
      expect(rootCa!.reason).not.toMatch(/same root/);
    });

    it("checks that the target discovers its own gateway's namespace (item 3)", () => {
      const blocking = report.findings.filter((f) => f.status === 'block' && /discover/.test(f.check + f.reason));
      expect(blocking.map((f) => `${f.check}: ${f.reason}`).join('\n')).toMatch(/istio-1-16-5/);
    });
  });
});
