// An ingress gateway: a real HTTP server on its own loopback address (its "external IP"), and in the
// cluster its Deployment (pods injected with the gateway template by its revision's webhook) and a
// LoadBalancer Service whose status carries that address. A request is routed with the config of
// the istiod the gateway's proxy is connected to (gateway-routing.ts); a gateway whose proxy is not
// connected has no listeners and answers 503. Every answer is counted as Envoy's stats filter
// counts it (reporter="source", the gateway's workload; request-metrics.ts), and a requestErrors
// fault on the gateway aborts requests before they reach the destination.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { IstioLabel } from '../../mesh/naming.js';
import { revisionLabel } from './chart.js';
import type { GatewaySpec } from '../scenario.js';
import type { ClusterView } from './cluster-view.js';
import { routeRequest, type RouteDecision } from './gateway-routing.js';
import { closeServer, listenPreferring } from './injector-server.js';
import type { Istiod } from './istiod.js';
import { MERGE_PATCH, createIfMissing, isNotFound, onConflict, retrying, type KubeClients } from './kube-client.js';
import { endpointsAnnotation } from './pod-network.js';
import type { RequestErrorInjector } from './request-errors.js';
import {
  clusterService,
  podIdentity,
  ResponseFlag,
  TRUST_DOMAIN,
  type RequestMetrics,
  type ServiceRef,
  type WorkloadIdentity,
} from './request-metrics.js';
import type { SidecarConnections } from './sidecar-connections.js';
import type { Upstreams } from './upstream.js';
import { TEMPLATES_ANNOTATION } from './sidecar-template.js';

/** The port the gateway container listens on inside its pod (the Service's targetPort). */
export const GATEWAY_CONTAINER_PORT = 8080;
export const REASON_HEADER = 'x-twin-reason';

export interface IngressGatewayOptions {
  spec: GatewaySpec;
  kube: KubeClients;
  view: ClusterView;
  connections: SidecarConnections;
  istiodFor: (revision: string) => Istiod | undefined;
  upstreams: Upstreams;
  metrics: RequestMetrics;
  errors: RequestErrorInjector;
  logger: Logger;
}

export class IngressGateway {
  private server: Server | undefined;
  port = 0;
  requests = 0;

  constructor(private readonly o: IngressGatewayOptions) {}

  get name(): string {
    return this.o.spec.name;
  }

  get namespace(): string {
    return this.o.spec.namespace;
  }

  get address(): string {
    return this.o.spec.address;
  }

  get url(): string {
    return `http://${this.o.spec.address}:${this.port}`;
  }

