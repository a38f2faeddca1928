// The simulated pod network. Pods have made-up IPs that are never contacted; a pod that should
// answer for real carries the annotation twin.meshmove.dev/endpoints mapping containerPort →
// loopback host:port (optionally with an http:// or https:// scheme). Port-forward, the service
// proxy and webhook service references all resolve through here.
import type { ResourceRegistry } from './resources.js';
import type { Store } from './storage.js';
import { isPlainObject, type KubeObject } from './types.js';

export const ENDPOINTS_ANNOTATION = 'twin.meshmove.dev/endpoints';

export interface PodAddress {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

export function podEndpoints(pod: KubeObject): Record<string, string> {
  const raw = pod.metadata.annotations?.[ENDPOINTS_ANNOTATION];
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return isPlainObject(parsed) ? Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)])) : {};
  } catch {
    return {};
  }
}

export function parseAddress(s: string): PodAddress | undefined {
  const m = /^(?:(https?):\/\/)?([^:/]+):(\d+)\/?$/.exec(s);
  if (!m) return undefined;
  const host = m[2]!;
  // Only loopback: the twin never reaches outside the machine.
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') return undefined;
  return { scheme: (m[1] as 'http' | 'https' | undefined) ?? 'http', host, port: Number(m[3]) };
}

export function podAddress(pod: KubeObject, containerPort: number): PodAddress | undefined {
  const s = podEndpoints(pod)[String(containerPort)];
  return s === undefined ? undefined : parseAddress(s);
}

export function isPodReady(pod: KubeObject): boolean {
  const status = pod.status as { phase?: string; conditions?: Array<{ type: string; status: string }> } | undefined;
  return (
    status?.phase === 'Running' &&
    !pod.metadata.deletionTimestamp &&
    (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** A named targetPort resolved against the pod's container ports. */
export function resolveTargetPort(pod: KubeObject, target: number | string): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const containers = (pod.spec?.containers ?? []) as Array<{ ports?: Array<{ name?: string; containerPort?: number }> }>;
  for (const c of containers) for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
  return undefined;
}

export interface ServiceBackend {
  pod: KubeObject;
  containerPort: number;
  address: PodAddress | undefined;
}

export class PodNetwork {
  constructor(
    private readonly store: Store,
    private readonly registry: ResourceRegistry,
  ) {}

  /** Ready pods selected by the service, with the container port its `port` (number or name) maps to. */
  serviceBackends(
    namespace: string,
    service: string,
    port: number | string,
  ): { service?: KubeObject; backends: ServiceBackend[]; portFound: boolean } {
    const svc = this.store.get(this.registry.get('', 'services')!, namespace, service)?.obj;
    if (!svc) return { backends: [], portFound: false };
    const spec = (svc.spec ?? {}) as {
      selector?: Record<string, string>;
      ports?: Array<{ name?: string; port: number; targetPort?: number | string }>;
    };
    const sp = (spec.ports ?? []).find(
      (p) => p.port === port || (p.name !== undefined && p.name === port) || String(p.port) === String(port),
    );
    if (!sp || !spec.selector) return { service: svc, backends: [], portFound: Boolean(sp) };
    const selector = spec.selector;
    const backends: ServiceBackend[] = [];
    for (const s of this.store.list(this.registry.get('', 'pods')!, namespace)) {
      const pod = s.obj;
      const labels = pod.metadata.labels ?? {};
      if (!Object.entries(selector).every(([k, v]) => labels[k] === v) || !isPodReady(pod)) continue;
      const cp = resolveTargetPort(pod, sp.targetPort ?? sp.port);
      if (cp === undefined) continue;
      backends.push({ pod, containerPort: cp, address: podAddress(pod, cp) });
    }
    return { service: svc, backends, portFound: true };
  }
}
