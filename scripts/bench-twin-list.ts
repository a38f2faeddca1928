// Throughput figures for the twin's API server (not a test): seeds N namespaces × M deployments
// (1 replica each), waits for every pod to be Running, then times full pod lists through
// @kubernetes/client-node. The server runs in a child process, as `twin serve` would, so the
// client's JSON decoding does not share an event loop with the server.
// Usage: npx tsx scripts/bench-twin-list.ts [--namespaces 2000] [--deployments 5] [--lists 20] [--same-process]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startApiServer } from '../twin/apiserver/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const namespaces = arg('namespaces', 2000);
const deployments = arg('deployments', 5);
const lists = arg('lists', 20);
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

interface Seeded {
  url: string;
  kubeconfig: string;
  seedMs: number;
  allPodsRunningMs: number;
}

/** Starts the server, seeds it and waits for every pod to be Running. */
async function serveSeeded(): Promise<{ seeded: Seeded; close: () => Promise<void> }> {
  const server = await startApiServer({ podStartDelayMs: 0, rolloutPodDelayMs: 0, logger: pino({ level: 'warn' }) });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects: object[] = [];
  for (let n = 0; n < namespaces; n++) {
    const ns = `bench-${n}`;
    objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'istio-injection': 'enabled' } } });
    for (let d = 0; d < deployments; d++) {
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `app-${d}`, namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: `app-${d}` } },
          template: {
            metadata: { labels: { app: `app-${d}`, version: 'v1' } },
            spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1.0', ports: [{ containerPort: 8080, name: 'http' }] }] },
          },
        },
      });
    }
  }
  const t0 = performance.now();
  await server.seed(objects);
  const tSeeded = performance.now();
  const want = namespaces * deployments;
  for (;;) {
    await server.settle();
    const running =
      (await core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Running', limit: 1 })).metadata?.remainingItemCount ?? 0;
    if (running + 1 >= want) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  // Let the last status writes (ReplicaSets, Deployments) land before measuring.
  await new Promise((r) => setTimeout(r, 1000));
  await server.settle();
  return {
    seeded: {
      url: server.url,
      kubeconfig: server.kubeconfigYaml(),
      seedMs: Math.round(tSeeded - t0),
      allPodsRunningMs: Math.round(performance.now() - t0),
    },
    close: () => server.close(),
  };
}

if (process.argv.includes('--serve')) {
  const { seeded } = await serveSeeded();
  process.stdout.write(`${JSON.stringify(seeded)}\n`);
  // Serve until the parent closes stdin.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
} else {
  let seeded: Seeded;
  let close: () => Promise<void>;
  if (process.argv.includes('--same-process')) {
    ({ seeded, close } = await serveSeeded());
  } else {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), '--serve'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`server process exited with ${String(code)}`)));
    });
    seeded = JSON.parse(line) as Seeded;
    close = async () => {
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
    };
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromString(seeded.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < lists; i++) {
    const s = performance.now();
    const l = await core.listPodForAllNamespaces();
    times.push(performance.now() - s);
    count = l.items.length;
  }
  const raw: number[] = [];
  for (let i = 0; i < lists; i++) {
    const s = performance.now();
    const r = await fetch(`${seeded.url}/api/v1/pods`);
    await r.arrayBuffer();
    raw.push(performance.now() - s);
  }
  console.log(
    JSON.stringify(
      {
        namespaces,
        deployments,
        pods: count,
        seedMs: seeded.seedMs,
        allPodsRunningMs: seeded.allPodsRunningMs,
        clientNodeListMs: { p50: Math.round(percentile(times, 50)), p95: Math.round(percentile(times, 95)) },
        rawHttpListMs: { p50: Math.round(percentile(raw, 50)), p95: Math.round(percentile(raw, 95)) },
        serverProcess: !process.argv.includes('--same-process') ? 'child' : 'same',
      },
      null,
      2,
    ),
  );
  await close();
}
