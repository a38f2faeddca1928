// The probe runner: how a call made from inside a namespace is executed in the twin.
//
// CONTRACT (the same on a real cluster, where a real curl runs):
//   The caller creates a batch/v1 Job in the calling namespace whose pod template has the label
//   `meshmove.dev/probe: "true"` and a container named `probe` with env `URL` (the URL to call).
//   On a real cluster that container runs
//     curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL" > /dev/termination-log
//   (then asks its sidecar to quit: curl -X POST localhost:15020/quitquitquit), so the HTTP status
//   code, or `000` when no connection could be made, lands in the pod's
//   status.containerStatuses[name=probe].state.terminated.message.
//   In the twin no container runs: this runner watches pods labeled meshmove.dev/probe=true and,
//   once one is Running, evaluates the call the way the pod's sidecar would, then finishes the pod
//   through the pods/status subresource: phase Succeeded, every container terminated with
//   exitCode 0, and the probe container's terminated.message = the status code ("200", "502",
//   "000"). The Job controller then completes the Job. Read the result from the pod, not the Job.
//
// How the call is evaluated (docs/istio-facts.md §7, planProbe below; executed by mesh-call.ts, shared with
// POST /_twin/istio/call): no sidecar → a plain call; a sidecar not connected to its istiod (root
// CA mismatch, no CA ConfigMap) → traffic is captured by an Envoy without config → 000; target
// namespace discovered by the sidecar's istiod → routed; not discovered → ALLOW_ANY passes it
// through to the original destination, REGISTRY_ONLY sends it to BlackHoleCluster → 502.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { passesThroughUnknownHosts, type OutboundMode } from './mesh-config.js';
import type { ClusterView } from './cluster-view.js';
import { parseServiceHost } from './gateway-routing.js';
import { MERGE_PATCH, isNotFound, onConflict, retrying, type KubeClients } from './kube-client.js';
import type { MeshCalls } from './mesh-call.js';
import type { SidecarConnection } from './sidecar-connections.js';

export const PROBE_LABEL = 'meshmove.dev/probe';
export const PROBE_CONTAINER = 'probe';
export const PROBE_URL_ENV = 'URL';
/** curl's http_code when no HTTP response was received. */
export const NO_RESPONSE = '000';

export interface ProbeTarget {
  service: string;
  namespace: string;
  port: number;
  path: string;
}

/** A cluster service URL (http://svc.ns.svc.cluster.local:8080/p), or null for anything else. */
export function parseProbeUrl(url: string, callerNamespace: string): ProbeTarget | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:') return null;
  const svc = parseServiceHost(u.hostname, callerNamespace);
  if (!svc) return null;
  return { ...svc, port: u.port ? Number(u.port) : 80, path: `${u.pathname}${u.search}` };
}

export type ProbePlan =
  { kind: 'answer'; code: string; why: string } | { kind: 'call'; target: ProbeTarget; via: 'plain' | 'mesh' | 'passthrough' };

export interface ProbeFacts {
  target: ProbeTarget | null;
  sidecar: SidecarConnection;
  /** Outbound policy of the sidecar's istiod (when it has one). */
  outboundMode?: OutboundMode;
  /** The sidecar's istiod discovers the target namespace. */
  targetDiscovered?: boolean;
  serviceExists: boolean;
  hasEndpoints: boolean;
}

/** Pure: what the call from this pod does. */
export function planProbe(f: ProbeFacts): ProbePlan {
  if (!f.target) return { kind: 'answer', code: NO_RESPONSE, why: 'not a cluster service URL: cannot resolve' };
  const reachable = (via: 'plain' | 'mesh' | 'passthrough'): ProbePlan => {
    if (!f.serviceExists)
      return { kind: 'answer', code: NO_RESPONSE, why: `service ${f.target!.service}.${f.target!.namespace} does not resolve` };
    if (!f.hasEndpoints) {
      return via === 'mesh'
        ? { kind: 'answer', code: '503', why: 'no healthy upstream' }
        : { kind: 'answer', code: NO_RESPONSE, why: 'connection refused: no ready endpoints' };
    }
    return { kind: 'call', target: f.target!, via };
  };
  if (f.sidecar.revision === null && !f.sidecar.connected && f.sidecar.reason === 'no sidecar') return reachable('plain');
  if (!f.sidecar.connected) return { kind: 'answer', code: NO_RESPONSE, why: `sidecar not connected: ${f.sidecar.reason ?? ''}` };
  if (f.targetDiscovered) return reachable('mesh');
  if (passesThroughUnknownHosts(f.outboundMode ?? 'ALLOW_ANY')) return reachable('passthrough');
  return { kind: 'answer', code: '502', why: "REGISTRY_ONLY: target not in the registry of the sidecar's istiod → BlackHoleCluster" };
}

