// Pods as failure messages name them: the restart's rollout wait and the probe Jobs both report
// why a pod is not getting anywhere (image pull, crash loop, unschedulable). Pure.
import type { V1Pod } from '@kubernetes/client-node';

/** `k=v,k=v`: a label selector choosing pods by equality on each of these labels. */
export function labelSelectorOf(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Deleted, its containers still stopping: no longer counts as one of its workload's pods. */
export function isTerminating(p: V1Pod): boolean {
  return p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null;
}

/** One line per pod for a failure message: phase, readiness, and why a container waits or died. */
export function describePod(p: V1Pod): string {
  const name = p.metadata?.name ?? '?';
  const phase = p.status?.phase ?? 'Unknown';
  const parts: string[] = [];
  if (isTerminating(p)) parts.push('terminating');
  for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
    const w = c.state?.waiting;
    const t = c.state?.terminated;
    if (w?.reason) parts.push(`${c.name}: ${w.reason}${w.message ? ` (${w.message.slice(0, 120)})` : ''}`);
    else if (t && t.exitCode !== 0) parts.push(`${c.name}: terminated ${t.reason ?? ''} exit ${t.exitCode}`.replace(/\s+/g, ' '));
    else if (!c.ready && c.state?.running) parts.push(`${c.name}: running, not ready`);
    if ((c.restartCount ?? 0) > 0) parts.push(`${c.name}: ${c.restartCount} restarts`);
  }
  const unscheduled = (p.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) parts.push(`unschedulable${unscheduled.message ? ` (${unscheduled.message.slice(0, 120)})` : ''}`);
  return `${name} ${phase}${parts.length ? `: ${parts.join('; ')}` : ''}`;
}
