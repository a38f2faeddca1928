// The twin: a simulated cluster running two (or more) Istio control planes, served over the real
// Kubernetes API. startTwin() brings up the generic API server (twin/apiserver), seeds the
// scenario's cluster through it, starts the Istio layer (twin/istio, which talks to the server only
// through the Kubernetes API) and the DNS server, and registers the /_twin control routes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../logging/logger.js';
import { startApiServer, type ApiServer, type CountersSnapshot, type FaultConfig } from './apiserver/index.js';
import { startDnsServer, type DnsServer } from './dns/server.js';
import { DEMO_DNS_SECRET, dnsControlRoutes } from './dns/webhook.js';
import { DnsZone, type ARecord } from './dns/zone.js';
import { istioControlRoutes } from './istio/control-routes.js';
import { istioCrds } from './istio/crds.js';
import { KubeClients } from './istio/kube-client.js';
import { MeshLayer, waitFor } from './istio/mesh-layer.js';
import { namespaceObject, namespaceObjects, scenarioNamespaces } from './istio/workloads.js';
import { loadScenario, parseScenario, type IstioFaults, type Scenario } from './scenario.js';

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
  sameRootCA?: boolean;
  timings?: Partial<Scenario['timings']>;
  logger?: Logger;
  /** How long startTwin waits for the scenario's pods to run and get their CA root. */
  readyTimeoutMs?: number;
}

export interface TwinControl {
  istioFaults(): IstioFaults;
  setIstioFaults(f: Partial<IstioFaults>): IstioFaults;
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
  dnsWebhookSecret: string;
  api: ApiServer;
  mesh: MeshLayer;
  control: TwinControl;
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
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => logger.warn({ err: String(err) }, 'twin close step failed'));
  };
  try {
    const api = await startApiServer({
      port: scenario.ports.api,
      podStartDelayMs: scenario.timings.podStartDelayMs,
      rolloutPodDelayMs: scenario.timings.rolloutPodDelayMs,
      logger: logger.child({ component: 'twin-apiserver' }),
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

    // What must exist before istiod installs: the Istio CRDs and every namespace with its labels.
    const nsLabels = new Map(scenario.namespaces.map((n) => [n.name, n.labels]));
    await api.seed([...istioCrds(), ...scenarioNamespaces(scenario).map((n) => namespaceObject(n, nsLabels.get(n) ?? {}))]);

    const mesh = await MeshLayer.start({ scenario, kube, logger: logger.child({ component: 'twin-istio' }) });
    cleanups.push(() => mesh.close());

    // The applications, after the injectors answer, then the Istio config and any other objects.
    const apps = scenario.namespaces.flatMap((n) => namespaceObjects(n, mesh.backends.url).contents);
    await api.seed([...apps, ...scenario.istioConfig, ...scenario.objects]);

    const gatewayAddress = new Map(mesh.gateways.map((g) => [`${g.namespace}/${g.name}`, g.address]));
    const zone = new DnsZone(scenario.dns.records.map((r): ARecord => ({
      name: r.name, type: 'A', ttl: r.ttl, address: r.address ?? gatewayAddress.get(r.gateway ?? '') ?? '127.0.0.1',
    })));
    const dns: DnsServer = await startDnsServer(zone, { port: scenario.ports.dns, logger: logger.child({ component: 'twin-dns' }) });
    cleanups.push(() => dns.close());
    const secret = dnsWebhookSecret(scenario);
    for (const r of [...dnsControlRoutes(zone, () => secret, () => ({ host: dns.host, port: dns.port })), ...istioControlRoutes(mesh)]) {
      api.registerControlRoute(r.method, r.path, r.handler);
    }

    if (scenario.faults.api) api.faults.set(scenario.faults.api);

    await waitForSteadyState(scenario, mesh, overrides.readyTimeoutMs ?? 30_000 + 5 * countPods(scenario));

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
      controlUrls: {
        requests: `${api.url}/_twin/requests`,
        faults: `${api.url}/_twin/faults`,
        istio: `${api.url}/_twin/istio`,
        istioFaults: `${api.url}/_twin/istio/faults`,
        proxies: `${api.url}/_twin/istio/proxies`,
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
      close: closeAll,
    };
    logger.info({ api: api.url, dns: `${dns.host}:${dns.port}`, gateways }, 'twin ready');
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
  await waitFor('the scenario\'s pods to run', () => {
    const pods = mesh.view.pods.list().filter((p) => appNamespaces.has(p.metadata?.namespace ?? ''));
    return pods.length >= expected && pods.every((p) => p.status?.phase === 'Running');
  }, timeoutMs, 50);
  const istiods = [...mesh.istiods.values()];
  await waitFor('istio-ca-root-cert in every namespace', () => s.namespaces.every((n) =>
    mesh.faults.caBlocked(n.name) ||
    !istiods.some((i) => i.namespaceController.responsibleFor(n.name)) ||
    mesh.view.caRootIn(n.name) !== undefined), timeoutMs, 50);
}
