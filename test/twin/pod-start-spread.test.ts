// The twin's unequal pod starts (timings.podStartSpreadMs): each workload's pods take their own
// start delay, the same on every rollout, so rollouts stop ending all at once the way identical
// pods make them; bench:compare's physical limit reads the same delays.
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podStartDelay } from '../../twin/apiserver/controllers/context.js';
import { startApiServer, type ApiServer } from '../../twin/apiserver/index.js';

describe('podStartDelay', () => {
  const timings = { podStartDelayMs: 5_000, podStartSpreadMs: 2_000 };
  const names = Array.from({ length: 200 }, (_, i) => `ns-${i}`);

  it('without a spread, every pod takes the pod start delay', () => {
    expect(podStartDelay({ podStartDelayMs: 5_000, podStartSpreadMs: 0 }, 'ns-1', 'app-1')).toBe(5_000);
  });

  it('with one, each workload takes its own delay within ± the spread, the same every time', () => {
    const delays = names.map((ns) => podStartDelay(timings, ns, 'app-1'));
    expect(names.map((ns) => podStartDelay(timings, ns, 'app-1'))).toEqual(delays);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(3_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(7_000);
    // Spread over the range, not bunched: 200 workloads reach into both outer fifths of it.
    expect(Math.min(...delays)).toBeLessThan(3_800);
    expect(Math.max(...delays)).toBeGreaterThan(6_200);
    expect(podStartDelay(timings, 'ns-1', 'app-1')).not.toBe(podStartDelay(timings, 'ns-1', 'app-2'));
  });

  it('never below zero', () => {
    for (const ns of names) expect(podStartDelay({ podStartDelayMs: 100, podStartSpreadMs: 5_000 }, ns, 'app-1')).toBeGreaterThanOrEqual(0);
  });
});

describe('the kubelet stand-in with a spread', () => {
  const timings = { podStartDelayMs: 500, podStartSpreadMs: 450 };
  const NS = 'spread';
  let server: ApiServer;
  let apps: k8s.AppsV1Api;
  let kc: k8s.KubeConfig;

  beforeAll(async () => {
    server = await startApiServer({ ...timings, rolloutPodDelayMs: 10, logger: pino({ level: 'silent' }) });
    kc = new k8s.KubeConfig();
    kc.loadFromString(server.kubeconfigYaml());
    apps = kc.makeApiClient(k8s.AppsV1Api);
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("makes each Deployment's pod ready after that Deployment's own delay", async () => {
    // The quickest and the slowest of a few names, at least 300 ms apart.
    const byDelay = Array.from({ length: 20 }, (_, i) => `app-${i}`).sort(
      (a, b) => podStartDelay(timings, NS, a) - podStartDelay(timings, NS, b),
    );
    const [quick, slow] = [byDelay[0]!, byDelay[byDelay.length - 1]!];
    expect(podStartDelay(timings, NS, slow) - podStartDelay(timings, NS, quick)).toBeGreaterThan(300);

    const readyAt = new Map<string, number>();
    const w = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      {},
      (_type, pod: k8s.V1Pod) => {
        const app = pod.metadata?.labels?.app ?? '';
        if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !readyAt.has(app))
          readyAt.set(app, Date.now());
      },
      () => undefined,
    );
    const createdAt = Date.now();
    for (const app of [slow, quick])
      await apps.createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name: app },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app } },
            template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } },
          },
        },
      });
    for (let i = 0; i < 100 && readyAt.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
    w.abort();
    // Created first, the slow one's pod is ready last; neither before its own delay.
    expect([...readyAt.keys()]).toEqual([quick, slow]);
    for (const app of [quick, slow]) expect(readyAt.get(app)! - createdAt, app).toBeGreaterThanOrEqual(podStartDelay(timings, NS, app));
  });
});
