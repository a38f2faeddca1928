// verifyMesh, after the last namespace moved: every planned namespace's proxies on the target and
// none on the source; the target istiod's push/send error counters read twice a window apart;
// optionally Prometheus for the error ratio and the old gateway's traffic.
import { sleep } from '@temporalio/activity';
import type { MeshVerification, RunRef } from '../contract.js';
import { plannedNamespaces, type Plan } from '../../plan/schema.js';
import { findProxy, sidecarRevision, SyncStatus, type SynczEntry } from '../../mesh/syncz.js';
import { mapLimit } from '../shared/concurrency.js';
import { nowMs, tuning, type ClusterDeps } from '../shared/deps.js';
import { heartbeatIfActivity, resumedDetails } from '../shared/waiting.js';
import { compareCounters, errorCounters, NONEXISTENT_PUSH_ERRORS_METRIC } from './metrics.js';
import { podsToVerify, readSyncz } from './proxies.js';

export const PUSH_ERRORS_NOTE =
  `${NONEXISTENT_PUSH_ERRORS_METRIC} (in the field report's checklist) does not exist in Istio (removed in 1.3): push/send errors are read from ` +
  'pilot_xds_pushes{type=~".*_senderr"}, pilot_total_xds_rejects and pilot_total_xds_internal_errors (plus pilot_xds_push_context_errors, pilot_xds_write_timeout)';

interface MetricsProgress {
  phase: 'metrics-window';
  /** When the first read was taken (epoch ms). */
  firstAt: number;
  /** pod → error counters at the first read. */
  first: Record<string, Record<string, number>>;
}

async function readErrorCounters(deps: ClusterDeps, plan: Plan): Promise<Record<string, Record<string, number>>> {
  const all = await deps.kube.readIstiodDebugAll(plan.target.revision, plan.target.istiodNamespace, '/metrics');
  return Object.fromEntries(all.map(({ pod, body }) => [pod, errorCounters(body)]));
}

interface Census {
  onTarget: number;
  onSource: number;
  /** Per-namespace problems: other revisions, not synced, still connected to the source. */
  problems: string[];
}

/** Pure: one namespace's pods against both istiods' syncz listings. */
export function censusNamespace(
  namespace: string,
  pods: Parameters<typeof podsToVerify>[0],
  plan: Pick<Plan, 'source' | 'target'>,
  targetSyncz: readonly SynczEntry[],
  sourceSyncz: readonly SynczEntry[] | undefined,
): Census {
  const c: Census = { onTarget: 0, onSource: 0, problems: [] };
  for (const p of podsToVerify(pods)) {
    const name = p.metadata?.name ?? '?';
    const rev = sidecarRevision(p);
    const connectedToSource = sourceSyncz ? findProxy(sourceSyncz, name, namespace) !== null : false;
    if (rev === plan.source.revision || connectedToSource) {
      c.onSource++;
      c.problems.push(
        `${namespace}/${name}: ${rev === plan.source.revision ? `sidecar revision ${rev}` : 'connected to the source istiod'}`,
      );
      continue;
    }
    if (rev !== plan.target.revision) {
      c.problems.push(`${namespace}/${name}: sidecar revision ${rev ?? 'unknown'}`);
      continue;
    }
    c.onTarget++;
    const s = findProxy(targetSyncz, name, namespace);
    if (!s) c.problems.push(`${namespace}/${name}: not connected to istiod-${plan.target.revision}`);
    else if (s.overall !== SyncStatus.synced) c.problems.push(`${namespace}/${name}: ${s.overall}`);
  }
  return c;
}

export async function verifyMesh(deps: ClusterDeps, input: RunRef): Promise<MeshVerification> {
  const { plan } = input;
  const t = tuning(deps);
  const notes: string[] = [PUSH_ERRORS_NOTE];
  const errorIncreases: string[] = [];

  // First metrics read, or the one an earlier attempt took (the window keeps its start).
  const resumed = resumedDetails<MetricsProgress>((d) => (d as MetricsProgress).phase === 'metrics-window');
  const progress: MetricsProgress = resumed ?? {
    phase: 'metrics-window',
    firstAt: nowMs(deps),
    first: await readErrorCounters(deps, plan),
  };
  heartbeatIfActivity(progress);

  // Census while the window runs.
  const namespaces = plannedNamespaces(plan);
  const targetSyncz = await readSyncz(deps, plan.target.revision, plan.target.istiodNamespace);
  let sourceSyncz: SynczEntry[] | undefined;
  try {
    sourceSyncz = await readSyncz(deps, plan.source.revision, plan.source.istiodNamespace);
  } catch (err) {
    // A vendor-managed source istiod may not be reachable by port-forward: the sidecar revision still tells.
    notes.push(`source istiod syncz not readable (${(err as Error).message.split('\n')[0]}); judged by sidecar revision only`);
  }
  const censuses = await mapLimit(namespaces, 4, async (ns) => {
    const c = censusNamespace(ns, await deps.kube.listPods(ns), plan, targetSyncz, sourceSyncz);
    heartbeatIfActivity(progress);
    return c;
  });
  const onTarget = censuses.reduce((n, c) => n + c.onTarget, 0);
  const onSource = censuses.reduce((n, c) => n + c.onSource, 0);
  const problems = censuses.flatMap((c) => c.problems);
  if (problems.length)
    notes.push(
      `proxies not on the target or not SYNCED: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? ` ... and ${problems.length - 20} more` : ''}`,
    );

  for (;;) {
    const left = progress.firstAt + plan.verification.metricsWindow - nowMs(deps);
    if (left <= 0) break;
    heartbeatIfActivity(progress);
    await sleep(Math.min(left, t.pollMs));
  }
  const second = await readErrorCounters(deps, plan);
  for (const pod of Object.keys(second).sort()) {
    const before = progress.first[pod];
    if (!before) {
      notes.push(`istiod pod ${pod} appeared during the window (restart or scale-up): its counters were not compared`);
      continue;
    }
    const cmp = compareCounters(before, second[pod]!, Object.keys(second).length > 1 ? `${pod}: ` : '');
    errorIncreases.push(...cmp.increases);
    if (cmp.resets.length) notes.push(`istiod pod ${pod} counters went down (restarted?): ${cmp.resets.join('; ')}`);
  }
  for (const pod of Object.keys(progress.first)) if (!(pod in second)) notes.push(`istiod pod ${pod} is gone since the first read`);

  if (!plan.analysis) {
    notes.push(
      'no analysis in the plan: the error-rate comparison and "old gateway traffic is zero" are not checked; the gateway probes of each namespace stand in for them (name a Prometheus in analysis.prometheus.url)',
    );
  }
  return { namespaces: namespaces.length, onTarget, onSource, errorIncreases, notes };
}
