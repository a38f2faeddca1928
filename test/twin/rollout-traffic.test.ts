// Zero failed requests through a rollout restart, honestly: requests go continuously through the
// vendor gateway (and in-mesh calls into and out of the namespace, POST /_twin/istio/call) while a 1-replica and a 2-replica Deployment are restarted (the restartedAt
// annotation, as `kubectl rollout restart` does). A real Deployment with the default strategy
// (maxSurge 25% rounded up = 1, maxUnavailable 25% rounded down = 0 for 1 or 2 replicas) brings a
// new pod to Ready before it takes an old one away, so its Service always has a ready endpoint and
// no request fails. The twin must do the same: every answer 2xx, and never fewer Ready pods than
// replicas nor more than replicas + 1 while it happens.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTwin, type Twin } from '../../twin/index.js';
import { parseScenario, type Scenario, type ScenarioInput } from '../../twin/scenario.js';
import { clientsFor, httpGet, rolloutRestart, sendJson, type Clients } from './istio-helpers.js';

process.env.MESHMOVE_LOG_LEVEL ??= 'warn';
const FIELD_REPORT = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));

interface Workload {
  ns: string;
  name: string;
  replicas: number;
  host: string;
  path: string;
}
const WORKLOADS: Workload[] = [
  { ns: 'inventory', name: 'inventory', replicas: 1, host: 'api.y7test.com', path: '/inventory/item' },
  { ns: 'frontend', name: 'frontend', replicas: 2, host: 'shop.y7test.com', path: '/' },
];

const postJson = (url: string, body: unknown) => sendJson('POST', url, JSON.stringify(body));

async function scenario(): Promise<Scenario> {
  const s = parse(await readFile(FIELD_REPORT, 'utf8')) as ScenarioInput;
  for (const ns of s.namespaces ?? []) {
    for (const w of ns.workloads ?? []) {
      const want = WORKLOADS.find((x) => x.ns === ns.name && x.name === w.name);
      if (want) w.replicas = want.replicas;
    }
  }
  return parseScenario(s);
}

describe('requests through a gateway during a rollout restart', () => {
  let twin: Twin;
  let c: Clients;

  beforeAll(async () => {
    // Slow pods (300 ms to Ready) so that a gap in endpoints, if any, would catch many requests.
    twin = await startTwin(await scenario(), { randomPorts: true, timings: { podStartDelayMs: 300, rolloutPodDelayMs: 100 } });
    c = clientsFor(twin.kubeconfigPath);
  });
  afterAll(async () => {
    await twin?.close();
  });

  it.each(WORKLOADS)('$ns/$name with $replicas replica(s): zero non-2xx answers', async (w) => {
    const gateway = twin.gateways['istio-system/istio-ingressgateway']!.url;
    const podsNow = async () => (await c.core.listNamespacedPod({ namespace: w.ns, labelSelector: `app=${w.name}` })).items;
    const before = new Set((await podsNow()).map((p) => p.metadata!.name!));
    expect(before.size).toBe(w.replicas);

    let stop = false;
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const perKind = new Map<string, number>();
    const count = (what: string, status: number, reason: string): void => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      perKind.set(what, (perKind.get(what) ?? 0) + 1);
      if (status < 200 || status > 299) failures.push(`${what}: ${status} ${reason}`);
    };
    const sender = async (): Promise<void> => {
      while (!stop) {
        const r = await httpGet(`${gateway}${w.path}`, w.host);
        count('gateway', r.status, String(r.headers['x-twin-reason'] ?? ''));
      }
    };
    // In-mesh calls too: into the restarting workload, and out of its namespace (callers churn).
    const meshCaller = (from: string, url: string) => async (): Promise<void> => {
      while (!stop) {
        const r = await postJson(twin.controlUrls.istioCall!, { from, url });
        const answer = JSON.parse(r.body) as { status: number; reason?: string };
        count(`call ${from} → ${url}`, r.status === 200 ? answer.status : -r.status, answer.reason ?? '');
      }
    };
    // What the cluster shows meanwhile: Ready pods (not terminating) and all pods.
    let minReady = Infinity;
    let maxPods = 0;
    const watcher = async (): Promise<void> => {
      while (!stop) {
        const pods = await podsNow();
        const ready = pods.filter(
          (p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
        );
        minReady = Math.min(minReady, ready.length);
        maxPods = Math.max(maxPods, pods.length);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const running = [
      sender(),
      sender(),
      sender(),
      meshCaller('orders', `http://${w.name}.${w.ns}.svc.cluster.local:8080/in`)(),
      meshCaller(w.ns, 'http://payments.payments.svc.cluster.local:8080/out')(),
      watcher(),
    ];
    await new Promise((r) => setTimeout(r, 200));
    await rolloutRestart(c, w.ns, w.name);
    await expect
      .poll(
        async () => {
          const d = await c.apps.readNamespacedDeployment({ name: w.name, namespace: w.ns });
          const pods = await podsNow();
          const s = d.status;
          return (
            (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
            s?.updatedReplicas === w.replicas &&
            s.availableReplicas === w.replicas &&
            s.replicas === w.replicas &&
            pods.length === w.replicas &&
            pods.every((p) => !before.has(p.metadata!.name!))
          );
        },
        { timeout: 20_000, message: `${w.ns}/${w.name} rolled out` },
      )
      .toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(running);

    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    console.info(
      `rollout restart of ${w.ns}/${w.name} (${w.replicas} replica(s)): ${total} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))} (${JSON.stringify(Object.fromEntries(perKind))}), min Ready pods ${minReady}, max pods ${maxPods}`,
    );
    expect(failures).toEqual([]);
    expect(total).toBeGreaterThan(100);
    // Every kind of traffic really flowed during the restart.
    expect(perKind.size).toBe(3);
    for (const [what, n] of perKind) expect(n, what).toBeGreaterThan(10);
    expect(minReady).toBe(w.replicas);
    expect(maxPods).toBe(w.replicas + 1);
  });
});