  /** Listens on the spec's port, or when that is 0 on `preferredPort` (a restored twin's) if free, else any. */
  async start(preferredPort = 0): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    if (this.o.spec.port === 0) {
      this.port = await listenPreferring(server, this.o.spec.address, preferredPort);
    } else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.o.spec.port, this.o.spec.address, () => resolve());
      });
      this.port = (server.address() as AddressInfo).port;
    }
    this.server = server;
  }

  /**
   * After a restore: the gateway's Service (if it still exists) publishes the port this gateway
   * listens on now. Nothing is created: a deleted gateway stays deleted.
   */
  async refreshService(): Promise<void> {
    const { kube, spec } = this.o;
    // A conflict on either patch: read the Service again and decide again.
    await onConflict(async () => {
      let svc: V1Service;
      try {
        svc = await retrying(() => kube.core.readNamespacedService({ name: spec.name, namespace: spec.namespace }));
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      const ports = svc.spec?.ports ?? [];
      const published = svc.status?.loadBalancer?.ingress?.[0]?.ports?.[0]?.port;
      if (ports.length === 1 && ports[0]!.port === this.port && published === this.port) return;
      const body = { spec: { ports: [{ name: 'http2', port: this.port, targetPort: GATEWAY_CONTAINER_PORT, protocol: 'TCP' }] } };
      await retrying(() => kube.core.patchNamespacedService({ name: spec.name, namespace: spec.namespace, body }, MERGE_PATCH));
      await this.publishAddress();
    });
  }

  /** The cloud controller's part: publish the external address through the status subresource. */
  private async publishAddress(): Promise<void> {
    const { kube, spec } = this.o;
    const status = { status: { loadBalancer: { ingress: [{ ip: spec.address, ports: [{ port: this.port, protocol: 'TCP' }] }] } } };
    await retrying(() => kube.core.patchNamespacedServiceStatus({ name: spec.name, namespace: spec.namespace, body: status }, MERGE_PATCH));
  }

  async close(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }

  /** Pod labels: the scenario's plus what makes its revision's webhook inject it (the gateway chart's). */
  podLabels(): Record<string, string> {
    const l: Record<string, string> = { ...this.o.spec.labels, [IstioLabel.inject]: 'true' };
    // The gateway chart labels pods with istio.io/rev only for a non-default revision.
    if (revisionLabel(this.o.spec.revision) !== 'default') l[IstioLabel.rev] = this.o.spec.revision;
    return l;
  }

  async install(): Promise<void> {
    const { kube, spec } = this.o;
    const deploy: V1Deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: spec.name, namespace: spec.namespace, labels: { ...spec.labels } },
      spec: {
        replicas: spec.replicas,
        selector: { matchLabels: { ...spec.labels } },
        template: {
          metadata: {
            labels: this.podLabels(),
            annotations: {
              [TEMPLATES_ANNOTATION]: 'gateway',
              ...endpointsAnnotation({ [GATEWAY_CONTAINER_PORT]: `http://${spec.address}:${this.port}` }),
            },
          },
          spec: {
            containers: [
              { name: 'istio-proxy', image: 'auto', ports: [{ containerPort: GATEWAY_CONTAINER_PORT, name: 'http2', protocol: 'TCP' }] },
            ],
          },
        },
      },
    };
    const svc: V1Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: spec.name, namespace: spec.namespace, labels: { ...spec.labels } },
      spec: {
        type: 'LoadBalancer',
        selector: { ...spec.labels },
        ports: [{ name: 'http2', port: this.port, targetPort: GATEWAY_CONTAINER_PORT, protocol: 'TCP' }],
      },
    };
    await createIfMissing(() => kube.apps.createNamespacedDeployment({ namespace: spec.namespace, body: deploy }));
    await createIfMissing(() => kube.core.createNamespacedService({ namespace: spec.namespace, body: svc }));
    // The status is absolute (this gateway's address): after a conflict it is written again as it is.
    await onConflict(() => this.publishAddress());
  }

  /** The gateway's running pods and, of those, one whose proxy is connected. */
  private gatewayPods(): V1Pod[] {
    return this.o.view.pods
      .list()
      .filter(
        (p) =>
          p.metadata?.namespace === this.o.spec.namespace &&
          Object.entries(this.o.spec.labels).every(([k, v]) => p.metadata?.labels?.[k] === v),
      );
  }

  private connectedPod(): { pod?: V1Pod; revision?: string; reason: string } {
    const pods = this.gatewayPods();
    let reason = 'no gateway pod is running';
    for (const p of pods) {
      const c = this.o.connections.connection(p);
      if (c.connected && c.revision) return { pod: p, revision: c.revision, reason: '' };
      if (c.reason) reason = `gateway proxy ${p.metadata?.name ?? ''} not connected: ${c.reason}`;
    }
    return { reason };
  }

  /** Routing decision for a request, from the current cluster state. */
  decide(hostHeader: string | undefined, path: string): RouteDecision {
    const { pod, revision, reason } = this.connectedPod();
    const istiod = revision ? this.o.istiodFor(revision) : undefined;
    if (!pod || !istiod) return { status: 503, reason };
    const view = this.o.view;
    return routeRequest(hostHeader, path, {
      podLabels: pod.metadata?.labels ?? {},
      namespace: this.o.spec.namespace,
      gateways: view.gateways.list(),
      virtualServices: view.virtualServices.list(),
      seesConfigIn: (ns) => istiod.seesConfigIn(ns),
      discovers: (ns) => istiod.discovers(ns),
      serviceExists: (ns, name) => view.services.get(name, ns) !== undefined,
      hasEndpoints: (ns, name) => view.readyEndpoints(ns, name).length > 0,
    });
  }

  /** The gateway proxy as it reports itself: from one of its pods, else from the spec. */
  private identity(pod: V1Pod | undefined): WorkloadIdentity {
    const p = pod ?? this.gatewayPods()[0];
    if (p) return podIdentity(p);
    const labels = this.podLabels();
    const { name, namespace } = this.o.spec;
    return {
      workload: name,
      namespace,
      principal: `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/default`,
      app: labels.app ?? 'unknown',
      version: labels.version ?? 'unknown',
      canonicalService: labels[IstioLabel.canonicalName] ?? labels.app ?? name,
      canonicalRevision: labels[IstioLabel.canonicalRevision] ?? labels.version ?? 'latest',
    };
  }

  private report(
    source: WorkloadIdentity,
    service: ServiceRef | null,
    destination: WorkloadIdentity | null,
    code: number,
    flags: string,
  ): void {
    this.o.metrics.record(source, {
      reporter: 'source',
      source,
      destination,
      service,
      responseCode: code,
      responseFlags: flags,
      connectionSecurityPolicy: 'unknown',
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { pod } = this.connectedPod();
    const source = this.identity(pod);
    const decision = this.decide(req.headers.host, req.url ?? '/');
    if (decision.status === 404) {
      this.report(source, null, null, 404, ResponseFlag.noRoute);
      res.writeHead(404, { [REASON_HEADER]: decision.reason }).end();
      return;
    }
    if (decision.status === 503) {
      const d = decision.destination;
      // A destination with a cluster but no ready endpoint: UH; no cluster for it (not discovered,
      // no such service): NC; the gateway itself without config: no service at all.
      const flags = !d
        ? ResponseFlag.noHealthyUpstream
        : decision.reason.startsWith('no healthy upstream')
          ? ResponseFlag.noHealthyUpstream
          : ResponseFlag.noCluster;
      this.report(source, d ? clusterService(d.service, d.namespace) : null, null, 503, flags);
      res.writeHead(503, { 'Content-Type': 'text/plain', [REASON_HEADER]: decision.reason }).end('no healthy upstream');
      return;
    }
    const service = clusterService(decision.destination.service, decision.destination.namespace);
    const target = this.o.upstreams.pick(decision.destination.namespace, decision.destination.service);
    if (!target) {
      this.report(source, service, null, 503, ResponseFlag.noHealthyUpstream);
      res
        .writeHead(503, { 'Content-Type': 'text/plain', [REASON_HEADER]: `no healthy upstream for ${service.host}` })
        .end('no healthy upstream');
      return;
    }
    const aborted = this.o.errors.next({
      kind: 'gateway',
      gateway: `${this.namespace}/${this.name}`,
      revision: this.o.upstreams.revisionOf(target),
    });
    if (aborted !== undefined) {
      this.report(source, service, null, aborted, ResponseFlag.faultInjected);
      res
        .writeHead(aborted, {
          'Content-Type': 'text/plain',
          [REASON_HEADER]: 'injected request error at the gateway (requestErrors fault)',
        })
        .end('fault filter abort');
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'content-length') headers[k] = v;
    const destSidecar = this.o.connections.connection(target).reason !== 'no sidecar';
    const out = await this.o.upstreams.send(target, {
      peer: source,
      mtls: destSidecar,
      service: decision.destination,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      body: Buffer.concat(chunks),
    });
    this.report(source, service, out.destination, out.status, out.flags);
    if (out.reason) {
      if (out.flags === ResponseFlag.upstreamConnectFailure)
        this.o.logger.warn({ reason: out.reason, gateway: this.name }, 'upstream failed');
      res.writeHead(out.status, { ...out.headers, 'x-twin-route': decision.virtualService, [REASON_HEADER]: out.reason }).end(out.body);
      return;
    }
    res.writeHead(out.status, { ...out.headers, 'x-twin-route': decision.virtualService }).end(out.body);
  }
}
