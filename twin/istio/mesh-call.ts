// An HTTP call made from inside a pod, evaluated the way the pod's sidecar handles it (docs/istio-facts.md §7):
// no sidecar → a plain call; a sidecar not connected to its istiod → an Envoy without config
// captures the traffic → no response (000); target namespace discovered by the sidecar's istiod →
// routed in the mesh (mutual TLS when the destination has a sidecar); not discovered → ALLOW_ANY
// passes it through to the original destination, REGISTRY_ONLY sends it to BlackHoleCluster (502).
// Probe Jobs (probe-runner.ts) and POST /_twin/istio/call both go through here, so a load
// generator and a probe see the same mesh. The calling sidecar reports reporter="source".
import type { V1Pod } from '@kubernetes/client-node';
import type { ClusterView } from './cluster-view.js';
import type { Istiod } from './istiod.js';
import { NO_RESPONSE, PROBE_LABEL, parseProbeUrl, planProbe, type ProbeTarget } from './probe-runner.js';
import {
  clusterService,
  podIdentity,
  ResponseFlag,
  UNKNOWN,
  type RequestMetrics,
  type ServiceRef,
  type WorkloadIdentity,
} from './request-metrics.js';
import type { SidecarConnections } from './sidecar-connections.js';
import type { Upstreams } from './upstream.js';

export interface MeshCallsOptions {
  view: ClusterView;
  connections: SidecarConnections;
  istiodFor: (revision: string) => Istiod | undefined;
  upstreams: Upstreams;
  metrics: RequestMetrics;
}

export interface MeshCallResult {
  /** The HTTP status as curl prints it: "200", "502", "000" (no response). */
  code: string;
  why: string;
}

const pseudoCluster = (name: string): ServiceRef => ({ host: name, name, namespace: UNKNOWN });

export class MeshCalls {
  private nextCaller = new Map<string, number>();

  constructor(private readonly o: MeshCallsOptions) {}

  /**
   * A pod of the namespace to call from, as a load generator running there would be: Running, not
   * being deleted, not a probe; round robin over them (sorted by name). Undefined when none runs.
   */
  callerIn(namespace: string): V1Pod | undefined {
    const pods = this.o.view.pods
      .list()
      .filter(
        (p) =>
          p.metadata?.namespace === namespace &&
          p.status?.phase === 'Running' &&
          !p.metadata.deletionTimestamp &&
          p.metadata.labels?.[PROBE_LABEL] !== 'true',
      )
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    if (pods.length === 0) return undefined;
    const i = this.nextCaller.get(namespace) ?? 0;
    this.nextCaller.set(namespace, i + 1);
    return pods[i % pods.length];
  }

  async call(from: V1Pod, url: string): Promise<MeshCallResult> {
    const ns = from.metadata?.namespace ?? '';
    const target = parseProbeUrl(url, ns);
    const sidecar = this.o.connections.connection(from);
    const istiod = sidecar.revision ? this.o.istiodFor(sidecar.revision) : undefined;
    const view = this.o.view;
    const plan = planProbe({
      target,
      sidecar,
      ...(istiod ? { outboundMode: istiod.meshConfig.outboundTrafficPolicyMode } : {}),
      ...(istiod && target ? { targetDiscovered: istiod.discovers(target.namespace) } : {}),
      serviceExists: target ? view.services.get(target.service, target.namespace) !== undefined : false,
      hasEndpoints: target ? view.readyEndpoints(target.namespace, target.service).length > 0 : false,
    });
    // Only a connected sidecar has the config (and listeners) to report anything.
    const source: WorkloadIdentity | null = sidecar.connected ? podIdentity(from) : null;
    const report = (service: ServiceRef | null, destination: WorkloadIdentity | null, code: number, flags: string): void => {
      if (source)
        this.o.metrics.record(source, {
          reporter: 'source',
          source,
          destination,
          service,
          responseCode: code,
          responseFlags: flags,
          connectionSecurityPolicy: 'unknown',
        });
    };
    if (plan.kind === 'answer') {
      if (plan.code === '502') report(pseudoCluster('BlackHoleCluster'), null, 502, ResponseFlag.none);
      else if (plan.code === '503' && target)
        report(clusterService(target.service, target.namespace), null, 503, ResponseFlag.noHealthyUpstream);
      return { code: plan.code, why: plan.why };
    }
    return this.send(from, plan.target, plan.via, source, report);
  }

  private async send(
    from: V1Pod,
    target: ProbeTarget,
    via: 'plain' | 'mesh' | 'passthrough',
    source: WorkloadIdentity | null,
    report: (service: ServiceRef | null, destination: WorkloadIdentity | null, code: number, flags: string) => void,
  ): Promise<MeshCallResult> {
    const service = via === 'passthrough' ? pseudoCluster('PassthroughCluster') : clusterService(target.service, target.namespace);
    const pod = this.o.upstreams.pick(target.namespace, target.service);
    if (!pod) {
      // The endpoints went away between the decision and the call.
      if (via !== 'mesh') return { code: NO_RESPONSE, why: 'connection refused: no ready endpoints' };
      report(service, null, 503, ResponseFlag.noHealthyUpstream);
      return { code: '503', why: 'no healthy upstream' };
    }
    const inMesh = via === 'mesh';
    const answer = await this.o.upstreams.send(pod, {
      // Metadata exchange and auto mTLS happen only on the mesh's own clusters.
      peer: inMesh ? source : null,
      mtls: inMesh && this.o.connections.connection(pod).reason !== 'no sidecar',
      service: target,
      method: 'GET',
      path: target.path,
      headers: { 'x-twin-caller': `${from.metadata?.namespace ?? ''}/${from.metadata?.name ?? ''}` },
    });
    report(service, inMesh ? answer.destination : null, answer.status, answer.flags);
    if (via === 'plain' && answer.flags === ResponseFlag.upstreamConnectFailure)
      return { code: NO_RESPONSE, why: answer.reason ?? 'call failed' };
    return { code: String(answer.status), why: answer.reason ?? `${via} call` };
  }
}
