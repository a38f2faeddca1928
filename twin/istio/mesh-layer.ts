// The Istio side of the twin, assembled: shared informers, one Istiod per control plane, the
// gateways, the app backends, sidecar connection tracking, in-mesh calls and the probe runner, and
// the proxies' request metrics with the stats server Prometheus scrapes. It talks to the
// cluster only through the Kubernetes API (KubeClients), so it can run against any API server.
import type { Logger } from '../../logging/logger.js';
import { IstioLabel } from '../../mesh/naming.js';
import { istiodName } from './chart.js';
import { rootCaIds, type Scenario } from '../scenario.js';
import { startAppBackends, type AppBackends } from './app-backends.js';
import { ClusterView, isPodReady } from './cluster-view.js';
import { IstioFaultState } from './fault-state.js';
import { IngressGateway } from './ingress-gateway.js';
import { Istiod } from './istiod.js';
import { isNotFound, retrying, type KubeClients } from './kube-client.js';
import { MeshCalls } from './mesh-call.js';
import { ProbeRunner } from './probe-runner.js';
import { RequestErrorInjector } from './request-errors.js';
import { podIdentity, RequestMetrics } from './request-metrics.js';
import { createRootCa, rootFingerprint, type RootCa } from './root-ca.js';
import { SidecarConnections } from './sidecar-connections.js';
import { startStatsServer, type StatsServer, type StatsTarget } from './stats-server.js';
import { Upstreams } from './upstream.js';

export interface MeshLayerOptions {
  scenario: Scenario;
  kube: KubeClients;
  logger: Logger;
  /** Gateway ports by `<namespace>/<name>`, overriding the scenario (tests pass 0). */
  gatewayPorts?: Record<string, number>;
  /** How long to wait for istiod pods to become Ready. */
  readyTimeoutMs?: number;
  /**
   * The cluster was restored from a snapshot (its objects are already in the API server): reuse
   * these roots and, where free, these ports; install nothing (what was deleted stays deleted);
   * run no istiod whose Deployment is gone.
   */
  restore?: MeshRestore | undefined;
}

/** What the Istio layer keeps across a twin restart besides the cluster's objects. */
export interface MeshRestore {
  /** Root CA certificates by root id. */
  roots: RootCa[];
  /** The loopback URLs the layer served at, by role (see MeshLayer.endpointUrls()). */
  endpoints: Record<string, string>;
  /** The root each sidecar had mounted, by pod uid. */
  mounted: ReadonlyMap<string, string>;
}

