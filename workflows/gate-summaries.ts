// What the migration's gates and step lines say: pure functions of the plan and the results so far,
// so that what an approver reads (and signs, by its digest) is table-tested without a workflow. A
// change to any text here changes the digest of gates opened after it, never of recorded ones
// (those keep the summary they were opened with).
import type { BackupRef, DnsChange, PreflightReport, TrafficBaseline, WaveSelection } from '../activities/contract.js';
import { gatewayRequestRate, namespaceErrorRatio } from '../mesh/traffic-queries.js';
import type { DnsCutover, Plan } from '../plan/schema.js';
import { describeSelect, gatewayDeploymentName, IN_PLACE, plannedNamespaces, relabelFor } from '../plan/model.js';
import type { GateSummary, StepRecord } from './messages.js';

/** What preflight left for the start gate: counts, and the blocking findings of the attempt that made them. */
export interface PreflightResults {
  blocking: number;
  warnings: number;
  decommission?: string;
  /** `check: reason (fix: …)` of each blocking finding. */
  blocks?: string[];
  /** The attempt of the preflight step that returned these findings. */
  attempt?: number;
  /** How the control planes' own roots relate (preflight's root CA check). */
  rootRelation?: PreflightReport['rootRelation'];
}

/** `check: reason (fix: …)` for each blocking finding of a preflight report. */
export function blockingLines(report: PreflightReport): string[] {
  return report.findings.filter((f) => f.status === 'block').map((f) => `${f.check}: ${f.reason}${f.fix ? ` (fix: ${f.fix})` : ''}`);
}

/**
 * The start gate's line for a preflight an operator skipped after it failed: which blocking checks
 * (or, if it did not get that far, the error), who skipped it, when and why. The approver signs this
 * off with the rest of the summary (its digest).
 */
export function skippedPreflightLine(rec: StepRecord, results: PreflightResults | undefined): string {
  const who = rec.skippedBy ? `by ${rec.skippedBy.by} at ${rec.skippedBy.at}` : 'by an operator';
  const why = rec.skippedBy?.reason ? `, reason: "${rec.skippedBy.reason}"` : '';
  const blocks = results?.attempt === rec.attempts ? (results.blocks ?? []) : [];
  if (blocks.length > 0) return `preflight: ${blocks.length} blocking check(s) skipped ${who}${why}: ${blocks.join('; ')}`;
  return `preflight: skipped ${who}${why}; it had failed: ${rec.lastError ?? 'unknown error'}`;
}

/** One line for the baseline step: how much traffic, the worst error rate, the old gateway's load. */
export function baselineSummary(b: TrafficBaseline): string {
  const measured = Object.entries(b.namespaces);
  const worst = measured.reduce<[string, number] | undefined>(
    (w, [ns, r]) => (r.errorRatio !== undefined && r.errorRatio > (w?.[1] ?? 0) ? [ns, r.errorRatio] : w),
    undefined,
  );
  const total = measured.reduce((n, [, r]) => n + r.requestRate, 0);
  return [
    `${measured.length} namespace(s) with traffic (${total.toFixed(2)} req/s), ${b.quiet.length} without`,
    worst ? `highest error rate ${(worst[1] * 100).toFixed(2)}% (${worst[0]})` : 'no errors',
    `old gateway ${b.sourceGateway === undefined ? 'not measured' : `${b.sourceGateway.toFixed(2)} req/s`}`,
  ].join('; ');
}

/** What the analysis will ask Prometheus, shown in the start gate (the same PromQL the activities send). */
export function analysisLines(plan: Plan): string[] {
  const a = plan.analysis;
  if (!a) return [];
  const oldGw = { namespace: plan.source.gateway.namespace, workload: gatewayDeploymentName(plan.source.gateway) };
  return [
    `traffic analysis via ${a.prometheus.url}: each namespace's error rate after its move ≤ its baseline + ${(a.namespace.maxErrorRateIncrease * 100).toFixed(2)}%, e.g. ${namespaceErrorRatio('NS', a.namespace.window)}`,
    `before decommission: the old gateway at 0 req/s for ${Math.round(a.drain.window / 1000)}s: ${gatewayRequestRate(oldGw, a.drain.window)}`,
  ];
}

