// The twin: a simulated cluster running two (or more) Istio control planes, served over the real
// Kubernetes API. startTwin() brings up the generic API server (twin/apiserver), seeds the
// scenario's cluster through it, starts the Istio layer (twin/istio, which talks to the server only
// through the Kubernetes API) and the DNS server, and registers the /_twin control routes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../logging/logger.js';
import { startApiServer, type ApiServer, type CountersSnapshot, type FaultConfig } from './apiserver/index.js';
import { RbacPolicy, serviceAccountUser } from './apiserver/rbac.js';
import { startDnsServer, type DnsServer } from './dns/server.js';
import { DEMO_DNS_SECRET, dnsControlRoutes } from './dns/webhook.js';
import { DnsZone, type ARecord } from './dns/zone.js';
import { istioControlRoutes } from './istio/control-routes.js';
import { istioCrds } from './istio/crds.js';
import { KubeClients } from './istio/kube-client.js';
import { MeshLayer, waitFor } from './istio/mesh-layer.js';
import { rootCaFromPem } from './istio/root-ca.js';
import { namespaceObject, namespaceObjects, scenarioNamespaces } from './istio/workloads.js';
import { loadScenario, parseScenario, type IstioFaults, type IstioFaultsInput, type Scenario } from './scenario.js';
import { StateSaver, TwinStateError, packMounted, readTwinState, unpackMounted, writeTwinState } from './state.js';

export { TwinStateError } from './state.js';

export const TWIN_CONTEXT = 'meshmove-twin';

export interface TwinOverrides {
  apiPort?: number;
  dnsPort?: number;
  /** Gateway ports by `<namespace>/<name>`. */
  gatewayPorts?: Record<string, number>;
  /** Use 0 for every port (API, DNS, gateways): tests run in parallel. */
  randomPorts?: boolean;
  /** Write the kubeconfig here (else into a temp dir removed on close). */
  kubeconfigPath?: string;
  /** Serve the API over HTTPS with a generated CA (in the kubeconfig). kubectl sends bearer tokens only over HTTPS. */
  tls?: boolean;
  sameRootCA?: boolean;
  timings?: Partial<Scenario['timings']>;
  logger?: Logger;
  /** How long startTwin waits for the scenario's pods to run and get their CA root. */
  readyTimeoutMs?: number;
  /**
   * The twin's state file (twin/state.ts). When it exists the cluster is restored from it instead of
   * seeded from the scenario; the state is written there while the twin runs (after changes, at
   * most a few seconds late) and on close().
   */
  statePath?: string;
  /** Saving after changes: quiet period and longest delay (defaults 1 s and 5 s). */
  stateSave?: { quietMs?: number; maxDelayMs?: number };
}

export interface TwinControl {
  istioFaults(): IstioFaults;
  /** Replaces the named faults (defaults applied, as PUT /_twin/istio/faults does); throws on invalid input. */
  setIstioFaults(f: Partial<IstioFaultsInput>): IstioFaults;
  apiFaults(): FaultConfig;
  setApiFaults(f: Partial<FaultConfig>): void;
  counters(): CountersSnapshot;
  resetCounters(): void;
}

export interface Twin {
  scenario: Scenario;
  apiUrl: string;
  kubeconfigPath: string;
  kubeconfigYaml: string;
  context: string;
  dns: { host: string; port: number; zone: DnsZone };
  /** Gateway base URLs by `<namespace>/<name>` (both field-report gateways are named istio-ingressgateway). */
  gateways: Record<string, { url: string; address: string; port: number }>;
  /** Where the control routes are. */
  controlUrls: Record<string, string>;
  /**
   * The proxies' request metrics (istio_requests_total): `url`/stats/prometheus/<ns>/<workload>
   * in Prometheus text format, and `sdUrl` listing the workloads for Prometheus's http_sd_configs.
   */
  stats: { url: string; sdUrl: string };
  dnsWebhookSecret: string;
  api: ApiServer;
  mesh: MeshLayer;
  control: TwinControl;
  /** Whether this twin was restored from its state file (else seeded from the scenario). */
  restored: boolean;
  /** The state file, when there is one. */
  statePath?: string | undefined;
  /** Writes the state file now (no-op without statePath). */
  saveState(): Promise<void>;
  close(): Promise<void>;
}

