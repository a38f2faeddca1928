// The twin measured against the real thing: the field report's cluster on the twin and on the lab
// (real kube-apiserver, real istiod from Istio's charts), read the same way, compared field by
// field. A difference fails the test and says which side says what. Compared:
//   - the webhook configurations: names, each webhook's name, namespaceSelector, objectSelector,
//     failurePolicy (what decides which istiod injects and validates which object);
//   - which namespaces hold istio-ca-root-cert (what each namespace controller writes, by
//     discoverySelectors);
//   - an injected pod's markers: init and app containers, sidecar.istio.io/status's revision,
//     istio-proxy's CA_ADDR and PROXY_CONFIG.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { applyNamespaces, FIELD_REPORT_NAMESPACES, startLab, type Lab } from '../../lab/index.js';
import { runKubectl } from '../../lab/kube.js';
import { labBinaries } from '../../lab/binaries.js';
import { startTwin, type Twin } from '../../twin/index.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const NAMESPACES = ['inventory', 'payments', 'orders', 'frontend', 'istio-system', 'istio-1-16-5'];

type Kubectl = (args: readonly string[]) => Promise<string>;
let lab: Lab;
let twin: Twin;
let real: Kubectl;
let sim: Kubectl;

interface Webhook {
  name: string;
  namespaceSelector?: unknown;
  objectSelector?: unknown;
  failurePolicy?: string;
}
interface WebhookConfiguration {
  metadata: { name: string };
  webhooks?: Webhook[];
}

/** What decides who injects or validates what, normalised (Kubernetes' defaults made explicit). */
async function webhooks(k: Kubectl, resource: string): Promise<Record<string, unknown>> {
  const list = JSON.parse(await k(['get', resource, '-o', 'json'])) as { items: WebhookConfiguration[] };
  const out: Record<string, unknown> = {};
  for (const c of list.items) {
    out[c.metadata.name] = (c.webhooks ?? []).map((w) => ({
      name: w.name,
      namespaceSelector: w.namespaceSelector ?? {},
      objectSelector: w.objectSelector ?? {},
      failurePolicy: w.failurePolicy ?? 'Fail',
    }));
  }
  return out;
}

async function caRootNamespaces(k: Kubectl): Promise<string[]> {
  const out: string[] = [];
  for (const ns of NAMESPACES) {
    const names = await k(['get', 'configmaps', '-n', ns, '-o', 'jsonpath={.items[*].metadata.name}']);
    if (names.split(/\s+/).includes('istio-ca-root-cert')) out.push(ns);
  }
  return out;
}

interface PodJson {
  metadata: { annotations?: Record<string, string> };
  spec: { initContainers?: { name: string }[]; containers: { name: string; env?: { name: string; value?: string }[] }[] };
}

async function injectedMarkers(k: Kubectl, namespace: string): Promise<unknown> {
  const pods = JSON.parse(await k(['get', 'pods', '-n', namespace, '-l', `app=${namespace}`, '-o', 'json'])) as { items: PodJson[] };
  const pod = pods.items[0];
  if (!pod) return undefined;
  const proxy = pod.spec.containers.find((c) => c.name === 'istio-proxy');
  const env = (n: string) => proxy?.env?.find((e) => e.name === n)?.value;
  return {
    initContainers: (pod.spec.initContainers ?? []).map((c) => c.name),
    containers: pod.spec.containers.map((c) => c.name),
    revision: (JSON.parse(pod.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}') as { revision?: string }).revision,
    CA_ADDR: env('CA_ADDR'),
    PROXY_CONFIG: parse(env('PROXY_CONFIG') ?? 'null') as unknown,
  };
}

beforeAll(async () => {
  lab = await startLab({ progress: (l) => process.stderr.write(`${l}\n`) });
  await applyNamespaces(lab.kube, FIELD_REPORT_NAMESPACES);
  twin = await startTwin(SCENARIO, { randomPorts: true });
  const kubectl = (await labBinaries()).path('kubectl');
  real = (args) => lab.kube.kubectl(args);
  sim = (args) => runKubectl(kubectl, twin.kubeconfigPath, ['--context', twin.context, ...args]);
  // Both sides settle: pods injected and Running, root certificates written.
  for (const k of [real, sim]) {
    // vi.waitFor, not expect.poll: a hook is not a test.
    await vi.waitFor(async () => expect(await injectedMarkers(k, 'inventory'), 'pods of inventory injected').toBeDefined(), {
      timeout: 60_000,
      interval: 500,
    });
    await vi.waitFor(async () => expect((await caRootNamespaces(k)).length, 'istio-ca-root-cert written').toBeGreaterThanOrEqual(4), {
      timeout: 30_000,
      interval: 500,
    });
  }
}, 1_800_000);

afterAll(async () => {
  await twin?.close();
  await lab?.stop();
});

describe('the twin against real istiod on a real kube-apiserver, on the field report cluster', () => {
  it('mutating webhook configurations: names, selectors, failure policy', async () => {
    expect(await webhooks(sim, 'mutatingwebhookconfigurations')).toEqual(await webhooks(real, 'mutatingwebhookconfigurations'));
  });

  it('validating webhook configurations: names, selectors, failure policy', async () => {
    expect(await webhooks(sim, 'validatingwebhookconfigurations')).toEqual(await webhooks(real, 'validatingwebhookconfigurations'));
  });

  it('the namespaces that hold istio-ca-root-cert', async () => {
    expect(await caRootNamespaces(sim)).toEqual(await caRootNamespaces(real));
  });

  it("an injected pod's markers, from the source", async () => {
    expect(await injectedMarkers(sim, 'inventory')).toEqual(await injectedMarkers(real, 'inventory'));
  });

  it("an injected pod's markers, from the target after the field report's relabel and a restart", async () => {
    const moved: unknown[] = [];
    for (const k of [sim, real]) {
      await k(['label', 'namespace', 'payments', 'istio-injection-', 'istio.io/rev=istio-1-16-5', 'usergroup=istio-1-16-5']);
      await k(['rollout', 'restart', 'deployment/payments', '-n', 'payments']);
      moved.push(
        await vi.waitFor(
          async () => {
            const m = (await injectedMarkers(k, 'payments')) as { revision?: string } | undefined;
            expect(m?.revision, 'payments pods injected by the target').toBe('istio-1-16-5');
            return m;
          },
          { timeout: 60_000, interval: 500 },
        ),
      );
    }
    expect(moved[0]).toEqual(moved[1]);
    expect(await caRootNamespaces(sim)).toEqual(await caRootNamespaces(real));
  });
});