/** The start gate's line for one wave: its namespaces, and for a `select` wave how they were chosen. */
export function waveLine(written: Plan['waves'][number], namespaces: readonly string[], i: number): string {
  const pace = `${written.concurrency} at a time${written.prepareAhead ? `, ${written.prepareAhead} prepared ahead` : ''}`;
  if (!written.select) return `wave ${i + 1} "${written.name}" (${pace}): ${namespaces.join(', ')}`;
  const resolved = namespaces.length > 0 ? namespaces.join(', ') : 'no namespace matched: this wave moves nothing';
  return `wave ${i + 1} "${written.name}" (${pace}; select: ${describeSelect(written.select)}): ${resolved}`;
}

/** The start gate's line for the namespaces the source still injects that no wave takes. */
export function unmatchedLine(u: NonNullable<WaveSelection['unmatched']>): string {
  const more = u.count > u.names.length ? ` and ${u.count - u.names.length} more` : '';
  return `not in any wave, still injected by the source (no sidecar for their new pods after the decommission): ${u.names.join(', ')}${more}`;
}

/** The resolve-waves step's checklist line: every name of a small wave, a count and a sample of a big one. */
export function resolvedWavesSummary(found: WaveSelection): string {
  return found.waves
    .map(
      (w) =>
        `${w.name}: ${w.namespaces.length === 0 ? 'none' : w.namespaces.length > 10 ? `${w.namespaces.length} namespaces (${w.namespaces.slice(0, 3).join(', ')}, …)` : w.namespaces.join(', ')}`,
    )
    .join('; ');
}

/** The error of a resolve-waves that selected nothing at all, naming each wave's selection. */
export function nothingSelectedError(written: Plan): string {
  return `no wave selected any namespace (${written.waves.map((w) => `"${w.name}": ${w.select ? describeSelect(w.select) : 'by name'}`).join('; ')}); label the namespaces or change the plan, then retry`;
}

/** `k=v, k=v` or `k=v k=v` of the labels a relabel sets. */
function labelPairs(set: Record<string, string>, separator: string): string {
  return Object.entries(set)
    .map(([k, v]) => `${k}=${v}`)
    .join(separator);
}

export interface StartGateInput {
  /** The plan as written (its waves' selectors). */
  written: Plan;
  /** The plan with every wave resolved to names. */
  plan: Plan;
  selection: WaveSelection | undefined;
  preflight: PreflightResults | undefined;
  backup: BackupRef | undefined;
  /** The line naming a skipped preflight, when there is one (and the run knows to show it). */
  skippedPreflight: string[];
}

/** The start gate: every wave's namespaces, the label change, preflight and backup, the analysis. */
export function startGateSummary(i: StartGateInput): GateSummary {
  const { plan } = i;
  const change = relabelFor(plan);
  return {
    title: `Move ${plannedNamespaces(plan).length} namespace(s) from ${plan.source.revision} to ${plan.target.revision}`,
    details: [
      ...i.written.waves.map((w, n) => waveLine(w, plan.waves[n]!.namespaces, n)),
      ...(i.selection?.unmatched ? [unmatchedLine(i.selection.unmatched)] : []),
      ...(plan.target.tag !== undefined
        ? [
            `first, once: revision tag ${plan.target.tag} pointed at ${plan.target.revision} (as istioctl tag set does): every namespace on the tag gets ${plan.target.revision}'s sidecar at its next restart`,
          ]
        : []),
      `each namespace: set ${labelPairs(change.set, ', ')}; remove ${change.remove.join(', ')}; rollout-restart workloads with a sidecar`,
      `preflight: ${i.preflight?.warnings ?? 0} warning(s); backup: ${i.backup?.location ?? 'skipped'}`,
      ...i.skippedPreflight,
      ...analysisLines(plan),
    ],
    commands: [
      ...(plan.target.tag !== undefined ? [`istioctl tag set ${plan.target.tag} --revision ${plan.target.revision} --overwrite`] : []),
      `kubectl label namespace NS ${labelPairs(change.set, ' ')} istio-injection- --overwrite`,
      'kubectl rollout restart deployment,statefulset,daemonset -n NS',
    ],
  };
}