export interface ProbeRunnerOptions {
  kube: KubeClients;
  view: ClusterView;
  /** Executes the probe's call as the pod's sidecar would. */
  calls: MeshCalls;
  logger: Logger;
}

export interface ProbeRecord {
  pod: string;
  url: string;
  code: string;
  why: string;
  at: string;
}

export class ProbeRunner {
  private readonly done = new Set<string>();
  private readonly inFlight = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  /** Recent results, newest last (GET /_twin/istio shows them). */
  readonly history: ProbeRecord[] = [];

  constructor(private readonly o: ProbeRunnerOptions) {}

  start(): void {
    this.unsubscribe = this.o.view.pods.on((event, pod) => {
      if (event === 'delete') {
        this.done.delete(pod.metadata?.uid ?? '');
        return;
      }
      this.consider(pod);
    });
    for (const p of this.o.view.pods.list()) this.consider(p);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
  }

  private consider(pod: V1Pod): void {
    if (pod.metadata?.labels?.[PROBE_LABEL] !== 'true') return;
    const uid = pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (this.done.has(uid) || this.inFlight.has(uid)) return;
    if (pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp) return;
    this.inFlight.add(uid);
    void this.run(pod)
      .then(() => this.done.add(uid))
      .catch((err: unknown) =>
        this.o.logger.warn({ err: String(err), pod: pod.metadata?.name }, 'probe failed to finish; will retry on the next pod event'),
      )
      .finally(() => this.inFlight.delete(uid));
  }

  /** Evaluates the pod's call and returns the status code string. */
  async evaluate(pod: V1Pod): Promise<{ code: string; why: string; url: string }> {
    const container = (pod.spec?.containers ?? []).find((c) => c.name === PROBE_CONTAINER);
    const url = container?.env?.find((e) => e.name === PROBE_URL_ENV)?.value ?? '';
    try {
      return { ...(await this.o.calls.call(pod, url)), url };
    } catch (err) {
      return { code: NO_RESPONSE, why: `call failed: ${String(err)}`, url };
    }
  }

  private async run(pod: V1Pod): Promise<void> {
    const { code, why, url } = await this.evaluate(pod);
    if (this.stopped) return;
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    const now = new Date().toISOString();
    const startedAt = pod.status?.startTime ? new Date(pod.status.startTime).toISOString() : now;
    const terminated = (c: string) => ({
      name: c,
      ready: false,
      restartCount: 0,
      started: false,
      image: (pod.spec?.containers ?? []).find((x) => x.name === c)?.image ?? '',
      imageID: '',
      state: {
        terminated: { exitCode: 0, reason: 'Completed', startedAt, finishedAt: now, ...(c === PROBE_CONTAINER ? { message: code } : {}) },
      },
    });
    const body = {
      status: {
        phase: 'Succeeded',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: startedAt },
          { type: 'Initialized', status: 'True', lastTransitionTime: startedAt },
          { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
          { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
        ],
        containerStatuses: (pod.spec?.containers ?? []).map((c) => terminated(c.name)),
      },
    };
    try {
      // The status is absolute (what the probe found): after a conflict it is written again as it is.
      await onConflict(() => retrying(() => this.o.kube.core.patchNamespacedPodStatus({ name, namespace, body }, MERGE_PATCH)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.history.push({ pod: `${namespace}/${name}`, url, code, why, at: now });
    if (this.history.length > 200) this.history.shift();
    this.o.logger.debug({ pod: `${namespace}/${name}`, url, code, why }, 'probe finished');
  }
}
