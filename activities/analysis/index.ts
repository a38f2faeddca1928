// The traffic analysis of the field report's checklist, against the plan's Prometheus: a baseline
// before the first relabel, each namespace's error rate after its move, the gateways after the DNS
// TTL, and the old gateway drained to zero before decommission may be approved. Prometheus evaluates
// the PromQL (mesh/traffic-queries.ts); judge.ts decides; this file fetches, waits and reports.
//
// Waits are durable: the window's start, the deadline and the run of zeros go into every heartbeat,
// so an attempt resumed on another worker keeps them instead of starting over.
import { sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AnalysisConfig, Plan } from '../../plan/schema.js';
import { plannedNamespaces } from '../../plan/schema.js';
import {
  BY_NAMESPACE,
  errorRatioByNamespace,
  gatewayRequestRate,
  namespaceErrorRatio,
  namespaceRequestRate,
  promDuration,
  requestRateByNamespace,
  type GatewayWorkload,
} from '../../mesh/traffic-queries.js';
import type { GatewayTraffic, NamespaceRef, NamespaceTrafficCheck, RunRef, TrafficBaseline, TrafficRates } from '../contract.js';
import { nowMs, type ClusterDeps } from '../shared/deps.js';
import { heartbeatIfActivity, pollUntil, resumedDetails, throwIfCancelled } from '../shared/waiting.js';
import { describeAnswer, drained, judgeNamespace, judgeShift, nextDrainState, perSecond, type DrainState } from './judge.js';
import type { DrainProgress, ShiftProgress, WindowProgress } from './progress.js';
import { PrometheusQueryError, queryInstant, singleValue, type PromAnswer, type PrometheusEndpoint } from './prometheus.js';
import { FailureType } from '../failures.js';
import { gatewayDeploymentName } from '../../plan/model.js';

export const AnalysisFailure = {
  /** Prometheus could not be asked (down, timeout, 5xx): retried, then the step fails. */
  unavailable: FailureType.PrometheusUnavailable,
  /** Prometheus refused the query or answered something unreadable: the same query fails again. */
  badQuery: FailureType.PrometheusBadQuery,
  /** The traffic says no: a regression, or traffic that does not move. */
  regression: FailureType.CheckFailed,
  /** The plan has no analysis block, or its auth header variable is unset. */
  config: FailureType.ConfigError,
} as const;

type AnalysisDeps = Pick<ClusterDeps, 'env' | 'now' | 'logger'>;

function analysisOf(plan: Plan): AnalysisConfig {
  if (!plan.analysis)
    throw ApplicationFailure.create({
      type: AnalysisFailure.config,
      nonRetryable: true,
      message: 'the plan has no analysis block: nothing to ask Prometheus',
    });
  return plan.analysis;
}

function endpoint(deps: AnalysisDeps, a: AnalysisConfig): PrometheusEndpoint {
  const ep: PrometheusEndpoint = { url: a.prometheus.url, timeoutMs: a.prometheus.timeout };
  const name = a.prometheus.authHeaderEnv;
  if (name) {
    const value = (deps.env ?? process.env)[name];
    if (!value) {
      throw ApplicationFailure.create({
        type: AnalysisFailure.config,
        nonRetryable: true,
        message: `analysis.prometheus.authHeaderEnv names ${name}, which is not set in the worker's environment: set it to the Authorization header value (e.g. "Bearer <token>")`,
      });
    }
    ep.authHeader = value;
  }
  return ep;
}

/** Asks Prometheus; a failure becomes an ApplicationFailure that names the query and the answer. */
async function ask(ep: PrometheusEndpoint, query: string): Promise<PromAnswer> {
  try {
    return await queryInstant(ep, query);
  } catch (err) {
    if (err instanceof PrometheusQueryError) {
      throw ApplicationFailure.create({
        type: err.retryable ? AnalysisFailure.unavailable : AnalysisFailure.badQuery,
        nonRetryable: !err.retryable,
        message: `Prometheus ${ep.url}: ${err.message}`,
      });
    }
    throw err;
  }
}

