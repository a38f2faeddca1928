// Shared by the twin's Istio tests: everything goes through the real client over HTTP, as an
// activity would (port-forward to istiod, probe Jobs, plain HTTP with a Host header to gateways).
import { request } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PortForward,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { expect, vi } from 'vitest';

export const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
}

export function clientsFor(kubeconfigPath: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), batch: kc.makeApiClient(BatchV1Api) };
}

export function httpGet(
  url: string,
  host?: string,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    // agent: false: no keep-alive socket lingering after the answer (it would hold port-forwards open).
    const req = request(url, { agent: false, headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `kubectl port-forward pod/NAME :remotePort` with client-node's PortForward; returns the local port. */
/** A JSON request to a control route (`body` as sent, so a test can send a malformed one). */
export async function sendJson(method: 'POST' | 'PUT', url: string, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, body: await res.text() };
}

export async function portForward(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  remotePort: number,
): Promise<{ port: number; close: () => Promise<void> }> {
  const pf = new PortForward(kc);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    void pf.portForward(namespace, pod, [remotePort], socket, null, socket).catch(() => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** `kubectl rollout restart`: a new template annotation. */
export async function rolloutRestart(c: Clients, namespace: string, name: string): Promise<void> {
  const body = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } };
  await c.apps.patchNamespacedDeployment({ name, namespace, body }, MERGE);
}

/** The plan's relabel: istio.io/rev + discovery label, istio-injection removed, in one merge patch. */
export async function relabelToTarget(c: Clients, namespace: string, discovery = true): Promise<void> {
  const labels: Record<string, string | null> = { 'istio.io/rev': 'istio-1-16-5', 'istio-injection': null };
  if (discovery) labels.usergroup = 'istio-1-16-5';
  await c.core.patchNamespace({ name: namespace, body: { metadata: { labels } } }, MERGE);
}

export async function podsOf(c: Clients, namespace: string, app: string): Promise<V1Pod[]> {
  return (await c.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Runs a probe Job per the probe-runner contract and returns the probe container's message. */
export async function runProbe(c: Clients, namespace: string, name: string, url: string): Promise<string> {
  await c.batch.createNamespacedJob({
    namespace,
    body: {
      metadata: { name, namespace },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { 'meshmove.dev/probe': 'true' } },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'probe',
                image: 'curlimages/curl:8.8.0',
                env: [{ name: 'URL', value: url }],
                command: ['sh', '-c', 'curl -s -o /dev/null -w "%{http_code}" --max-time 5 "$URL" > /dev/termination-log'],
              },
            ],
          },
        },
      },
    },
  });
  return vi.waitFor(
    async () => {
      const pods = await c.core.listNamespacedPod({ namespace, labelSelector: 'meshmove.dev/probe=true' });
      const p = pods.items.find(
        (x) => x.metadata?.ownerReferences?.some((o) => o.kind === 'Job' && o.name === name) && x.status?.phase === 'Succeeded',
      );
      const message = p?.status?.containerStatuses?.find((s) => s.name === 'probe')?.state?.terminated?.message;
      expect(message, `probe ${namespace}/${name}`).toBeDefined();
      return message!;
    },
    { timeout: 15_000 },
  );
}
