// istiod's error counters from its /metrics (Prometheus text format),
// parsed and compared purely. Which series count as "push/send errors" follows docs/istio-facts.md §8: the
// checklist's pilot_xds_push_errors_total does not exist in Istio.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Prometheus text exposition format 0.0.4: `name{k="v",...} value [timestamp]`; comments skipped. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/g;
      for (let l = re.exec(m[3]); l; l = re.exec(m[3])) labels[l[1]!] = unescapeLabel(l[2]!);
    }
    const v = m[4]!;
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    if (Number.isNaN(value) && v !== 'NaN') continue;
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export function seriesKey(s: Pick<Sample, 'name' | 'labels'>): string {
  const l = Object.keys(s.labels)
    .sort()
    .map((k) => `${k}="${s.labels[k]}"`);
  return l.length ? `${s.name}{${l.join(',')}}` : s.name;
}

/** The metric this project's users look for but Istio removed in 1.3 (docs/istio-facts.md §8). */
export const NONEXISTENT_PUSH_ERRORS_METRIC = 'pilot_xds_push_errors_total';

/** The error series watched between the two reads. */
export function isErrorSeries(s: Pick<Sample, 'name' | 'labels'>): boolean {
  if (s.name === 'pilot_xds_pushes') return /_senderr$/.test(s.labels.type ?? '');
  return (
    s.name === 'pilot_total_xds_rejects' ||
    s.name === 'pilot_total_xds_internal_errors' ||
    s.name === 'pilot_xds_push_context_errors' ||
    s.name === 'pilot_xds_write_timeout'
  );
}

/** series key → value, error series only. Histogram parts are not counters of errors: excluded by name. */
export function errorCounters(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of parsePrometheusText(text)) if (isErrorSeries(s)) out[seriesKey(s)] = (out[seriesKey(s)] ?? 0) + s.value;
  return out;
}

export interface CounterComparison {
  /** `series before -> after` for each series that grew. */
  increases: string[];
  /** Series whose value went down: the process restarted between the reads. */
  resets: string[];
}

/** A series absent in the first read counts from 0 (Prometheus clients create counters lazily). */
export function compareCounters(before: Record<string, number>, after: Record<string, number>, prefix = ''): CounterComparison {
  const increases: string[] = [];
  const resets: string[] = [];
  for (const key of Object.keys(after).sort()) {
    const a = after[key]!;
    const b = before[key] ?? 0;
    if (a > b) increases.push(`${prefix}${key} ${fmt(b)} -> ${fmt(a)}`);
    else if (a < b) resets.push(`${prefix}${key} ${fmt(b)} -> ${fmt(a)}`);
  }
  return { increases, resets };
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(3);
}
