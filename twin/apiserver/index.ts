// The twin's generic Kubernetes API server: strict REST API on loopback, watch, patch, admission
// webhook dispatch, the generic controllers and a kubelet stand-in. See README section "twin".
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { stringify as toYaml } from 'yaml';
import { createLogger, type Logger } from '../../logging/logger.js';
import { Admission } from './admission.js';
import { startControllers, type Controllers } from './controllers/index.js';
import { RequestCounters } from './counters.js';
import { FaultController } from './faults.js';
import { HttpApi, type ControlHandler } from './http.js';
import { PodLogs } from './logs.js';
import { ApiCore } from './operations.js';
import { PodNetwork } from './podnetwork.js';
import { PortForwarder } from './portforward.js';
import { ResourceRegistry } from './resources.js';
import { Authorization } from './rbac.js';
import { Store } from './storage.js';
import { generateServingCertificate, type ServingCertificate } from './tls.js';
import { ENDPOINTS_ANNOTATION } from './podnetwork.js';
import { jsonClone, type KubeObject } from './types.js';
import { WatchHub } from './watch.js';

export { FaultController, type FaultConfig, type FaultRule, type WorkloadRef } from './faults.js';
export { RequestCounters, type CountersSnapshot, type WebhookCall } from './counters.js';
export { ENDPOINTS_ANNOTATION } from './podnetwork.js';
export type { KubeObject } from './types.js';

export const NODE_NAME = 'twin-node-1';
/** The token of the kubeconfig the twin writes: the cluster admin. */
const ADMIN_TOKEN = 'meshmove-twin';

export interface ApiServerOptions {
  host?: string;
  port?: number;
  /** HTTPS with a CA generated at start. */
  tls?: boolean;
  /** Delay before the kubelet stand-in marks a new pod Running and Ready (default 50 ms). */
  podStartDelayMs?: number;
  /** Each workload's pods start up to this much sooner or later than podStartDelayMs (default 0; podStartDelay). */
  podStartSpreadMs?: number;
  /** Pause between pods of a rollout (default 50 ms). */
  rolloutPodDelayMs?: number;
  logger?: Logger;
  /** Watch events kept per resource; a watch from before them gets 410 Gone (default 10,000). */
  watchCacheSize?: number;
  /**
   * Start from a snapshot (see snapshot()) instead of an empty cluster: the objects are put back as
   * stored, with their resourceVersions, and the built-in objects are not created again.
   */
  restore?: StoreSnapshot | undefined;
  /** Try this port first and fall back to any free one if it is taken (a restored twin's old port). */
  preferredPort?: number | undefined;
}

/** Everything the store holds, as a snapshot file keeps it. */
export interface StoreSnapshot {
  resourceVersion: number;
  objects: KubeObject[];
}

export interface ApiServer {
  url: string;
  /** PEM of the CA when tls is on. */
  caPem?: string | undefined;
  /** A kubeconfig for this server; with `token` (from `authorization.issueToken`) one whose requests RBAC decides. */
  kubeconfigYaml(contextName?: string, token?: string): string;
  writeKubeconfig(path: string, contextName?: string, token?: string): Promise<void>;
  /**
   * Requests with the twin's own token are the cluster admin's; tokens issued here are authorized
   * by the RBAC policy set here (deploy/rbac.yaml, say), with the 403s a real cluster gives.
   */
  authorization: Authorization;
  faults: FaultController;
  counters: RequestCounters;
  registerControlRoute(method: string, path: string, handler: ControlHandler): void;
  /** Creates objects as a client would (admission, validation); namespaces and CRDs first; an existing namespace gets the labels and annotations merged in. */
  seed(objects: object[]): Promise<void>;
  /** Appends lines to a pod container's log (container defaults to the first one). */
  appendPodLog(namespace: string, pod: string, text: string, container?: string): void;
  /** Resolves when the controllers have nothing queued (timers such as pod start may still be pending). */
  settle(): Promise<void>;
  /** The stored objects as JSON text (each one as served), with the current resourceVersion. */
  snapshot(): { resourceVersion: number; objectsJson: string[] };
  /** Called after every stored change (for saving a snapshot when things change). */
  onChange(fn: () => void): () => void;
  /**
   * Rewrites the twin's pod network annotation (twin.meshmove.dev/endpoints) in pods and pod
   * templates, replacing each old URL by its new one: the loopback servers behind a restored
   * twin's pods may listen on other ports. A trusted write (no admission, no new rollout: the
   * template hash ignores that annotation). Returns how many objects changed.
   */
  rewriteEndpoints(urls: ReadonlyMap<string, string>): number;
  close(): Promise<void>;
}

