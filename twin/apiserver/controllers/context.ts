// What every controller gets: the verbs (through admission and validation, as the real
// controller-manager's API calls are), the store for reads and events, and the timings.
import type { Logger } from '../../../logging/logger.js';
import type { FaultController } from '../faults.js';
import type { PodLogs } from '../logs.js';
import { ENDPOINTS_ANNOTATION } from '../podnetwork.js';
import type { ApiCore } from '../operations.js';
import type { ResourceDef } from '../resources.js';
import type { Store } from '../storage.js';
import type { KubeObject, OwnerReference } from '../types.js';

export interface ControllerContext extends PodStartTimings {
  core: ApiCore;
  store: Store;
  faults: FaultController;
  logs: PodLogs;
  logger: Logger;
  rolloutPodDelayMs: number;
  nodeName: string;
}

export function defOf(ctx: ControllerContext, group: string, resource: string): ResourceDef {
  return ctx.core.registry.get(group, resource)!;
}

export function controllerRef(o: KubeObject): OwnerReference | undefined {
  return (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

export function ownedBy(o: KubeObject, owner: KubeObject): boolean {
  return controllerRef(o)?.uid === owner.metadata.uid;
}

export function ownerRefTo(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** FNV-1a, 32 bits, over a string's UTF-16 code units. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * How long a new pod of `namespace`/`workload` takes to become ready: the pod start delay, moved by up
 * to ± the spread by the workload's name, so that workloads start unequally, as real ones do, yet
 * the same on every rollout and in every twin of one scenario (two runs wait alike).
 */
export function podStartDelay(timings: PodStartTimings, namespace: string, workload: string): number {
  if (timings.podStartSpreadMs <= 0) return timings.podStartDelayMs;
  // FNV-1a alone moves its high bits little for names that differ in their last character (app-1,
  // app-2): murmur3's finalizer spreads them over the whole range.
  let h = fnv1a32(`${namespace}/${workload}`);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  const u = ((h ^ (h >>> 16)) >>> 0) / 0x1_0000_0000;
  return Math.max(0, Math.round(timings.podStartDelayMs + (2 * u - 1) * timings.podStartSpreadMs));
}

export interface PodStartTimings {
  podStartDelayMs: number;
  /** 0: every pod takes podStartDelayMs. */
  podStartSpreadMs: number;
}

/**
 * FNV-1a 32 over a canonical JSON form, encoded like apimachinery's rand.SafeEncodeString. The
 * twin's pod network annotation (twin.meshmove.dev/endpoints) is left out: it says where the twin
 * serves a pod's ports, which a restored twin may rewrite without that being a new template.
 */
export function templateHash(template: unknown): string {
  const annotations = (template as { metadata?: { annotations?: Record<string, string> } } | null)?.metadata?.annotations;
  if (annotations && ENDPOINTS_ANNOTATION in annotations) {
    const { [ENDPOINTS_ANNOTATION]: _ignored, ...rest } = annotations;
    const t = template as { metadata: Record<string, unknown> };
    template = { ...t, metadata: { ...t.metadata, annotations: rest } };
  }
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  const h = fnv1a32(JSON.stringify(canonical(template)));
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return String(h)
    .split('')
    .map((c) => alphabet[c.charCodeAt(0) % alphabet.length])
    .join('');
}

export function isPodActive(p: KubeObject): boolean {
  const phase = (p.status as { phase?: string } | undefined)?.phase;
  return !p.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

/** Sets a condition, keeping lastTransitionTime when the status does not change. */
export function setCondition(conds: Condition[], c: Condition, now: string, withUpdateTime = false): Condition[] {
  const prev = conds.find((x) => x.type === c.type);
  const same = prev && prev.status === c.status && prev.reason === c.reason && prev.message === c.message;
  const next: Condition = {
    ...c,
    ...(withUpdateTime ? { lastUpdateTime: same ? (prev.lastUpdateTime ?? now) : now } : {}),
    lastTransitionTime: prev && prev.status === c.status ? (prev.lastTransitionTime ?? now) : now,
  };
  return [...conds.filter((x) => x.type !== c.type), next];
}

/** A warning Event like the controllers emit (best effort). */
export async function recordEvent(
  ctx: ControllerContext,
  about: KubeObject,
  kind: string,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
): Promise<void> {
  const ns = about.metadata.namespace ?? 'default';
  const now = ctx.core.now();
  try {
    await ctx.core.create(defOf(ctx, '', 'events'), 'v1', ns, {
      metadata: { generateName: `${about.metadata.name ?? 'x'}.`, namespace: ns },
      involvedObject: {
        kind,
        namespace: ns,
        name: about.metadata.name,
        uid: about.metadata.uid,
        apiVersion: about.apiVersion,
        resourceVersion: about.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: component,
      reportingInstance: '',
    });
  } catch (e) {
    ctx.logger.debug({ err: e }, 'event not recorded');
  }
}
