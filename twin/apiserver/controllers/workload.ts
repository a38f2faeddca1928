// Shared pieces of the workload controllers: pods from templates, owned-pod lookup, status writes.
import type { LabelMap as Labels } from '../label-selector.js';
import type { ResourceDef } from '../resources.js';
import { jsonClone, type KubeObject } from '../types.js';
import { defOf, isPodActive, ownedBy, ownerRefTo, type ControllerContext } from './context.js';

export interface PodTemplate {
  metadata?: { labels?: Labels; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

export function podFromTemplate(
  template: PodTemplate,
  owner: KubeObject,
  ownerApiVersion: string,
  ownerKind: string,
  naming: { name?: string; generateName?: string },
  extraLabels: Labels = {},
  specPatch: Record<string, unknown> = {},
): KubeObject {
  const t = jsonClone(template);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...naming,
      namespace: owner.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), ...extraLabels },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ownerReferences: [ownerRefTo(owner, ownerApiVersion, ownerKind)],
    },
    spec: { ...(t.spec ?? {}), ...specPatch },
  };
}

export function ownedPods(ctx: ControllerContext, owner: KubeObject, includeInactive = false): KubeObject[] {
  return ctx.store
    .list(defOf(ctx, '', 'pods'), owner.metadata.namespace ?? '')
    .map((s) => s.obj)
    .filter((p) => ownedBy(p, owner) && (includeInactive || isPodActive(p)));
}

export function podReady(p: KubeObject): boolean {
  const conds = (p.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [];
  return (p.status as { phase?: string } | undefined)?.phase === 'Running' && conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Writes status through the status subresource when it changed; returns the stored object. */
export async function writeStatus(
  ctx: ControllerContext,
  def: ResourceDef,
  o: KubeObject,
  status: Record<string, unknown>,
): Promise<KubeObject> {
  if (JSON.stringify(o.status ?? {}) === JSON.stringify(status)) return o;
  const s = await ctx.core.update(def, def.versions[0]!, o.metadata.namespace ?? '', o.metadata.name!, { ...o, status }, 'status');
  return s.obj;
}

export async function deletePod(ctx: ControllerContext, p: KubeObject): Promise<void> {
  try {
    ctx.core.delete(defOf(ctx, '', 'pods'), 'v1', p.metadata.namespace ?? '', p.metadata.name!);
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw e;
  }
}

/** intstr "25%" or 1 against a total; surge rounds up, unavailable rounds down (as the deployment controller). */
export function resolveIntOrPercent(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.endsWith('%')) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return 0;
}
