// The labels a namespace will have after the plan's relabel (set istio.io/rev and the discovery
// labels, remove istio-injection: plan/schema relabelFor). Pure; shared by the discovery and
// injection checks and by `meshmove inspect namespace`.
import type { Plan } from '../../plan/schema.js';
import { relabelFor } from '../../plan/schema.js';

export function labelsAfterRelabel(labels: Record<string, string>, plan: Pick<Plan, 'target'>): Record<string, string> {
  const change = relabelFor(plan);
  const out: Record<string, string> = { ...labels };
  for (const k of change.remove) delete out[k];
  Object.assign(out, change.set);
  return out;
}
