// How a load run reads to a person: one paragraph with the verdict and the numbers, one table per
// target and phase, and a one-line progress line for a live terminal. Pure, so the CLI only prints.
import type { LoadReport } from './load.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function percent(part: number, whole: number): string {
  if (whole === 0 || part === 0) return '0%';
  const p = (100 * part) / whole;
  return `${p < 0.01 && p > 0 ? '<0.01' : p.toFixed(p < 1 ? 2 : 1)}%`;
}

/** `a (3), b (2)`, largest first, ties by name, so two runs render alike. */
function counts(record: Record<string, number>, format: (key: string, n: number) => string): string {
  return Object.entries(record)
    .sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : ka > kb ? 1 : 0))
    .map(([k, n]) => format(k, n))
    .join(', ');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function renderLoadReport(r: LoadReport): string {
  const verdict = r.failed === 0 && r.dropped === 0 ? 'zero failed requests' : `${r.failed} failed, ${r.dropped} dropped`;
  const state = r.running ? 'running' : `ended (${r.stopReason ?? 'stopped'})`;
  const parts = [
    `Load ${state} after ${seconds(r.elapsedMs)} from ${r.startedAt}: ${verdict}.`,
    `${r.sent} sent, ${r.ok} ok, ${r.failed} failed (${percent(r.failed, r.sent)})${r.refused ? `, ${r.refused} refused as non-loopback` : ''}, ${r.dropped} dropped${r.inFlight ? `, ${r.inFlight} in flight` : ''}.`,
    `Latency p50 ${r.latencyMs.p50} ms, p90 ${r.latencyMs.p90} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms.`,
  ];
  const status = counts(r.byStatus, (k, n) => `${k === '0' ? 'no response' : k} ×${n}`);
  if (status) parts.push(`Statuses: ${status}.`);
  const served = counts(r.byAddress, (k, n) => `${k} (${n})`);
  if (served) parts.push(`Sent to: ${served}.`);
  const lines = [parts.join(' '), ''];
  const rows: string[][] = [
    ...Object.entries(r.perTarget).map(([label, c]) => [`target ${label}`, String(c.sent), String(c.failed), String(c.dropped)]),
    ...Object.entries(r.byPhase).map(([phase, c]) => [`phase ${phase}`, String(c.sent), String(c.failed), '']),
  ];
  lines.push(...table(['', 'sent', 'failed', 'dropped'], rows));
  if (r.failures.length > 0) {
    lines.push('', `First ${r.failures.length} failure${r.failures.length === 1 ? '' : 's'}:`);
    for (const f of r.failures)
      lines.push(`  ${f.at}  [${f.phase}] ${f.target}  ${f.status === 0 ? 'no response' : f.status}  ${f.kind}: ${f.reason}`);
  }
  return lines.join('\n');
}

/** One line for a terminal, rewritten every second or so while the load runs. */
export function renderProgressLine(r: LoadReport): string {
  const served = counts(r.byAddress, (k, n) => `${k}:${n}`);
  return [
    `[${seconds(r.elapsedMs)}]`,
    `sent ${r.sent}`,
    `ok ${r.ok}`,
    `failed ${r.failed}`,
    `dropped ${r.dropped}`,
    `in-flight ${r.inFlight}`,
    `p99 ${r.latencyMs.p99} ms`,
    ...(served ? [`→ ${served}`] : []),
  ].join('  ');
}