/** The DNS webhook secret: the scenario's env var, else the documented demo secret. */
export function dnsWebhookSecret(s: Scenario, env: NodeJS.ProcessEnv = process.env): string {
  const v = env[s.dns.webhookSecretEnv];
  return v && v.length > 0 ? v : DEMO_DNS_SECRET;
}

function applyOverrides(s: Scenario, o: TwinOverrides): Scenario {
  const random = o.randomPorts === true;
  const next: Scenario = {
    ...s,
    ports: { api: o.apiPort ?? (random ? 0 : s.ports.api), dns: o.dnsPort ?? (random ? 0 : s.ports.dns) },
    timings: { ...s.timings, ...o.timings },
    gateways: s.gateways.map((g) => ({ ...g, port: o.gatewayPorts?.[`${g.namespace}/${g.name}`] ?? (random ? 0 : g.port) })),
  };
  if (o.sameRootCA !== undefined) next.sameRootCA = o.sameRootCA;
  return next;
}

export async function startTwin(scenarioOrPath: Scenario | string, overrides: TwinOverrides = {}): Promise<Twin> {
  const loaded = typeof scenarioOrPath === 'string' ? await loadScenario(scenarioOrPath) : parseScenario(scenarioOrPath);
  const scenario = applyOverrides(loaded, overrides);
  const logger = overrides.logger ?? createLogger('twin', { scenario: scenario.metadata.name });
  const state = overrides.statePath ? await readTwinState(overrides.statePath) : undefined;
  if (state && state.scenario !== scenario.metadata.name) {
    throw new TwinStateError(
      `twin state ${overrides.statePath ?? ''} was written by scenario "${state.scenario}", not "${scenario.metadata.name}": delete it (or use --fresh) to start from the scenario`,
    );
  }
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => logger.warn({ err: String(err) }, 'twin close step failed'));
  };
  try {
    const api = await startApiServer({
      port: scenario.ports.api,
      // A restored twin asks for its previous port first, so kubeconfigs written before still work.
      preferredPort: state?.ports.api,
      podStartDelayMs: scenario.timings.podStartDelayMs,
      podStartSpreadMs: scenario.timings.podStartSpreadMs,
      rolloutPodDelayMs: scenario.timings.rolloutPodDelayMs,
      tls: overrides.tls === true,
      logger: logger.child({ component: 'twin-apiserver' }),
      restore: state ? { resourceVersion: state.resourceVersion, objects: state.objects } : undefined,
    });
    cleanups.push(() => api.close());

    let kubeconfigPath = overrides.kubeconfigPath;
    if (!kubeconfigPath) {
      const dir = await mkdtemp(join(tmpdir(), 'meshmove-twin-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      kubeconfigPath = join(dir, 'kubeconfig');
    }
    await api.writeKubeconfig(kubeconfigPath, TWIN_CONTEXT);
    const kubeconfigYaml = api.kubeconfigYaml(TWIN_CONTEXT);
    const kube = KubeClients.fromKubeconfigYaml(kubeconfigYaml);

    if (!state) {
      // What must exist before istiod installs: the Istio CRDs and every namespace with its labels.
      const nsLabels = new Map(scenario.namespaces.map((n) => [n.name, n.labels]));
      await api.seed([...istioCrds(), ...scenarioNamespaces(scenario).map((n) => namespaceObject(n, nsLabels.get(n) ?? {}))]);
    }

    const mesh = await MeshLayer.start({
      scenario,
      kube,
      logger: logger.child({ component: 'twin-istio' }),
      restore: state
        ? {
            roots: state.roots.map((r) => rootCaFromPem(r.id, r.pem)),
            endpoints: state.endpoints,
            mounted: unpackMounted(state.mountedRoots),
          }
        : undefined,
    });
    cleanups.push(() => mesh.close());

    if (!state) {
      // The applications, after the injectors answer, then the Istio config and any other objects.
      const apps = scenario.namespaces.flatMap((n) => namespaceObjects(n, mesh.backends.url).contents);
      await api.seed([...apps, ...scenario.istioConfig, ...scenario.objects]);
    } else {
      // Servers that could not get their previous port: point the pods (and templates) at the new one.
      const now = mesh.endpointUrls();
      const moved = new Map(
        Object.entries(state.endpoints)
          .filter(([role, url]) => now[role] !== undefined && now[role] !== url)
          .map(([role, url]) => [url, now[role]!]),
      );
      if (moved.size)
        logger.info(
          { moved: Object.fromEntries(moved), objects: api.rewriteEndpoints(moved) },
          'restored twin: loopback servers moved, endpoint annotations rewritten',
        );
    }

    const gatewayAddress = new Map(mesh.gateways.map((g) => [`${g.namespace}/${g.name}`, g.address]));
    const zone = new DnsZone(
      state
        ? state.dns
        : scenario.dns.records.map((r): ARecord => ({
            name: r.name,
            type: 'A',
            ttl: r.ttl,
            address: r.address ?? gatewayAddress.get(r.gateway ?? '') ?? '127.0.0.1',
          })),
    );
    const dnsLogger = logger.child({ component: 'twin-dns' });
    let dns: DnsServer;
    if (state && scenario.ports.dns === 0 && state.ports.dns > 0) {
      dns = await startDnsServer(zone, { port: state.ports.dns, logger: dnsLogger }).catch(() =>
        startDnsServer(zone, { port: 0, logger: dnsLogger }),
      );
    } else {
      dns = await startDnsServer(zone, { port: scenario.ports.dns, logger: dnsLogger });
    }
    cleanups.push(() => dns.close());
    const secret = dnsWebhookSecret(scenario);
    for (const r of [
      ...dnsControlRoutes(
        zone,
        () => secret,
        () => ({ host: dns.host, port: dns.port }),
      ),
      ...istioControlRoutes(mesh),
    ]) {
      api.registerControlRoute(r.method, r.path, r.handler);
    }

    if (state) {
      api.faults.set(state.faults.api as Partial<FaultConfig>);
      mesh.faults.set(state.faults.istio);
      await api.settle();
    } else {
      if (scenario.faults.api) api.faults.set(scenario.faults.api);
      await waitForSteadyState(scenario, mesh, overrides.readyTimeoutMs ?? 30_000 + 5 * countPods(scenario));
    }

    const statePath = overrides.statePath;
    const saveState = async (): Promise<void> => {
      if (!statePath) return;
      const snap = api.snapshot();
      await writeTwinState(statePath, {
        scenario: scenario.metadata.name,
        ports: { api: Number(new URL(api.url).port), dns: dns.port },
        resourceVersion: snap.resourceVersion,
        roots: [...mesh.roots.values()].map((r) => ({ id: r.id, pem: r.pem })),
        endpoints: mesh.endpointUrls(),
        mountedRoots: packMounted(mesh.connections.exportMounted()),
        dns: zone.list(),
        faults: { api: api.faults.get(), istio: mesh.faults.get() },
        objectsJson: snap.objectsJson,
      });
    };
    if (statePath) {
      const saver = new StateSaver(saveState, { ...overrides.stateSave, logger });
      const dirty = (): void => saver.markDirty();
      const unsubscribe = [
        api.onChange(dirty),
        zone.onMutate(dirty),
        mesh.faults.onChange(dirty),
        api.faults.onChange(dirty),
        mesh.connections.onChange(dirty),
      ];
      // Runs first on close (cleanups run newest first): the final state, while everything is up.
      cleanups.push(async () => {
        saver.stop();
        for (const u of unsubscribe) u();
        await saver.flush();
      });
      await saver.flush();
    }

    const gateways: Twin['gateways'] = {};
    for (const g of mesh.gateways) gateways[`${g.namespace}/${g.name}`] = { url: g.url, address: g.address, port: g.port };
    const twin: Twin = {
      scenario,
      apiUrl: api.url,
      kubeconfigPath,
      kubeconfigYaml,
      context: TWIN_CONTEXT,
      dns: { host: dns.host, port: dns.port, zone },
      gateways,
      stats: { url: mesh.stats.url, sdUrl: mesh.stats.sdUrl },
      controlUrls: {
        requests: `${api.url}/_twin/requests`,
        faults: `${api.url}/_twin/faults`,
        istio: `${api.url}/_twin/istio`,
        istioFaults: `${api.url}/_twin/istio/faults`,
        proxies: `${api.url}/_twin/istio/proxies`,
        istioCall: `${api.url}/_twin/istio/call`,
        dns: `${api.url}/_twin/dns`,
        dnsRecord: `${api.url}/_twin/dns/records/NAME`,
      },
      dnsWebhookSecret: secret,
      api,
      mesh,
      control: {
        istioFaults: () => mesh.faults.get(),
        setIstioFaults: (f) => mesh.faults.set({ ...mesh.faults.get(), ...f }),
        apiFaults: () => api.faults.get(),
        setApiFaults: (f) => api.faults.set(f),
        counters: () => api.counters.snapshot(),
        resetCounters: () => api.counters.reset(),
      },
      restored: state !== undefined,
      statePath,
      saveState,
      close: closeAll,
    };
    logger.info(
      { api: api.url, dns: `${dns.host}:${dns.port}`, gateways, stats: twin.stats.sdUrl, restored: twin.restored, statePath },
      'twin ready',
    );
    return twin;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function countPods(s: Scenario): number {
  return s.namespaces.reduce((n, ns) => n + ns.workloads.reduce((m, w) => m + (w.kind === 'DaemonSet' ? 1 : w.replicas), 0), 0);
}

/** Every scenario pod running, and every namespace the CA writers serve holding a root. */
async function waitForSteadyState(s: Scenario, mesh: MeshLayer, timeoutMs: number): Promise<void> {
  const appNamespaces = new Set(s.namespaces.map((n) => n.name));
  const expected = countPods(s);
  await waitFor(
    "the scenario's pods to run",
    () => {
      const pods = mesh.view.pods.list().filter((p) => appNamespaces.has(p.metadata?.namespace ?? ''));
      return pods.length >= expected && pods.every((p) => p.status?.phase === 'Running');
    },
    timeoutMs,
    50,
  );
  const istiods = [...mesh.istiods.values()];
  await waitFor(
    'istio-ca-root-cert in every namespace',
    () =>
      s.namespaces.every(
        (n) =>
          mesh.faults.caBlocked(n.name) ||
          !istiods.some((i) => i.namespaceController.responsibleFor(n.name)) ||
          mesh.view.caRootIn(n.name) !== undefined,
      ),
    timeoutMs,
    50,
  );
}

/** The identity deploy/rbac.yaml binds: the meshmove worker's service account. */
export const WORKER_USER = serviceAccountUser('meshmove', 'meshmove-worker');

/**
 * Authorize the twin's API by the RBAC objects in `rbacYaml` (deploy/rbac.yaml, say) and write a
 * kubeconfig that acts as `user`: what that user may not do gets the 403 a real cluster gives. The
 * twin's own kubeconfig stays the cluster admin's. Throws when the file grants `user` nothing.
 */
export async function writeKubeconfigAs(
  twin: Twin,
  rbacYaml: string,
  path: string,
  opts: { user?: string; context?: string } = {},
): Promise<void> {
  const user = opts.user ?? WORKER_USER;
  const policy = RbacPolicy.fromYaml(rbacYaml);
  if (!policy.grantsAnything(user)) throw new Error(`the RBAC file binds no role to ${user}`);
  twin.api.authorization.setPolicy(policy);
  await twin.api.writeKubeconfig(path, opts.context ?? twin.context, twin.api.authorization.issueToken(user));
}