async function askNumber(ep: PrometheusEndpoint, query: string): Promise<number | undefined> {
  return singleValue(await ask(ep, query));
}

function byNamespace(answer: PromAnswer): Map<string, number> {
  const m = new Map<string, number>();
  if (answer.resultType === 'vector') for (const s of answer.samples) if (s.labels[BY_NAMESPACE]) m.set(s.labels[BY_NAMESPACE]!, s.value);
  return m;
}

export function gatewayWorkload(g: Plan['source']['gateway']): GatewayWorkload {
  return { namespace: g.namespace, workload: gatewayDeploymentName(g) };
}

const finite = (v: number | undefined): number | undefined => (v === undefined || Number.isNaN(v) ? undefined : v);

export async function trafficBaseline(deps: AnalysisDeps, input: RunRef): Promise<TrafficBaseline> {
  const a = analysisOf(input.plan);
  const ep = endpoint(deps, a);
  const w = a.baseline.window;
  const queries = {
    requests: requestRateByNamespace(w),
    errors: errorRatioByNamespace(w),
    source: gatewayRequestRate(gatewayWorkload(input.plan.source.gateway), w),
    target: gatewayRequestRate(gatewayWorkload(input.plan.target.gateway), w),
  };
  const [requests, errors, source, target] = await Promise.all([
    ask(ep, queries.requests).then(byNamespace),
    ask(ep, queries.errors).then(byNamespace),
    askNumber(ep, queries.source),
    askNumber(ep, queries.target),
  ]);
  const namespaces: Record<string, TrafficRates> = {};
  const quiet: string[] = [];
  for (const ns of plannedNamespaces(input.plan)) {
    const rate = finite(requests.get(ns));
    if (rate === undefined) {
      quiet.push(ns);
      continue;
    }
    const ratio = finite(errors.get(ns));
    namespaces[ns] = ratio === undefined ? { requestRate: rate } : { requestRate: rate, errorRatio: ratio };
  }
  const baseline: TrafficBaseline = {
    at: new Date(nowMs(deps)).toISOString(),
    window: promDuration(w),
    namespaces,
    quiet,
    queries: Object.values(queries),
  };
  const s = finite(source);
  const t = finite(target);
  if (s !== undefined) baseline.sourceGateway = s;
  if (t !== undefined) baseline.targetGateway = t;
  return baseline;
}

/** Sleeps until `since + ms`, heartbeating the window's start so a resumed attempt keeps it. */
async function waitWindow(progress: WindowProgress, ms: number, intervalMs: number, now: () => number): Promise<void> {
  for (;;) {
    throwIfCancelled();
    heartbeatIfActivity(progress);
    const left = progress.since + ms - now();
    if (left <= 0) return;
    await sleep(Math.min(left, intervalMs));
  }
}

export async function checkNamespaceTraffic(
  deps: AnalysisDeps,
  input: NamespaceRef & { baseline?: TrafficRates },
): Promise<NamespaceTrafficCheck> {
  const a = analysisOf(input.plan);
  const ep = endpoint(deps, a);
  const now = () => nowMs(deps);
  // Only traffic after the move counts: the window starts when this check does.
  const progress = resumedDetails<WindowProgress>((d) => (d as WindowProgress).phase === 'namespace-window') ?? {
    phase: 'namespace-window',
    since: now(),
  };
  await waitWindow(progress, a.namespace.window, a.interval, now);
  const query = namespaceErrorRatio(input.namespace, a.namespace.window);
  const [ratio, rate] = await Promise.all([askNumber(ep, query), askNumber(ep, namespaceRequestRate(input.namespace, a.namespace.window))]);
  const verdict = judgeNamespace({
    namespace: input.namespace,
    errorRatio: ratio,
    baselineErrorRatio: input.baseline?.errorRatio,
    maxIncrease: a.namespace.maxErrorRateIncrease,
    window: promDuration(a.namespace.window),
    query,
  });
  if (!verdict.ok) throw ApplicationFailure.create({ type: AnalysisFailure.regression, nonRetryable: true, message: verdict.reason });
  return { namespace: input.namespace, errorRatio: ratio!, requestRate: rate ?? 0, summary: `${verdict.summary}, ${perSecond(rate ?? 0)}` };
}

