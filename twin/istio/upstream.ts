// The destination side of a routed request, shared by the gateways and in-mesh calls: pick one of
// the service's ready endpoints (round robin, as Envoy's default load balancer spreads requests),
// let the destination app answer (the shared app server, or an injected request error), and have
// the destination pod's sidecar, if it has one, report the request (reporter="destination").
import type { V1Pod } from '@kubernetes/client-node';
import { forwardToBackend, type AppBackends } from './app-backends.js';
import type { ClusterView } from './cluster-view.js';
import type { RequestErrorInjector } from './request-errors.js';
import { clusterService, podIdentity, ResponseFlag, type RequestMetrics, type WorkloadIdentity } from './request-metrics.js';
import type { SidecarConnections } from './sidecar-connections.js';

export interface UpstreamRequest {
  /** The caller as the destination's sidecar learns it (metadata exchange); null when it cannot. */
  peer: WorkloadIdentity | null;
  /** The connection is Istio mutual TLS (caller's sidecar → destination's sidecar, auto mTLS). */
  mtls: boolean;
  service: { service: string; namespace: string };
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface UpstreamAnswer {
  /** 0 when no HTTP response came back. */
  status: number;
  body: Buffer;
  headers: Record<string, string>;
  /** The response flags the calling proxy reports. */
  flags: string;
  /** The destination workload as the caller's proxy knows it. */
  destination: WorkloadIdentity;
  /** The destination pod has a sidecar. */
  sidecar: boolean;
  /** The destination's injecting revision (null without a sidecar). */
  revision: string | null;
  /** Why the answer is not the app's, when it is not. */
  reason?: string;
}

export interface UpstreamsOptions {
  view: ClusterView;
  connections: SidecarConnections;
  backends: AppBackends;
  metrics: RequestMetrics;
  errors: RequestErrorInjector;
}

export const INJECTED_ERROR_REASON = 'injected request error (requestErrors fault)';

export class Upstreams {
  private readonly next = new Map<string, number>();

  constructor(private readonly o: UpstreamsOptions) {}

  /** The endpoint the next request to this service goes to: a ready pod, round robin; undefined when none. */
  pick(namespace: string, service: string): V1Pod | undefined {
    const pods = this.o.view
      .readyEndpoints(namespace, service)
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    if (pods.length === 0) return undefined;
    const key = `${namespace}/${service}`;
    const i = this.next.get(key) ?? 0;
    this.next.set(key, i + 1);
    return pods[i % pods.length];
  }

  /** Revision of the sidecar injected into the pod; null without one. */
  revisionOf(pod: V1Pod): string | null {
    return this.o.connections.connection(pod).revision;
  }

  private hasSidecar(pod: V1Pod): boolean {
    return this.o.connections.connection(pod).reason !== 'no sidecar';
  }

  /** The request arrives at `pod`: its app answers (or the error fault does) and its sidecar reports it. */
  async send(pod: V1Pod, req: UpstreamRequest): Promise<UpstreamAnswer> {
    const sidecar = this.hasSidecar(pod);
    const revision = this.revisionOf(pod);
    const identity = podIdentity(pod);
    // Without a sidecar no SPIFFE identity is presented: the caller cannot know the principal.
    const destination: WorkloadIdentity = sidecar ? identity : { ...identity, principal: 'unknown' };
    const injected = this.o.errors.next({ kind: 'destination', namespace: identity.namespace, revision });
    let answer: Omit<UpstreamAnswer, 'destination' | 'sidecar' | 'revision'>;
    let destFlags: string = ResponseFlag.none;
    if (injected !== undefined) {
      answer = {
        status: injected,
        body: Buffer.from('injected error\n'),
        headers: { 'content-type': 'text/plain' },
        flags: ResponseFlag.none,
        reason: INJECTED_ERROR_REASON,
      };
    } else {
      try {
        const out = await forwardToBackend(this.o.backends, req.service, req.method, req.path, req.headers ?? {}, req.body);
        answer = { status: out.status, body: out.body, headers: out.headers, flags: ResponseFlag.none };
      } catch (err) {
        // The destination's sidecar cannot reach its app: it answers 503 UF; without a sidecar the
        // caller's proxy sees the connect failure itself.
        destFlags = ResponseFlag.upstreamConnectFailure;
        answer = {
          status: 503,
          body: Buffer.from('upstream connect error or disconnect/reset before headers'),
          headers: { 'content-type': 'text/plain' },
          flags: sidecar ? ResponseFlag.none : ResponseFlag.upstreamConnectFailure,
          reason: `upstream connect error: ${String(err)}`,
        };
      }
    }
    if (sidecar) {
      this.o.metrics.record(identity, {
        reporter: 'destination',
        source: req.peer,
        destination: identity,
        service: clusterService(req.service.service, req.service.namespace),
        responseCode: answer.status,
        responseFlags: destFlags,
        connectionSecurityPolicy: req.mtls ? 'mutual_tls' : 'none',
      });
    }
    return { ...answer, destination, sidecar, revision };
  }
}
