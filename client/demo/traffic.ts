// The demo's traffic evidence: a real Prometheus scraping the simulated cluster's proxies (when one
// is installed), the plan's analysis pointed at it, and live traffic through DNS and the mesh for
// the whole rehearsal. Without Prometheus the live traffic still runs; the analysis is off and the
// demo says how to get it.
import { join } from 'node:path';
import type { Plan } from '../../plan/schema.js';
import type { Twin } from '../../twin/index.js';
import type { PrometheusServer } from '../../lab/prometheus.js';
import { createLogger } from '../../logging/logger.js';
import type { LoadHandle } from '../../traffic/load.js';
import { renderLoadReport, renderProgressLine } from '../../traffic/report.js';
import { prometheusTrafficTotals, rehearsalTargets, startRehearsalTraffic, untilPrometheusSeesTraffic } from '../rehearsal-traffic.js';

export interface DemoTraffic {
  /** The plan with its analysis pointed at the demo's Prometheus (unchanged without one, or when it has its own). */
  plan: Plan;
  prometheus?: PrometheusServer;
  load: LoadHandle;
  /** The run's phase, for the load's per-phase counts. */
  setPhase(phase: string): void;
  progressLine(): string;
  /** Waits (at most `ms`) until Prometheus has scraped some of the load: the baseline needs samples. */
  untilScraped(ms: number): Promise<boolean>;
  /** Stops the load; the final report and Prometheus' own count of it, as lines. */
  finish(): Promise<string[]>;
  close(): Promise<void>;
}

/** Short windows, for a rehearsal measured in minutes: a real cluster keeps the plan's defaults. */
function demoAnalysis(url: string): NonNullable<Plan['analysis']> {
  return {
    prometheus: { url, timeout: 5_000 },
    interval: 2_000,
    baseline: { window: 20_000 },
    namespace: { window: 6_000, maxErrorRateIncrease: 0.01 },
    cutover: { window: 6_000, timeout: 120_000 },
    drain: { window: 10_000, timeout: 300_000 },
  };
}

/** Live traffic and Prometheus for the rehearsal; undefined when the plan has no probe to send traffic to. */
export async function startDemoTraffic(o: {
  dataDir: string;
  twin: Twin;
  plan: Plan;
  prometheusPort: number;
  say: (line: string) => void;
}): Promise<DemoTraffic | undefined> {
  const { twin, say } = o;
  let plan = o.plan;
  const gateways = Object.values(twin.gateways);
  const port = gateways[0]?.port;
  if (port === undefined || rehearsalTargets(plan, port, twin.controlUrls.istioCall).length === 0) {
    // Without requests the analysis could only fail ("no requests measured"): it stays off too.
    say(
      '  traffic       none: the plan has no gateway or cross-namespace probes to send traffic to (verification.gateway, verification.crossNamespace), so no live traffic and no traffic analysis',
    );
    return undefined;
  }
  const { findPrometheus, startPrometheus } = await import('../../lab/prometheus.js');
  let prometheus: PrometheusServer | undefined;
  let binary: string | undefined;
  try {
    binary = findPrometheus();
  } catch (err) {
    say(`  Prometheus    not found, so the traffic analysis is off (live traffic still runs). ${(err as Error).message.split('\n').pop()}`);
  }
  if (binary) {
    prometheus = await startPrometheus({
      binary,
      port: o.prometheusPort,
      // Kept with the rest of the demo: a resumed run's baseline is still there.
      dir: join(o.dataDir, 'prometheus'),
      scrapeIntervalMs: 1_000,
      httpSd: [{ url: twin.stats.sdUrl, refreshIntervalMs: 2_000 }],
      logger: createLogger('demo-prometheus'),
    });
    say(`  Prometheus    ${prometheus.url}  (scrapes istio_requests_total from every proxy; ${prometheus.logFile})`);
    if (!plan.analysis) plan = { ...plan, analysis: demoAnalysis(prometheus.url) };
  }
  if (gateways.some((g) => g.port !== port))
    say(`  traffic       the gateways listen on different ports: clients use ${port}, so requests to the other gateway fail`);
  let phase = 'before-start';
  const load = startRehearsalTraffic({
    plan,
    gatewayPort: port,
    callUrl: twin.controlUrls.istioCall!,
    resolvers: [`${twin.dns.host}:${twin.dns.port}`],
    ratePerSecond: 5,
    maxDurationMs: 4 * 3_600_000,
    phase: () => phase,
  });
  say(
    `  traffic       ${Object.keys(load.snapshot().perTarget).length} targets at 5 req/s each, through DNS ${twin.dns.host}:${twin.dns.port} (honouring the TTL) and the mesh`,
  );

  return {
    plan,
    ...(prometheus ? { prometheus } : {}),
    load,
    setPhase: (p) => (phase = p),
    progressLine: () => renderProgressLine(load.snapshot()),
    untilScraped: async (ms) => (prometheus ? untilPrometheusSeesTraffic(prometheus.url, ms, 10_000) : false),
    finish: async () => {
      const report = await load.stop();
      const lines = renderLoadReport(report).split('\n');
      if (prometheus) {
        try {
          const t = await prometheusTrafficTotals(prometheus.url, report.elapsedMs);
          lines.push(
            `Prometheus over the same ${(report.elapsedMs / 1000).toFixed(0)} s: ${t.requests.toFixed(0)} requests reported by the proxies, ${t.failed.toFixed(0)} failed (increase() extrapolates at the edges).`,
          );
        } catch (err) {
          lines.push(`Prometheus could not confirm the figures: ${(err as Error).message}`);
        }
      }
      return lines;
    },
    close: async () => {
      await load.stop().catch(() => undefined);
      await prometheus?.close();
    },
  };
}