/** The port of a `http://host:port` URL, 0 when there is none. */
function portOf(url: string | undefined): number {
  const m = /:(\d+)\/?$/.exec(url ?? '');
  return m ? Number(m[1]) : 0;
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class MeshLayer {
  readonly view: ClusterView;
  readonly faults: IstioFaultState;
  readonly istiods = new Map<string, Istiod>();
  readonly gateways: IngressGateway[] = [];
  readonly roots = new Map<string, RootCa>();
  readonly connections: SidecarConnections;
  /** istio_requests_total of every proxy, by reporting workload. */
  readonly metrics = new RequestMetrics();
  readonly requestErrors: RequestErrorInjector;
  private probeRunner: ProbeRunner | undefined;
  private meshCalls: MeshCalls | undefined;
  private backendsServer: AppBackends | undefined;
  private statsServer: StatsServer | undefined;

  private constructor(private readonly o: MeshLayerOptions) {
    this.view = new ClusterView(o.kube, o.logger);
    this.faults = new IstioFaultState(o.scenario.faults.istio);
    this.connections = new SidecarConnections(this.view, (rev) => this.istiods.get(rev)?.root.pem);
    this.requestErrors = new RequestErrorInjector(this.faults);
  }

  /** Calls from inside the mesh (probe Jobs, POST /_twin/istio/call). */
  get calls(): MeshCalls {
    if (!this.meshCalls) throw new Error('mesh layer not started');
    return this.meshCalls;
  }

  get stats(): StatsServer {
    if (!this.statsServer) throw new Error('mesh layer not started');
    return this.statsServer;
  }

  /** Workloads with a running, sidecar-injected pod: what Prometheus finds to scrape. */
  statsTargets(): StatsTarget[] {
    const out = new Map<string, StatsTarget>();
    for (const p of this.view.pods.list()) {
      if (p.status?.phase !== 'Running' || p.metadata?.deletionTimestamp) continue;
      if (this.connections.connection(p).reason === 'no sidecar') continue;
      const id = podIdentity(p);
      out.set(`${id.namespace}/${id.workload}`, { namespace: id.namespace, workload: id.workload });
    }
    return [...out.values()];
  }

  get backends(): AppBackends {
    if (!this.backendsServer) throw new Error('mesh layer not started');
    return this.backendsServer;
  }

  get probes(): ProbeRunner {
    if (!this.probeRunner) throw new Error('mesh layer not started');
    return this.probeRunner;
  }

  /** Installs the control planes and gateways (their namespaces must exist) and starts everything. */
  static async start(o: MeshLayerOptions): Promise<MeshLayer> {
    const m = new MeshLayer(o);
    try {
      await m.startAll();
    } catch (err) {
      await m.close();
      throw err;
    }
    return m;
  }

  private async startAll(): Promise<void> {
    const { scenario, kube, logger } = this.o;
    const restore = this.o.restore;
    this.view.start();
    await this.view.synced();
    this.backendsServer = await startAppBackends('127.0.0.1', portOf(restore?.endpoints.backends));
    for (const r of restore?.roots ?? []) this.roots.set(r.id, r);
    const ids = rootCaIds(scenario);
    for (const cp of scenario.controlPlanes) {
      if (restore && !(await deploymentExists(kube, cp.namespace, istiodName(cp.revision)))) {
        // Decommissioned before the snapshot: no istiod serves this revision any more.
        logger.info({ revision: cp.revision }, 'restored cluster has no istiod Deployment for this control plane: not running it');
        continue;
      }
      const id = ids.get(cp.revision)!;
      if (!this.roots.has(id)) this.roots.set(id, await createRootCa(id));
      const istiod = new Istiod({
        spec: cp,
        root: this.roots.get(id)!,
        kube,
        view: this.view,
        connections: this.connections,
        faults: this.faults,
        caRewriteDelayMs: cp.caRewriteDelayMs ?? scenario.timings.caRewriteDelayMs,
        logger: logger.child({ component: 'istiod', revision: cp.revision }),
      });
      this.istiods.set(cp.revision, istiod);
      await istiod.startServers({
        injector: portOf(restore?.endpoints[`istiod/${cp.revision}/injector`]),
        monitoring: portOf(restore?.endpoints[`istiod/${cp.revision}/monitoring`]),
      });
      if (!restore) await istiod.install();
      istiod.startControllers();
    }
    if (restore) this.connections.importMounted(restore.mounted);
    this.connections.start();
    const istiodFor = (rev: string): Istiod | undefined => this.istiods.get(rev);
    const upstreams = new Upstreams({
      view: this.view,
      connections: this.connections,
      backends: this.backendsServer,
      metrics: this.metrics,
      errors: this.requestErrors,
    });
    this.meshCalls = new MeshCalls({ view: this.view, connections: this.connections, istiodFor, upstreams, metrics: this.metrics });
    this.statsServer = await startStatsServer({
      metrics: this.metrics,
      running: () => this.statsTargets(),
      preferredPort: portOf(restore?.endpoints.stats),
    });
    this.probeRunner = new ProbeRunner({ kube, view: this.view, calls: this.meshCalls, logger });
    this.probeRunner.start();
    // Pods are injected only once the injector answers (failurePolicy Fail): wait for istiod.
    await waitFor(
      'istiod pods to become Ready',
      () =>
        [...this.istiods.values()].every((i) =>
          this.view.pods
            .list()
            .some(
              (p) =>
                p.metadata?.namespace === i.namespace &&
                p.metadata.labels?.app === 'istiod' &&
                p.metadata.labels[IstioLabel.rev] === i.revision &&
                isPodReady(p),
            ),
        ),
      this.o.readyTimeoutMs ?? 30_000,
    );
    await Promise.all([...this.istiods.values()].map((i) => i.meshConfigSynced()));
    await Promise.all([...this.istiods.values()].map((i) => i.startWebhookPatcher()));
    for (const g of scenario.gateways) {
      const key = `${g.namespace}/${g.name}`;
      const port = this.o.gatewayPorts?.[key] ?? g.port;
      const gw = new IngressGateway({
        spec: { ...g, port },
        kube,
        view: this.view,
        connections: this.connections,
        istiodFor,
        upstreams,
        metrics: this.metrics,
        errors: this.requestErrors,
        logger,
      });
      this.gateways.push(gw);
      await gw.start(portOf(restore?.endpoints[`gateway/${key}`]));
      if (restore) await gw.refreshService();
      else await gw.install();
    }
  }

  /** The loopback URLs behind the cluster's pods, by role: what a snapshot keeps to restore them. */
  endpointUrls(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.backendsServer) out.backends = this.backendsServer.url;
    if (this.statsServer) out.stats = this.statsServer.url;
    for (const i of this.istiods.values()) {
      const e = i.endpoints;
      out[`istiod/${i.revision}/injector`] = e.injector;
      out[`istiod/${i.revision}/monitoring`] = e.monitoring;
    }
    for (const g of this.gateways) out[`gateway/${g.namespace}/${g.name}`] = g.url;
    return out;
  }

  gateway(namespace: string, name: string): IngressGateway | undefined {
    return this.gateways.find((g) => g.namespace === namespace && g.name === name);
  }

  /** Pods with a sidecar, where they are connected and why not (GET /_twin/istio/proxies). */
  proxies(): Array<Record<string, unknown>> {
    return this.view.pods.list().flatMap((p) => {
      const c = this.connections.connection(p);
      if (c.reason === 'no sidecar') return [];
      return [
        {
          pod: `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`,
          revision: c.revision,
          connected: c.connected,
          ...(c.reason ? { reason: c.reason } : {}),
          mountedRootFingerprint: rootFingerprint(this.connections.mountedRoot(p)),
          stale: this.faults.proxyStale(p.metadata?.namespace ?? '', p.metadata?.name ?? ''),
        },
      ];
    });
  }

  describe(): Record<string, unknown> {
    return {
      controlPlanes: [...this.istiods.values()].map((i) => i.describe()),
      gateways: this.gateways.map((g) => ({
        name: g.name,
        namespace: g.namespace,
        url: g.url,
        address: g.address,
        port: g.port,
        requests: g.requests,
      })),
      appBackends: this.backendsServer?.url ?? null,
      stats: this.statsServer ? { url: this.statsServer.url, sdUrl: this.statsServer.sdUrl } : null,
      faults: this.faults.get(),
      recentProbes: this.probeRunner?.history.slice(-20) ?? [],
    };
  }

  async close(): Promise<void> {
    this.probeRunner?.stop();
    this.requestErrors.stop();
    this.connections.stop();
    await Promise.all(this.gateways.map((g) => g.close()));
    await Promise.all([...this.istiods.values()].map((i) => i.close()));
    this.view.stop();
    await this.backendsServer?.close();
    await this.statsServer?.close();
  }
}

async function deploymentExists(kube: KubeClients, namespace: string, name: string): Promise<boolean> {
  try {
    await retrying(() => kube.apps.readNamespacedDeployment({ name, namespace }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
