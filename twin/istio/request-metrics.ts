// Request metrics as Envoy's Istio stats filter reports them: the counter istio_requests_total with
// Istio's standard labels, one registry of series per reporting workload (what each proxy's
// /stats/prometheus would serve). A proxy reports as "source" for requests it sends out (a gateway,
// or a sidecar making an in-mesh call) and as "destination" for requests its workload receives.
// Pods without a sidecar report nothing. Labels Istio cannot know are "unknown", as in Istio.
import type { V1Pod } from '@kubernetes/client-node';
import { IstioLabel } from '../../mesh/naming.js';

/** Istio's default cluster id (values.global.multiCluster.clusterName unset). */
export const CLUSTER_ID = 'Kubernetes';
export const TRUST_DOMAIN = 'cluster.local';
export const UNKNOWN = 'unknown';

/** The standard labels of istio_requests_total, in the order Istio's stats filter emits them. */
export const REQUEST_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;
export type RequestLabel = (typeof REQUEST_LABELS)[number];
export type RequestLabels = Record<RequestLabel, string>;

/** Envoy response flags the twin produces. */
export const ResponseFlag = {
  none: '-',
  /** No route configured for the request. */
  noRoute: 'NR',
  /** No healthy upstream host in the cluster. */
  noHealthyUpstream: 'UH',
  /** Upstream connection failure. */
  upstreamConnectFailure: 'UF',
  /** The upstream cluster does not exist in the proxy's config. */
  noCluster: 'NC',
  /** Aborted by fault injection. */
  faultInjected: 'FI',
} as const;

/** What a proxy knows about a workload (peer metadata exchanged between sidecars, or its own). */
export interface WorkloadIdentity {
  workload: string;
  namespace: string;
  principal: string;
  app: string;
  version: string;
  canonicalService: string;
  canonicalRevision: string;
}

/**
 * The workload a pod belongs to, as Istio derives it (pkg/kube GetDeployMetaFromPod): a pod of a
 * ReplicaSet carrying pod-template-hash belongs to the Deployment named by the ReplicaSet's name
 * without "-<hash>"; a Job pod of a CronJob to the CronJob; otherwise to its controller; without
 * one, the pod's own name.
 */
export function workloadName(pod: V1Pod): string {
  const ref = (pod.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
  if (!ref) return pod.metadata?.name ?? UNKNOWN;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) return ref.name.slice(0, -(hash.length + 1));
  // A CronJob's Jobs are named <cronjob>-<scheduled time in minutes>.
  if (ref.kind === 'Job') {
    const m = /^(.+)-\d{8,}$/.exec(ref.name);
    if (m) return m[1]!;
  }
  return ref.name;
}

/** A pod's identity: workload, SPIFFE principal of its service account, app and canonical labels. */
export function podIdentity(pod: V1Pod): WorkloadIdentity {
  const labels = pod.metadata?.labels ?? {};
  const namespace = pod.metadata?.namespace ?? UNKNOWN;
  const workload = workloadName(pod);
  const sa = pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default';
  return {
    workload,
    namespace,
    principal: `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${sa}`,
    app: labels.app ?? UNKNOWN,
    version: labels.version ?? UNKNOWN,
    canonicalService: labels[IstioLabel.canonicalName] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload,
    canonicalRevision: labels[IstioLabel.canonicalRevision] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest',
  };
}

/** The service a request was routed to (the upstream cluster's service), if the proxy knew one. */
export interface ServiceRef {
  /** FQDN, or a pseudo-cluster name such as PassthroughCluster. */
  host: string;
  name: string;
  namespace: string;
}

export function clusterService(service: string, namespace: string): ServiceRef {
  return { host: `${service}.${namespace}.svc.cluster.local`, name: service, namespace };
}

export interface RequestReport {
  reporter: 'source' | 'destination';
  /** null: the reporter does not know the peer (no metadata exchange). */
  source: WorkloadIdentity | null;
  destination: WorkloadIdentity | null;
  service: ServiceRef | null;
  /** 0 when no HTTP response came back. */
  responseCode: number;
  responseFlags: string;
  /** Destination reporter: mutual_tls or none; the source reporter always says unknown. */
  connectionSecurityPolicy: 'mutual_tls' | 'none' | 'unknown';
}

