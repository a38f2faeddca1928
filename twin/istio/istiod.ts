// One istiod (control plane revision): its objects in the cluster, as Istio's chart installs them
// (mesh ConfigMap, Deployment, Service, sidecar-injector MWC and revision tags, the validating
// webhook configurations), and the servers and controllers behind its pods: the injector and
// validation webhooks, the webhook patcher (caBundle, failurePolicy), the namespace controller,
// discovery following the mesh config's discoverySelectors live, and the monitoring port with
// syncz and metrics.
import type { V1ConfigMap, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { IstioLabel, IstiodPort, MESH_CONFIG_KEY } from '../../mesh/naming.js';
import type { ControlPlaneSpec, IstioFaults } from '../scenario.js';
import { injectorConfiguration, istiodName, meshConfigName, validatorConfigurations, xdsAddress } from './chart.js';
import type { ClusterView } from './cluster-view.js';
import type { IstioFaultState } from './fault-state.js';
import { startInjectorServer, type InjectorServer } from './injector-server.js';
import { createIfMissing, type KubeClients } from './kube-client.js';
import { startMonitoringServer, SENDERR_TYPES, type MonitoringServer, type SendErrType } from './monitoring.js';
import { meshConfigYaml, readMeshConfig, type IstiodMeshConfig } from './mesh-config.js';
import { NamespaceController } from './namespace-controller.js';
import { ENDPOINTS_ANNOTATION } from './pod-network.js';
import { Reflector } from './reflector.js';
import type { RootCa } from './root-ca.js';
import { configVisible, selectsNamespace, type IstiodScope } from './scoping.js';
import type { SidecarConnections } from './sidecar-connections.js';
import { WebhookPatcher } from './webhook-patcher.js';

export interface IstiodOptions {
  spec: ControlPlaneSpec;
  root: RootCa;
  kube: KubeClients;
  view: ClusterView;
  connections: SidecarConnections;
  faults: IstioFaultState;
  caRewriteDelayMs: number;
  logger: Logger;
}

export class Istiod {
  readonly revision: string;
  readonly namespace: string;
  readonly version: string;
  private mesh: IstiodMeshConfig;
  private meshReflector: Reflector<V1ConfigMap> | undefined;
  private injector: InjectorServer | undefined;
  private monitoring: MonitoringServer | undefined;
  readonly namespaceController: NamespaceController;
  readonly webhookPatcher: WebhookPatcher;
  private readonly meshListeners = new Set<() => void>();
  private pushCount = 0;
  /** Push errors recorded before the current fault rates took effect. */
  private errBase: Record<SendErrType, number> = { cds_senderr: 0, eds_senderr: 0, lds_senderr: 0, rds_senderr: 0 };
  private errSince = Date.now();
  private errRates: IstioFaults['pushErrors'] = [];
  private unsubscribe: Array<() => void> = [];

  constructor(private readonly o: IstiodOptions) {
    this.revision = o.spec.revision;
    this.namespace = o.spec.namespace;
    this.version = o.spec.version;
    this.mesh = { discoverySelectors: o.spec.discoverySelectors, outboundTrafficPolicyMode: o.spec.outboundTrafficPolicy };
    this.namespaceController = new NamespaceController({
      revision: this.revision,
      rootPem: o.root.pem,
      scope: () => this.scope(),
      kube: o.kube,
      view: o.view,
      faults: o.faults,
      rewriteDelayMs: o.caRewriteDelayMs,
      logger: o.logger,
    });
    this.webhookPatcher = new WebhookPatcher({ revision: this.revision, rootPem: o.root.pem, kube: o.kube, logger: o.logger });
    this.errRates = o.faults.get().pushErrors.filter((p) => p.revision === this.revision);
  }

  get root(): RootCa {
    return this.o.root;
  }

  get meshConfig(): IstiodMeshConfig {
    return this.mesh;
  }

  scope(): IstiodScope {
    return {
      version: this.version,
      enhancedResourceScoping: this.o.spec.enhancedResourceScoping,
      discoverySelectors: this.mesh.discoverySelectors,
    };
  }

  /** Whether this istiod discovers (builds services and endpoints for) the namespace, right now. */
  discovers(namespace: string): boolean {
    const labels = this.o.view.namespaceLabels(namespace);
    return labels !== undefined && selectsNamespace(this.mesh.discoverySelectors, labels);
  }

  /** Whether Istio config in the namespace reaches this istiod's push context. */
  seesConfigIn(namespace: string): boolean {
    const labels = this.o.view.namespaceLabels(namespace);
    return labels !== undefined && configVisible(this.scope(), labels);
  }

  onMeshConfigChange(fn: () => void): () => void {
    this.meshListeners.add(fn);
    return () => this.meshListeners.delete(fn);
  }

  pushErrors(): Record<SendErrType, number> {
    const out = { ...this.errBase };
    const elapsed = (Date.now() - this.errSince) / 1000;
    for (const f of this.errRates) out[f.type] += Math.floor(f.perSecond * elapsed);
    return out;
  }

  /** Starts the servers behind the pods (their addresses go into the Deployment's pod template). */
  async startServers(preferredPorts: { injector?: number | undefined; monitoring?: number | undefined } = {}): Promise<void> {
    const log = this.o.logger.child({ revision: this.revision });
    this.injector = await startInjectorServer(
      {
        revision: this.revision,
        version: this.version,
        discoveryAddress: xdsAddress(this.revision, this.namespace),
        istiodNamespace: this.namespace,
      },
      log,
      '127.0.0.1',
      preferredPorts.injector,
    );
    this.monitoring = await startMonitoringServer(
      {
        revision: this.revision,
        version: this.version,
        connectedProxies: () => this.o.connections.connectedTo(this.revision),
        isStale: (p) => this.o.faults.proxyStale(p.metadata?.namespace ?? '', p.metadata?.name ?? ''),
        pushErrors: () => this.pushErrors(),
        pushes: () => this.pushCount,
      },
      '127.0.0.1',
      preferredPorts.monitoring,
    );
    this.unsubscribe.push(
      this.o.connections.onChange(() => {
        this.pushCount++;
      }),
      // Fold the errors so far into the base when rates change, so counters never go backwards.
      this.o.faults.onChange((f) => {
        this.errBase = this.pushErrors();
        this.errSince = Date.now();
        this.errRates = f.pushErrors.filter((p) => p.revision === this.revision);
      }),
    );
  }

  get endpoints(): { monitoring: string; injector: string } {
    if (!this.injector || !this.monitoring) throw new Error('istiod servers not started');
    return { monitoring: this.monitoring.url, injector: this.injector.url };
  }

  injections(): number {
    return this.injector?.injections() ?? 0;
  }

  /** The objects the chart would install, created through the API (existing ones left alone). */
  async install(): Promise<void> {
    const { kube, spec } = this.o;
    const name = istiodName(this.revision);
    const podLabels = { app: 'istiod', [IstioLabel.rev]: this.revision, istio: 'pilot' };
    const meshCm: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: meshConfigName(this.revision),
        namespace: this.namespace,
        labels: { [IstioLabel.rev]: this.revision, release: 'istio' },
      },
      data: {
        [MESH_CONFIG_KEY]: meshConfigYaml({
          discoverySelectors: spec.discoverySelectors,
          outboundTrafficPolicyMode: spec.outboundTrafficPolicy,
          rootNamespace: this.namespace,
          trustDomain: 'cluster.local',
        }),
        meshNetworks: 'networks: {}\n',
      },
    };
    const svc: V1Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: this.namespace, labels: { app: 'istiod', [IstioLabel.rev]: this.revision, istio: 'pilot' } },
      spec: {
        type: 'ClusterIP',
        selector: { app: 'istiod', [IstioLabel.rev]: this.revision },
        ports: [
          { name: 'grpc-xds', port: 15010, protocol: 'TCP', targetPort: 15010 },
          { name: 'https-dns', port: IstiodPort.xds, protocol: 'TCP', targetPort: IstiodPort.xds },
          { name: 'https-webhook', port: 443, protocol: 'TCP', targetPort: IstiodPort.webhook },
          { name: 'http-monitoring', port: IstiodPort.monitoring, protocol: 'TCP', targetPort: IstiodPort.monitoring },
        ],
      },
    };
    const env = [
      { name: 'REVISION', value: this.revision },
      { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      ...(spec.enhancedResourceScoping !== undefined
        ? [{ name: 'ENABLE_ENHANCED_RESOURCE_SCOPING', value: String(spec.enhancedResourceScoping) }]
        : []),
    ];
    const deploy: V1Deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: this.namespace, labels: { app: 'istiod', [IstioLabel.rev]: this.revision, istio: 'pilot' } },
      spec: {
        replicas: spec.replicas,
        selector: { matchLabels: { app: 'istiod', [IstioLabel.rev]: this.revision } },
        template: {
          metadata: {
            labels: { ...podLabels, [IstioLabel.inject]: 'false' },
            annotations: {
              [ENDPOINTS_ANNOTATION]: JSON.stringify({
                [IstiodPort.monitoring]: this.endpoints.monitoring,
                [IstiodPort.webhook]: this.endpoints.injector,
              }),
            },
          },
          spec: {
            serviceAccountName: name,
            containers: [
              {
                name: 'discovery',
                image: `docker.io/istio/pilot:${this.version}`,
                args: [
                  'discovery',
                  '--monitoringAddr=:15014',
                  '--log_output_level=default:info',
                  '--domain',
                  'cluster.local',
                  '--keepaliveMaxServerConnectionAge',
                  '30m',
                ],
                ports: [
                  { containerPort: 8080, protocol: 'TCP' },
                  { containerPort: 15010, protocol: 'TCP' },
                  { containerPort: IstiodPort.webhook, protocol: 'TCP' },
                  { containerPort: IstiodPort.monitoring, protocol: 'TCP', name: 'http-monitoring' },
                ],
                env,
                readinessProbe: { httpGet: { path: '/ready', port: 8080 }, initialDelaySeconds: 1, periodSeconds: 3 },
              },
            ],
          },
        },
      },
    };
    await createIfMissing(() => kube.core.createNamespacedConfigMap({ namespace: this.namespace, body: meshCm }));
    await createIfMissing(() => kube.core.createNamespacedService({ namespace: this.namespace, body: svc }));
    await createIfMissing(() => kube.apps.createNamespacedDeployment({ namespace: this.namespace, body: deploy }));
    // The chart renders an empty caBundle and istiod patches its root in (webhook-patcher.ts); the
    // twin creates them already patched, so a fresh cluster shows no writes to them.
    const caBundle = Buffer.from(this.o.root.pem, 'utf8').toString('base64');
    const configs = [
      injectorConfiguration(this.revision, { legacy: spec.isDefault, namespace: this.namespace, caBundle }),
      ...spec.tags.map((tag) => injectorConfiguration(this.revision, { legacy: false, tag, namespace: this.namespace, caBundle })),
    ];
    for (const mwc of configs) {
      await createIfMissing(() => kube.admission.createMutatingWebhookConfiguration({ body: mwc as never }));
    }
    for (const vwc of validatorConfigurations(this.revision, this.namespace, spec.isDefault, caBundle)) {
      await createIfMissing(() => kube.admission.createValidatingWebhookConfiguration({ body: vwc as never }));
    }
  }

  /** Follows the mesh ConfigMap (discoverySelectors, outbound policy) and runs the namespace controller. */
  startControllers(): void {
    const name = meshConfigName(this.revision);
    const kube = this.o.kube;
    this.meshReflector = new Reflector<V1ConfigMap>({
      kc: kube.kc,
      logger: this.o.logger,
      path: `/api/v1/namespaces/${this.namespace}/configmaps`,
      fieldSelector: `metadata.name=${name}`,
      list: () => kube.core.listNamespacedConfigMap({ namespace: this.namespace, fieldSelector: `metadata.name=${name}` }),
    });
    this.meshReflector.on((event, cm) => {
      if (event === 'delete') return; // istiod keeps its last mesh config
      try {
        this.mesh = readMeshConfig(cm.data?.[MESH_CONFIG_KEY]);
      } catch (err) {
        // istiod keeps the last valid config and logs, as it does for a bad mesh config.
        this.o.logger.warn(
          { revision: this.revision, err: err instanceof Error ? err.message : String(err) },
          'ignoring invalid mesh config',
        );
        return;
      }
      this.namespaceController.resyncAll();
      for (const l of [...this.meshListeners]) l();
    });
    this.meshReflector.start();
    this.namespaceController.start();
  }

  /**
   * Starts patching the webhook configurations (caBundle; failurePolicy Fail on the validating
   * ones). Called once istiod's pods are Ready: real istiod makes its validators fail-closed only
   * after it has seen its own webhook answer.
   */
  async startWebhookPatcher(): Promise<void> {
    this.webhookPatcher.start();
    await this.webhookPatcher.synced();
  }

  async meshConfigSynced(): Promise<void> {
    await this.meshReflector?.synced;
  }

  async close(): Promise<void> {
    for (const u of this.unsubscribe) u();
    this.meshReflector?.stop();
    this.namespaceController.stop();
    this.webhookPatcher.stop();
    await Promise.all([this.injector?.close(), this.monitoring?.close()]);
  }

  /** Summary for GET /_twin/istio. */
  describe(): Record<string, unknown> {
    return {
      revision: this.revision,
      namespace: this.namespace,
      version: this.version,
      rootFingerprint: this.o.root.fingerprint256,
      rootCaId: this.o.root.id,
      outboundTrafficPolicy: this.mesh.outboundTrafficPolicyMode,
      discoverySelectors: this.mesh.discoverySelectors,
      enhancedResourceScoping: this.o.spec.enhancedResourceScoping ?? null,
      discoveredNamespaces: this.o.view.namespaces
        .list()
        .map((n) => n.metadata?.name ?? '')
        .filter((n) => this.discovers(n)).length,
      connectedProxies: this.o.connections.connectedTo(this.revision).length,
      injections: this.injections(),
      caWrites: this.namespaceController.writes,
      webhookPatches: this.webhookPatcher.patches,
      endpoints: this.injector && this.monitoring ? this.endpoints : null,
      pushErrors: this.pushErrors(),
      senderrTypes: SENDERR_TYPES,
    };
  }
}
