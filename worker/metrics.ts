// meshmove's own Prometheus metrics, kept in the worker process and rendered in the text exposition
// format next to the SDK's (worker/ops-server.ts serves both on one /metrics).
//
//   meshmove_kube_requests_total{verb,code}          Kubernetes API requests the activities sent, by verb
//                                                    (get, list, watch, create, patch, delete, log, proxy...)
//                                                    and outcome: code="2xx", "4xx", "5xx" when the server
//                                                    answered, "none" when it did not (network, timeout).
//   meshmove_kube_request_errors_total{verb,type}    The failed ones by error type (KubeNotFound, KubeConflict,
//                                                    KubeThrottled, KubeServerError, KubeNetwork, KubeTimeout...;
//                                                    a 404 on a get that may find nothing counts here too).
//   meshmove_activity_failures_total{activity,type}  Activity attempts that failed, by activity and failure
//                                                    type (the ApplicationFailure type, e.g. KubeServerError,
//                                                    or "cancelled", or the error's class name).
//   meshmove_decisions_total{message,decision,via,outcome}
//                                                    Operator decisions the workflows handled: message="gate"
//                                                    (decision approve|reject), "step" (retry|skip|rollback|
//                                                    abort) or "run" (decision rollback); via update|signal;
//                                                    outcome accepted|refused for updates, received for signals
//                                                    (a signal's refusal is in the run's audit trail). Counted
//                                                    once, by the worker that handled it (not on replay).
//   meshmove_runs{phase}                             Running migrations by phase.
//   meshmove_gates_open{run,gate}                    Open approval gates (a namespace's gate counts as
//                                                    gate="namespace": no label per namespace).
//   meshmove_gate_open_seconds{run,gate}             How long the oldest of those has been open.
//   meshmove_decisions_pending{run}                  Failed steps waiting for an operator's decision.
//   meshmove_namespaces{run,state}                   The run's namespaces by state (pending, migrating,
//                                                    migrated, failed, skipped, rolling-back, rolled-back).
//   meshmove_status_refresh_errors_total             Failed reads of the runs' status (the gauges above keep
//                                                    their last values until the next good read).
//   meshmove_sdk_metrics_up                          1 when the SDK's own metrics were read for this scrape.
//
// The run gauges come from the runs' status queries at scrape time (cached a few seconds); every
// worker of a deployment reports the same view, so aggregate them with max by (run, ...).

import { ApplicationFailure, CancelledFailure, TemporalFailure } from '@temporalio/common';
import type { DecisionMetric } from '../workflows/interceptors.js';

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  series: Map<string, { labels: Labels; value: number }>;
}

function key(labels: Labels): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A minimal registry: counters and gauges with labels, rendered in the Prometheus text format (0.0.4). */
export class MetricRegistry {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, type: Family['type']): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { name, help, type, series: new Map() };
      this.families.set(name, f);
    }
    return f;
  }

  counter(name: string, help: string) {
    const f = this.family(name, help, 'counter');
    return {
      inc: (labels: Labels = {}, by = 1) => {
        const k = key(labels);
        const s = f.series.get(k);
        if (s) s.value += by;
        else f.series.set(k, { labels, value: by });
      },
    };
  }

  gauge(name: string, help: string) {
    const f = this.family(name, help, 'gauge');
    return {
      set: (labels: Labels, value: number) => {
        f.series.set(key(labels), { labels, value });
      },
      /** Replace every series at once (a gauge computed from a fresh reading: series that went away disappear). */
      replace: (series: { labels: Labels; value: number }[]) => {
        f.series.clear();
        for (const s of series) f.series.set(key(s.labels), s);
      },
    };
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
      for (const { labels, value } of f.series.values()) {
        const ls = Object.entries(labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(',');
        out.push(`${f.name}${ls ? `{${ls}}` : ''} ${formatValue(value)}`);
      }
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }
}

/** The type label of a failed activity attempt: the ApplicationFailure's type, "cancelled", or the error's class. */
export function activityFailureType(err: unknown): string {
  if (err instanceof CancelledFailure) return 'cancelled';
  if (err instanceof ApplicationFailure) return err.type ?? 'ApplicationFailure';
  if (err instanceof TemporalFailure) return err.name;
  if (err instanceof Error) return err.name || 'Error';
  return 'unknown';
}

/** meshmove's metrics of one worker process. */
export class MeshmoveMetrics {
  readonly registry = new MetricRegistry();
  readonly kubeRequests = this.registry.counter(
    'meshmove_kube_requests_total',
    'Kubernetes API requests sent by the activities, by verb and status class (code="none": no answer).',
  );
  readonly kubeErrors = this.registry.counter(
    'meshmove_kube_request_errors_total',
    'Failed Kubernetes API requests, by verb and error type.',
  );
  readonly activityFailures = this.registry.counter(
    'meshmove_activity_failures_total',
    'Activity attempts that failed, by activity and failure type.',
  );
  readonly decisions = this.registry.counter(
    'meshmove_decisions_total',
    'Operator decisions handled by the workflows, by message (gate, step, run), decision, via (update, signal) and outcome.',
  );
  readonly runs = this.registry.gauge('meshmove_runs', 'Running migrations by phase.');
  readonly gatesOpen = this.registry.gauge(
    'meshmove_gates_open',
    'Open approval gates by run and gate (a namespace\'s gate is gate="namespace").',
  );
  readonly gateAge = this.registry.gauge(
    'meshmove_gate_open_seconds',
    'Seconds the oldest open gate of this run and gate id has been open.',
  );
  readonly decisionsPending = this.registry.gauge('meshmove_decisions_pending', 'Failed steps waiting for an operator decision, by run.');
  readonly namespaces = this.registry.gauge('meshmove_namespaces', 'Namespaces of each running migration by state.');
  readonly statusErrors = this.registry.counter('meshmove_status_refresh_errors_total', "Failed reads of the running migrations' status.");

  constructor() {
    // Counters exist from the start (a scrape before the first event sees 0, not nothing).
    this.statusErrors.inc({}, 0);
  }

  kubeRequest(o: { verb: string; ok: boolean; status?: number; errorType?: string }): void {
    const code = o.ok ? '2xx' : o.status !== undefined ? `${Math.floor(o.status / 100)}xx` : 'none';
    this.kubeRequests.inc({ verb: o.verb, code });
    if (!o.ok) this.kubeErrors.inc({ verb: o.verb, type: o.errorType ?? 'unknown' });
  }

  activityFailure(activity: string, type: string): void {
    this.activityFailures.inc({ activity, type });
  }

  decision(d: DecisionMetric): void {
    this.decisions.inc({ message: d.message, decision: d.decision, via: d.via, outcome: d.outcome });
  }
}

/** A Prometheus text exposition parsed into samples (for tests and for checking what is served). */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Labels = {};
    const body = m[3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let lm: RegExpExecArray | null;
    while ((lm = re.exec(body))) labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const raw = m[4]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}