const SEED_ORDER = ['Namespace', 'CustomResourceDefinition'];

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') throw new Error(`the twin listens on loopback only, not ${host}`);
  const logger = opts.logger ?? createLogger('twin-apiserver');
  const registry = new ResourceRegistry();
  const store = new Store(opts.watchCacheSize);
  const counters = new RequestCounters();
  const faults = new FaultController();
  const logs = new PodLogs();
  const network = new PodNetwork(store, registry);
  const admission = new Admission({ store, registry, network, counters });
  const core = new ApiCore(registry, store, admission);
  const watches = new WatchHub(store, core);
  const portForwarder = new PortForwarder();
  let url = '';
  const auth = new Authorization(ADMIN_TOKEN);
  const api = new HttpApi({
    registry,
    core,
    watches,
    counters,
    faults,
    logs,
    network,
    portForwarder,
    serverAddress: () => url.replace(/^https?:\/\//, ''),
    logger,
    auth,
  });

  const controllers: Controllers = startControllers({
    core,
    store,
    faults,
    logs,
    logger,
    nodeName: NODE_NAME,
    podStartDelayMs: opts.podStartDelayMs ?? 50,
    podStartSpreadMs: opts.podStartSpreadMs ?? 0,
    rolloutPodDelayMs: opts.rolloutPodDelayMs ?? 50,
  });

  if (opts.restore) {
    restoreSnapshot(registry, store, core, opts.restore);
  } else {
    await createBuiltins();
  }

  async function createBuiltins(): Promise<void> {
    // What every cluster starts with.
    const ns = registry.get('', 'namespaces')!;
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
      await core.create(ns, 'v1', '', { metadata: { name } });
    store.put(registry.get('', 'nodes')!, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: NODE_NAME,
        uid: crypto.randomUUID(),
        creationTimestamp: core.now(),
        labels: {
          'kubernetes.io/hostname': NODE_NAME,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node-role.kubernetes.io/control-plane': '',
        },
      },
      spec: { podCIDR: '10.244.0.0/16' },
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
        addresses: [
          { type: 'InternalIP', address: '172.18.0.2' },
          { type: 'Hostname', address: NODE_NAME },
        ],
        nodeInfo: {
          kubeletVersion: 'v1.32.0',
          containerRuntimeVersion: 'containerd://1.7.0',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    });
    await core.create(registry.get('', 'services')!, 'v1', 'default', {
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { ports: [{ name: 'https', port: 443, targetPort: 6443 }] },
    });
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void api.handle(req, res);
  };
  let cert: ServingCertificate | undefined;
  let server: http.Server | https.Server;
  if (opts.tls) {
    cert = await generateServingCertificate(host);
    server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, onRequest);
  } else {
    server = http.createServer(onRequest);
  }
  server.keepAliveTimeout = 60_000;
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => api.upgrade(req, socket, head));
  server.on('clientError', (_e, socket) => socket.destroy());
  const listen = (port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  if (opts.preferredPort && !opts.port) {
    await listen(opts.preferredPort).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') throw err;
      logger.warn({ port: opts.preferredPort }, 'the previous API server port is taken; listening on another one');
      return listen(0);
    });
  } else {
    await listen(opts.port ?? 0);
  }
  const port = (server.address() as AddressInfo).port;
  url = `${opts.tls ? 'https' : 'http'}://${host}:${port}`;
  logger.info({ url }, 'twin apiserver listening');

  const kubeconfigYaml = (contextName = 'meshmove-twin', token = ADMIN_TOKEN): string =>
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      preferences: {},
      // client-node refuses plain http unless insecure-skip-tls-verify is set (there is no TLS to verify).
      clusters: [
        {
          name: contextName,
          cluster: {
            server: url,
            ...(cert ? { 'certificate-authority-data': Buffer.from(cert.caPem).toString('base64') } : { 'insecure-skip-tls-verify': true }),
          },
        },
      ],
      users: [{ name: contextName, user: { token } }],
      contexts: [{ name: contextName, context: { cluster: contextName, user: contextName, namespace: 'default' } }],
      'current-context': contextName,
    });

  return {
    url,
    caPem: cert?.caPem,
    kubeconfigYaml,
    writeKubeconfig: (path, contextName, token) => writeFile(path, kubeconfigYaml(contextName, token), { mode: 0o600 }),
    authorization: auth,
    faults,
    counters,
    registerControlRoute: (method, path, handler) => api.registerControlRoute(method, path, handler),
    async seed(objects) {
      const rank = (o: object): number => {
        const i = SEED_ORDER.indexOf(String((o as KubeObject).kind));
        return i < 0 ? SEED_ORDER.length : i;
      };
      const sorted = objects
        .map((o, i) => ({ o, i }))
        .sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i)
        .map((x) => x.o as KubeObject);
      for (const o of sorted) {
        const def = registry.byKind(String(o.apiVersion ?? ''), String(o.kind ?? ''));
        if (!def) throw new Error(`seed: no resource serves ${String(o.apiVersion)} ${String(o.kind)}`);
        const version = String(o.apiVersion).split('/').pop()!;
        const existing = def.kind === 'Namespace' ? store.get(def, '', o.metadata?.name ?? '') : undefined;
        if (existing) {
          // The built-in namespaces (default, kube-system...) exist already: a scenario may label them.
          const merged = {
            ...existing.obj,
            metadata: {
              ...existing.obj.metadata,
              labels: { ...existing.obj.metadata.labels, ...o.metadata?.labels },
              annotations: { ...existing.obj.metadata.annotations, ...o.metadata?.annotations },
            },
          };
          await core.update(def, version, '', existing.obj.metadata.name!, merged);
          continue;
        }
        await core.create(def, version, def.namespaced ? (o.metadata?.namespace ?? 'default') : '', o);
      }
    },
    appendPodLog(namespace, pod, text, container) {
      const p = store.get(registry.get('', 'pods')!, namespace, pod)?.obj;
      if (!p) throw new Error(`pod ${namespace}/${pod} not found`);
      logs.append(namespace, pod, container ?? ((p.spec?.containers ?? []) as Array<{ name: string }>)[0]?.name ?? '', text);
    },
    settle: () => controllers.idle(),
    snapshot() {
      const objectsJson: string[] = [];
      for (const s of store.all()) objectsJson.push(s.json);
      return { resourceVersion: store.currentRv(), objectsJson };
    },
    onChange(fn) {
      return store.subscribe(() => fn());
    },
    rewriteEndpoints(urls) {
      if (urls.size === 0) return 0;
      const rewrite = (annotations: Record<string, string> | undefined): boolean => {
        const raw = annotations?.[ENDPOINTS_ANNOTATION];
        if (!annotations || raw === undefined) return false;
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          return false;
        }
        if (typeof parsed !== 'object' || parsed === null) return false;
        let changed = false;
        const next: Record<string, unknown> = {};
        for (const [port, url] of Object.entries(parsed as Record<string, unknown>)) {
          const to = typeof url === 'string' ? urls.get(url) : undefined;
          if (to !== undefined && to !== url) changed = true;
          next[port] = to ?? url;
        }
        if (changed) annotations[ENDPOINTS_ANNOTATION] = JSON.stringify(next);
        return changed;
      };
      let count = 0;
      for (const [group, resource] of [
        ['', 'pods'],
        ['apps', 'replicasets'],
        ['apps', 'deployments'],
        ['apps', 'statefulsets'],
        ['apps', 'daemonsets'],
        ['batch', 'jobs'],
      ] as const) {
        const def = registry.get(group, resource);
        if (!def) continue;
        for (const s of store.list(def)) {
          const copy = jsonClone(s.obj);
          const template = (copy.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template;
          const a = rewrite(copy.metadata.annotations);
          const b = rewrite(template?.metadata?.annotations);
          if (!a && !b) continue;
          store.put(def, copy, s.obj);
          count++;
        }
      }
      return count;
    },
    async close() {
      controllers.stop();
      watches.closeAll();
      portForwarder.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Puts a snapshot back: CRDs first (so their resources are served), then namespaces, then the rest. */
function restoreSnapshot(registry: ResourceRegistry, store: Store, core: ApiCore, snap: StoreSnapshot): void {
  const rank = (o: KubeObject): number => (o.kind === 'CustomResourceDefinition' ? 0 : o.kind === 'Namespace' ? 1 : 2);
  const ordered = snap.objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i)
    .map((x) => x.o);
  for (const o of ordered) {
    const def = registry.byKind(String(o.apiVersion ?? ''), String(o.kind ?? ''));
    if (!def)
      throw new Error(
        `restore: no resource serves ${String(o.apiVersion)} ${String(o.kind)} (${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''})`,
      );
    core.restoreObject(def, o);
  }
  store.advanceRv(snap.resourceVersion);
}