/** Pure: the label set of one request as the reporting proxy writes it. */
export function requestLabels(r: RequestReport): RequestLabels {
  const s = r.source;
  const d = r.destination;
  return {
    reporter: r.reporter,
    source_workload: s?.workload ?? UNKNOWN,
    source_workload_namespace: s?.namespace ?? UNKNOWN,
    source_principal: s?.principal ?? UNKNOWN,
    source_app: s?.app ?? UNKNOWN,
    source_version: s?.version ?? UNKNOWN,
    source_canonical_service: s?.canonicalService ?? UNKNOWN,
    source_canonical_revision: s?.canonicalRevision ?? UNKNOWN,
    source_cluster: s ? CLUSTER_ID : UNKNOWN,
    destination_workload: d?.workload ?? UNKNOWN,
    destination_workload_namespace: d?.namespace ?? UNKNOWN,
    destination_principal: d?.principal ?? UNKNOWN,
    destination_app: d?.app ?? UNKNOWN,
    destination_version: d?.version ?? UNKNOWN,
    destination_service: r.service?.host ?? UNKNOWN,
    destination_service_name: r.service?.name ?? UNKNOWN,
    destination_service_namespace: r.service?.namespace ?? UNKNOWN,
    destination_canonical_service: d?.canonicalService ?? UNKNOWN,
    destination_canonical_revision: d?.canonicalRevision ?? UNKNOWN,
    destination_cluster: d ? CLUSTER_ID : UNKNOWN,
    request_protocol: 'http',
    response_code: String(r.responseCode),
    grpc_response_status: '',
    response_flags: r.responseFlags,
    connection_security_policy: r.connectionSecurityPolicy,
  };
}

/** Label value escaping of the Prometheus text format (backslash, double quote, newline). */
function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function seriesKey(labels: RequestLabels): string {
  return REQUEST_LABELS.map((k) => `${k}="${escapeLabelValue(labels[k])}"`).join(',');
}

/** `<namespace>/<workload>` of the reporting proxy. */
export type WorkloadKey = `${string}/${string}`;

export interface SeriesSample {
  labels: RequestLabels;
  value: number;
}

/**
 * Counters since the twin started. A restarted twin starts them at 0 again: to Prometheus that is
 * a counter reset (as when a proxy restarts), which rate() and increase() handle.
 */
export class RequestMetrics {
  private readonly byWorkload = new Map<WorkloadKey, Map<string, SeriesSample>>();

  /** Counts one request in the series of the workload whose proxy reports it. */
  record(reporter: Pick<WorkloadIdentity, 'namespace' | 'workload'>, report: RequestReport): void {
    const key: WorkloadKey = `${reporter.namespace}/${reporter.workload}`;
    let series = this.byWorkload.get(key);
    if (!series) this.byWorkload.set(key, (series = new Map()));
    const labels = requestLabels(report);
    const k = seriesKey(labels);
    const s = series.get(k);
    if (s) s.value++;
    else series.set(k, { labels, value: 1 });
  }

  workloads(): WorkloadKey[] {
    return [...this.byWorkload.keys()].sort();
  }

  series(namespace: string, workload: string): SeriesSample[] {
    return [...(this.byWorkload.get(`${namespace}/${workload}`)?.values() ?? [])].map((s) => ({ labels: { ...s.labels }, value: s.value }));
  }

  /** Prometheus text format 0.0.4, as Envoy's /stats/prometheus serves it. */
  render(namespace: string, workload: string): string {
    const lines = ['# HELP istio_requests_total Total requests.', '# TYPE istio_requests_total counter'];
    const series = [...(this.byWorkload.get(`${namespace}/${workload}`)?.values() ?? [])];
    for (const s of series.sort((a, b) => seriesKey(a.labels).localeCompare(seriesKey(b.labels)))) {
      lines.push(`istio_requests_total{${seriesKey(s.labels)}} ${s.value}`);
    }
    return `${lines.join('\n')}\n`;
  }

  reset(): void {
    this.byWorkload.clear();
  }
}