export async function awaitGatewayShift(deps: AnalysisDeps, input: RunRef & { sourceBaseline?: number }): Promise<GatewayTraffic> {
  const a = analysisOf(input.plan);
  const ep = endpoint(deps, a);
  const now = () => nowMs(deps);
  const w = a.cutover.window;
  const queries = {
    target: gatewayRequestRate(gatewayWorkload(input.plan.target.gateway), w),
    source: gatewayRequestRate(gatewayWorkload(input.plan.source.gateway), w),
  };
  const resumed = resumedDetails<ShiftProgress>((d) => (d as ShiftProgress).phase === 'gateway-shift');
  const deadline = resumed?.deadline ?? now() + a.cutover.timeout;
  return pollUntil<GatewayTraffic, string>({
    intervalMs: a.interval,
    deadline,
    now,
    check: async () => {
      const [target, source] = await Promise.all([askNumber(ep, queries.target), askNumber(ep, queries.source)]);
      const v = judgeShift({ target, source, sourceBaseline: input.sourceBaseline });
      if (v.ok) {
        const r: GatewayTraffic = { summary: v.summary };
        if (finite(target) !== undefined) r.target = target!;
        if (finite(source) !== undefined) r.source = source!;
        return { done: true, value: r };
      }
      return { done: false, progress: v.reason };
    },
    details: (last) => ({ phase: 'gateway-shift', deadline, ...(last ? { last } : {}) }) satisfies ShiftProgress,
    onTimeout: (last) =>
      ApplicationFailure.create({
        type: AnalysisFailure.regression,
        nonRetryable: true,
        message: `traffic did not move to the new gateway within ${promDuration(a.cutover.timeout)} after the TTL: ${last ?? 'no answer'} (queries: ${queries.target}; ${queries.source})`,
      }),
  });
}

export async function awaitGatewayDrained(deps: AnalysisDeps, input: RunRef): Promise<GatewayTraffic> {
  const a = analysisOf(input.plan);
  const ep = endpoint(deps, a);
  const now = () => nowMs(deps);
  const query = gatewayRequestRate(gatewayWorkload(input.plan.source.gateway), a.drain.window);
  const resumed = resumedDetails<DrainProgress>((d) => (d as DrainProgress).phase === 'gateway-drain');
  const deadline = resumed?.deadline ?? now() + a.drain.timeout;
  let state: DrainState = resumed
    ? {
        ...(resumed.zeroSince !== undefined ? { zeroSince: resumed.zeroSince } : {}),
        ...(resumed.last !== undefined ? { last: resumed.last } : {}),
      }
    : {};
  let lastAnswer: number | undefined;
  return pollUntil<GatewayTraffic, DrainState>({
    intervalMs: a.interval,
    deadline,
    now,
    check: async () => {
      lastAnswer = await askNumber(ep, query);
      state = nextDrainState(state, lastAnswer, now());
      if (drained(state, now(), a.drain.window)) {
        return {
          done: true,
          value: {
            source: 0,
            summary: `the old gateway has carried no request for ${promDuration(now() - state.zeroSince!)} (query: ${query})`,
          },
        };
      }
      return { done: false, progress: state };
    },
    details: (s) => ({ phase: 'gateway-drain', deadline, window: a.drain.window, ...s }) satisfies DrainProgress,
    onTimeout: () =>
      ApplicationFailure.create({
        type: AnalysisFailure.regression,
        nonRetryable: true,
        message: `the old gateway still carries traffic after ${promDuration(a.drain.timeout)}: Prometheus answered ${describeAnswer(lastAnswer)}${finite(lastAnswer) ? ` (${perSecond(lastAnswer!)})` : ''} to ${query}; decommission stays closed. Find who still resolves or pins the old address, then retry`,
      }),
  });
}
