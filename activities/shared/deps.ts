// What every activity function gets (createActivities builds it for the plan the activity acts
// on): the cluster of the plan's context and the worker's settings. Structural on purpose: tests
// pass the same shape with a fake or twin KubeAccess and short timings. Timings that are not in the
// plan live here, with defaults sized for a real cluster.
import type { Logger } from '../../logging/logger.js';
import type { KubeAccess } from '../kube/types.js';

export interface Tuning {
  /** Pace of every poll (rollouts, ConfigMap, probe pods, gateway address, DNS). */
  pollMs: number;
  /** How long waitCaReady waits for the target's root in istio-ca-root-cert. */
  caReadyTimeoutMs: number;
  /** How long the target's root must stay in istio-ca-root-cert before it counts (catches two CAs overwriting each other). */
  caStableMs: number;
  /** Image of the in-namespace probe Job (must have sh and curl). */
  probeImage: string;
  /** How long a probe pod may take to terminate (image pull included). */
  probeTimeoutMs: number;
  /** Per-request timeout of HTTP calls meshmove makes itself (gateway probes, DNS webhook, Prometheus). */
  httpTimeoutMs: number;
  /** How long checkGatewayStable waits for the gateway to get any external address at all. */
  gatewayAddressTimeoutMs: number;
  /** How long verifyProxies looks again for proxies still connecting before it reports them. */
  proxySettleMs: number;
  /** How long verifyDns keeps resolving before giving up (on top of one TTL). */
  dnsVerifyTimeoutMs: number;
}

export const DEFAULT_TUNING: Tuning = {
  pollMs: 2_000,
  caReadyTimeoutMs: 120_000,
  caStableMs: 10_000,
  probeImage: 'curlimages/curl:8.10.1',
  probeTimeoutMs: 180_000,
  httpTimeoutMs: 10_000,
  gatewayAddressTimeoutMs: 600_000,
  dnsVerifyTimeoutMs: 600_000,
  proxySettleMs: 60_000,
};

export interface ClusterDeps {
  kube: KubeAccess;
  logger?: Logger;
  /** Wall clock in ms; tests may move it. */
  now?: () => number;
  /** Where secrets are read from (the DNS webhook's shared secret); process.env by default. */
  env?: Record<string, string | undefined>;
  tuning?: Partial<Tuning>;
}

export function tuning(deps: ClusterDeps): Tuning {
  return { ...DEFAULT_TUNING, ...deps.tuning };
}

export function nowMs(deps: Pick<ClusterDeps, 'now'>): number {
  return deps.now ? deps.now() : Date.now();
}
