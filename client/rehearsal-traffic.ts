// Live traffic during a rehearsal, and Prometheus' count of it. The load follows the plan: every
// gateway probe's host and path through DNS, at the port the gateways listen on, as a client outside
// the cluster would; and every cross-namespace probe's call
// from inside the mesh, through the cluster's call endpoint (the twin's /_twin/istio/call).
import type { Plan } from '../plan/schema.js';
import { startLoad, type LoadHandle, type LoadTarget } from '../traffic/load.js';
import { queryInstant, singleValue } from '../activities/analysis/prometheus.js';
import { promDuration } from '../mesh/traffic-queries.js';

export interface RehearsalTrafficOptions {
  plan: Plan;
  /** The port both gateways serve on (a load balancer's listener). */
  gatewayPort: number;
  /** Where in-mesh calls are made (the twin's /_twin/istio/call); without it, only gateway traffic. */
  callUrl?: string;
  /** Per target. */
  ratePerSecond: number;
  maxDurationMs: number;
  phase?: () => string;
  timeoutMs?: number;
  /** Where clients resolve the probes' hosts; the plan's DNS resolvers when absent (a plan with `dns: none` has none). */
  resolvers?: string[];
}

/** What the load sends, from the plan's probes and records. */
export function rehearsalTargets(plan: Plan, gatewayPort: number, callUrl?: string): LoadTarget[] {
  // The probes' paths are ones the hosts route (a record's "/" may well be a 404).
  const targets: LoadTarget[] = plan.verification.gateway.map((p) => ({ kind: 'host', host: p.host, port: gatewayPort, path: p.path }));
  if (callUrl) for (const p of plan.verification.crossNamespace) targets.push({ kind: 'mesh', from: p.from, url: p.url, callUrl });
  return targets;
}

export function startRehearsalTraffic(o: RehearsalTrafficOptions): LoadHandle {
  const targets = rehearsalTargets(o.plan, o.gatewayPort, o.callUrl);
  return startLoad({
    targets,
    ratePerSecond: o.ratePerSecond,
    maxDurationMs: o.maxDurationMs,
    // A bound, never the limit in practice: the duration ends the run first.
    maxRequests: Math.min(1_000_000, Math.ceil((o.maxDurationMs / 1000) * o.ratePerSecond * targets.length) + targets.length),
    timeoutMs: o.timeoutMs ?? 2_000,
    resolvers: (o.resolvers ?? o.plan.dns?.resolvers ?? []).map((r) => (r.includes(':') ? r : `${r}:53`)),
    reasonHeader: 'x-twin-reason',
    ...(o.phase ? { phase: o.phase } : {}),
  });
}

export interface PrometheusTrafficTotals {
  /** Requests the first proxy of each request (gateway or calling sidecar) reported over the span. */
  requests: number;
  /** Of those, answered with neither 2xx nor 3xx. */
  failed: number;
  queries: string[];
}

/**
 * Prometheus' own count of the rehearsal's requests over the last `spanMs` (increase() extrapolates
 * at the edges: a few requests more or less than the load generator counted).
 */
export async function prometheusTrafficTotals(url: string, spanMs: number, timeoutMs = 10_000): Promise<PrometheusTrafficTotals> {
  const span = promDuration(spanMs);
  const queries = [
    `sum(increase(istio_requests_total{reporter="source"}[${span}]))`,
    `sum(increase(istio_requests_total{reporter="source",response_code!~"[23].."}[${span}])) or vector(0)`,
  ];
  const [all, failed] = await Promise.all(queries.map(async (q) => singleValue(await queryInstant({ url, timeoutMs }, q))));
  if (all === undefined)
    throw new Error(`Prometheus ${url} has no istio_requests_total series (${queries[0]} answered empty): it did not scrape the proxies`);
  return { requests: all, failed: failed ?? 0, queries };
}

/**
 * Whether Prometheus has scraped requests into the mesh's namespaces within `ms` (asked every
 * 500 ms; an unreachable Prometheus counts as not yet): a baseline needs a few samples first.
 */
export async function untilPrometheusSeesTraffic(url: string, ms: number, rateWindowMs: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  const q = `sum(rate(istio_requests_total{reporter="destination"}[${promDuration(rateWindowMs)}]))`;
  while (Date.now() < deadline) {
    const a = await queryInstant({ url, timeoutMs: 2_000 }, q).catch(() => undefined);
    if (a?.resultType === 'vector' && (a.samples[0]?.value ?? 0) > 0) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}
