// verifyProxies: every pod with a sidecar in the namespace runs the expected revision's sidecar and
// is SYNCED in that revision's istiod /debug/syncz (what `istioctl proxy-status` shows). The
// judgement is pure; the activity lists pods once and reads syncz from every istiod pod of the
// revision (a proxy connects to one of them).
import type { V1Pod } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { NamespaceRef, ProxyReport } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { findProxy, hasSidecar, parseSyncz, sidecarRevision, SyncStatus, type SynczEntry } from '../../mesh/syncz.js';
import { nowMs, tuning, type ClusterDeps } from '../shared/deps.js';
import { labelSelectorOf } from '../shared/pods.js';
import { pollUntil } from '../shared/waiting.js';
import { FailureType } from '../failures.js';

/** Our probe pods come and go; they are not workloads to verify. */
export const PROBE_LABEL = 'meshmove.dev/probe';
const MAX_PROBLEMS = 20;

/** Pods that should have a live proxy: injected, not finished, not being deleted, not our probes. */
export function podsToVerify(pods: readonly V1Pod[]): V1Pod[] {
  return pods.filter(
    (p) =>
      hasSidecar(p) &&
      !p.metadata?.deletionTimestamp &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed' &&
      p.metadata?.labels?.[PROBE_LABEL] !== 'true',
  );
}

export function judgeProxies(namespace: string, pods: readonly V1Pod[], syncz: readonly SynczEntry[], revision: string): ProxyReport {
  const problems: string[] = [];
  let synced = 0;
  const checked = podsToVerify(pods);
  for (const p of checked) {
    const name = p.metadata?.name ?? '?';
    const rev = sidecarRevision(p);
    if (rev !== revision) {
      problems.push(`${name}: sidecar revision ${rev ?? 'unknown'}, expected ${revision}`);
      continue;
    }
    const sync = findProxy(syncz, name, namespace);
    if (!sync) {
      problems.push(
        `${name}: not connected to istiod-${revision} (absent from its syncz)${p.status?.phase && p.status.phase !== 'Running' ? `; pod ${p.status.phase}` : ''}`,
      );
    } else if (sync.overall === SyncStatus.synced) {
      synced++;
    } else {
      const types = Object.entries(sync.perType)
        .filter(([, s]) => s !== SyncStatus.synced && s !== SyncStatus.notSent)
        .map(([t]) => t);
      problems.push(
        `${name}: ${sync.overall}${types.length ? ` (${types.join(', ')}${sync.neverAcknowledged.length ? ', never acknowledged' : ''})` : ''}`,
      );
    }
  }
  const listed = problems.slice(0, MAX_PROBLEMS);
  if (problems.length > MAX_PROBLEMS) listed.push(`... and ${problems.length - MAX_PROBLEMS} more`);
  return { revision, pods: checked.length, synced, problems: listed };
}

/** The istiod namespace of a revision the plan knows. */
export function istiodNamespaceOf(plan: Pick<Plan, 'source' | 'target'>, revision: string): string {
  if (revision === plan.target.revision) return plan.target.istiodNamespace;
  if (revision === plan.source.revision) return plan.source.istiodNamespace;
  throw ApplicationFailure.create({
    type: FailureType.UnknownRevision,
    nonRetryable: true,
    message: `revision "${revision}" is neither the plan's source (${plan.source.revision}) nor its target (${plan.target.revision})`,
  });
}

/** syncz of every istiod pod of the revision, merged. */
export async function readSyncz(deps: ClusterDeps, revision: string, istiodNamespace: string): Promise<SynczEntry[]> {
  const bodies = await deps.kube.readIstiodDebugAll(revision, istiodNamespace, '/debug/syncz');
  const out: SynczEntry[] = [];
  for (const { pod, body } of bodies) {
    try {
      out.push(...parseSyncz(JSON.parse(body)));
    } catch (err) {
      throw ApplicationFailure.create({
        type: FailureType.SynczUnreadable,
        nonRetryable: false,
        message: `/debug/syncz of ${istiodNamespace}/${pod} is not a syncz listing: ${(err as Error).message}`,
      });
    }
  }
  return out;
}

export async function verifyProxies(
  deps: ClusterDeps,
  input: NamespaceRef & { revision: string; selector?: Record<string, string> },
): Promise<ProxyReport> {
  const { namespace, revision, plan } = input;
  const listOptions = input.selector ? { labelSelector: labelSelectorOf(input.selector) } : undefined;
  const istiodNs = istiodNamespaceOf(plan, revision);
  const t = tuning(deps);
  const start = nowMs(deps);
  // Freshly restarted proxies take a moment to connect and ACK: look again for a short while
  // before reporting problems; the report is the workflow's to judge.
  let last: ProxyReport | undefined;
  try {
    return await pollUntil<ProxyReport, ProxyReport>({
      intervalMs: t.pollMs,
      // Proxies restarted a moment ago connect within a second or so: look again soon.
      firstIntervalMs: Math.min(t.pollMs, 200),
      deadline: start + t.proxySettleMs,
      now: () => nowMs(deps),
      details: (r) => ({ namespace, revision, pods: r?.pods, synced: r?.synced, problems: r?.problems.length }),
      onTimeout: () => new SettleTimeout(),
      check: async () => {
        const [pods, syncz] = await Promise.all([deps.kube.listPods(namespace, listOptions), readSyncz(deps, revision, istiodNs)]);
        last = judgeProxies(namespace, pods, syncz, revision);
        return last.problems.length === 0 ? { done: true, value: last } : { done: false, progress: last };
      },
    });
  } catch (err) {
    if (err instanceof SettleTimeout && last) return last;
    throw err;
  }
}

class SettleTimeout extends Error {}