/** The DNS cutover gate: the records, the provider and the TTL wait, how many namespaces moved. */
export function dnsCutoverGateSummary(plan: Plan, dns: DnsCutover, migrated: number, total: number): GateSummary {
  return {
    title: `Point DNS at the new gateway ${plan.target.gateway.namespace}/${plan.target.gateway.service}`,
    details: [
      ...dns.records.map((r) => `${r.type} ${r.name} → the new gateway's external address`),
      `provider: ${dns.provider.type}; then a wait of one TTL (${Math.round(dns.ttl / 1000)}s) with both gateways serving`,
      `namespaces migrated: ${migrated}/${total}`,
    ],
  };
}

/** The gateway's Deployment `namespace/name`, and the `Kind/name` a restart names it by. */
export function gatewayWorkload(plan: Pick<Plan, 'source'>): { id: string; workload: string } {
  const gw = plan.source.gateway;
  const name = gatewayDeploymentName(gw);
  return { id: `${gw.namespace}/${name}`, workload: `Deployment/${name}` };
}

/** The in-place gateway move's gate: the label change, the rollout, what is verified; no DNS change. */
export function gatewayMoveGateSummary(plan: Plan, migrated: number, total: number): GateSummary {
  const gw = plan.source.gateway;
  const { id } = gatewayWorkload(plan);
  return {
    title: `Move the gateway ${id} to ${plan.target.revision} in place`,
    details: [
      `istio.io/rev=${plan.target.revision} where its pods take their revision (namespace ${gw.namespace} or the pod template), then a rolling restart; its address stays, DNS is not changed`,
      `then verified: its proxies SYNCED on ${plan.target.revision}, ${plan.verification.gateway.length} gateway probe(s)`,
      `namespaces migrated: ${migrated}/${total}`,
    ],
    commands: [
      `kubectl -n ${gw.namespace} patch deployment ${gatewayDeploymentName(gw)} --type merge -p '{"spec":{"template":{"metadata":{"labels":{"istio.io/rev":"${plan.target.revision}"}}}}}'`,
      `kubectl -n ${gw.namespace} rollout status deployment ${gatewayDeploymentName(gw)}`,
    ],
  };
}

/** A manual DNS provider's gate: the records a person changes, then approves. */
export function manualDnsGateSummary(title: string, change: DnsChange): GateSummary {
  return { title, details: change.records.map((r) => `${r} → ${change.address}`) };
}

/**
 * The decommission gate: what goes (preflight's scope of the source's objects), the backup first,
 * and with an analysis, what the old gateway's drain measured (`drained`: that step's line).
 */
export function decommissionGateSummary(plan: Plan, scope: string | undefined, drained: string | undefined): GateSummary {
  return {
    title: `Remove the old control plane ${plan.source.revision} (${plan.source.istiodNamespace}) — cannot be rolled back`,
    details: [
      scope ?? "the source revision's webhook configurations, istiod and gateway Deployments/Services; never CRDs",
      'each object is backed up before it is deleted',
      ...(plan.target.gatewayMove === IN_PLACE
        ? [`the gateway ${gatewayWorkload(plan).id} moved in place to ${plan.target.revision}: it is kept`]
        : plan.analysis
          ? [`old gateway: ${drained ?? 'drain not measured (step skipped)'}`]
          : []),
      ...(plan.dns === undefined && plan.target.gatewayMove !== IN_PLACE
        ? [`no DNS cutover (dns: none): clients still sent to the old gateway ${gatewayWorkload(plan).id} lose it here`]
        : []),
    ],
  };
}

/** A namespace's own gate before its move: the label change, the restart, what is verified. */
export function namespaceGateSummary(plan: Plan, namespace: string): GateSummary {
  const change = relabelFor(plan);
  return {
    title: `Move namespace ${namespace} to ${plan.target.revision}`,
    details: [
      `labels set: ${labelPairs(change.set, ', ')}; removed: ${change.remove.join(', ')}`,
      `workloads with a sidecar are rollout-restarted, at most ${plan.restart.maxConcurrent} at once`,
      `then verified: proxies SYNCED on ${plan.target.revision}, ${plan.verification.crossNamespace.length + plan.verification.gateway.length} traffic probe(s)`,
    ],
    commands: [
      `kubectl label namespace ${namespace} ${labelPairs(change.set, ' ')} ${change.remove.map((k) => `${k}-`).join(' ')} --overwrite`,
      `kubectl rollout restart deployment,statefulset,daemonset -n ${namespace}`,
    ],
  };
}
