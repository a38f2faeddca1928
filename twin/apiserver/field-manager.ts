// Server-side apply's field ownership, as structured-merge-diff keeps it in metadata.managedFields,
// for appliers: each manager that applied owns the fields its last applied configuration set; a
// second manager applying a different value to an owned field is a 409 Conflict naming the owner
// and the field (unless it forces, which takes the field over); a field a manager stops applying
// is removed when nobody else owns it. Simplified: writes that are not applies record no
// ownership (real kube-apiserver records an `Update` entry for them); maps are granular, lists
// with a merge key are keyed by it (`k:{"name":"app"}`), other lists are owned whole.
import { ApiError } from './errors.js';
import { isPlainObject, jsonClone, type KubeObject } from './types.js';

interface Entry {
  manager: string;
  operation: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: unknown;
}

const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  webhooks: 'name',
  imagePullSecrets: 'name',
};
const UNOWNED_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'managedFields',
  'selfLink',
]);

/** A field path in fieldsV1 steps: `f:data`, `k:{"name":"app"}`. */
type Steps = string[];

function leaves(value: unknown, at: Steps, out: Map<string, Steps>, listName?: string): void {
  // An empty map in the applied configuration owns nothing (seen on kube-apiserver: `labels: {}`).
  if (isPlainObject(value) && Object.keys(value).length === 0 && at.length > 0) return;
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) {
      if (at.length === 0 && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue;
      if (at.length === 1 && at[0] === 'f:metadata' && UNOWNED_METADATA.has(k)) continue;
      leaves(v, [...at, `f:${k}`], out, k);
    }
    return;
  }
  const key = listName ? MERGE_KEYS[listName] : undefined;
  if (Array.isArray(value) && key && value.every((e) => isPlainObject(e) && e[key] !== undefined)) {
    for (const e of value as Array<Record<string, unknown>>) {
      const itemSteps = [...at, `k:${JSON.stringify({ [key]: e[key] })}`];
      out.set(itemSteps.join('\u0000'), itemSteps);
      for (const [k, v] of Object.entries(e)) if (k !== key) leaves(v, [...itemSteps, `f:${k}`], out, k);
    }
    return;
  }
  out.set(at.join('\u0000'), at);
}

function fieldSet(config: unknown): Map<string, Steps> {
  const out = new Map<string, Steps>();
  leaves(config, [], out);
  return out;
}

function tree(fields: Iterable<Steps>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const steps of fields) {
    let node = root;
    for (const s of steps) node = (node[s] ??= {}) as Record<string, unknown>;
    if (steps.length > 0 && steps[steps.length - 1]!.startsWith('k:')) node['.'] = {};
  }
  return root;
}

function fromTree(t: unknown, at: Steps = [], out = new Map<string, Steps>()): Map<string, Steps> {
  if (!isPlainObject(t)) return out;
  const children = Object.keys(t).filter((k) => k !== '.');
  if ((children.length === 0 || '.' in t) && at.length > 0) out.set(at.join('\u0000'), at);
  for (const k of children) fromTree(t[k], [...at, k], out);
  return out;
}

/** Follows steps through an object; undefined when absent. */
function valueAt(o: unknown, steps: Steps): unknown {
  let cur = o;
  for (const s of steps) {
    if (s.startsWith('f:')) cur = isPlainObject(cur) ? cur[s.slice(2)] : undefined;
    else {
      const [[k, v]] = Object.entries(JSON.parse(s.slice(2)) as Record<string, unknown>) as [[string, unknown]];
      cur = Array.isArray(cur) ? cur.find((e) => isPlainObject(e) && e[k] === v) : undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

function removeAt(o: unknown, steps: Steps): void {
  const parent = valueAt(o, steps.slice(0, -1));
  const last = steps[steps.length - 1]!;
  if (last.startsWith('f:') && isPlainObject(parent)) delete parent[last.slice(2)];
  else if (Array.isArray(parent)) {
    const [[k, v]] = Object.entries(JSON.parse(last.slice(2)) as Record<string, unknown>) as [[string, unknown]];
    const i = parent.findIndex((e) => isPlainObject(e) && e[k] === v);
    if (i >= 0) parent.splice(i, 1);
  }
}

/** `.data.k`, `.spec.containers[name="app"].image`: how apply conflicts name a field. */
function shown(steps: Steps): string {
  return steps
    .map((s) => {
      if (s.startsWith('f:')) return `.${s.slice(2)}`;
      const [[k, v]] = Object.entries(JSON.parse(s.slice(2)) as Record<string, unknown>) as [[string, unknown]];
      return `[${k}=${JSON.stringify(v)}]`;
    })
    .join('');
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export interface ApplyOwnership {
  /** The managedFields to store. */
  managedFields: Entry[];
  /** Removes from the merged object what the manager stopped applying and nobody else owns. */
  prune(merged: KubeObject): void;
}

/**
 * Ownership after `manager` applies `config` over `current` (undefined: a create). Throws the
 * 409 kube-apiserver answers when another manager owns a field with a different value.
 */
export function applyOwnership(
  current: KubeObject | undefined,
  config: KubeObject,
  manager: string,
  force: boolean,
  apiVersion: string,
  now: string,
): ApplyOwnership {
  const entries = ((current?.metadata.managedFields ?? []) as Entry[]).map((e) => ({ ...e, fields: fromTree(e.fieldsV1) }));
  const applied = fieldSet(config);
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply');
  const others = entries.filter((e) => e !== mine);
  const conflicts: Array<{ manager: string; field: string }> = [];
  for (const e of others) {
    for (const [k, steps] of applied) {
      if (!e.fields.has(k)) continue;
      if (same(valueAt(current, steps), valueAt(config, steps))) continue;
      if (force) e.fields.delete(k);
      else conflicts.push({ manager: e.manager, field: shown(steps) });
    }
  }
  if (conflicts.length > 0) throw applyConflict(conflicts);
  const dropped = [...(mine?.fields ?? new Map<string, Steps>())].filter(([k]) => !applied.has(k) && !others.some((e) => e.fields.has(k)));
  const next: Entry[] = [];
  const entryOf = (e: Entry, fields: Map<string, Steps>): Entry => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion ?? apiVersion,
    time: e.time ?? now,
    fieldsType: 'FieldsV1',
    fieldsV1: tree(fields.values()),
  });
  for (const e of entries) {
    if (e === mine) continue;
    if (e.fields.size > 0) next.push(entryOf(e, e.fields));
  }
  next.push({ manager, operation: 'Apply', apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: tree(applied.values()) });
  return {
    managedFields: jsonClone(next),
    prune(merged) {
      for (const [, steps] of dropped) removeAt(merged, steps);
    },
  };
}

function applyConflict(conflicts: Array<{ manager: string; field: string }>): ApiError {
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.field]);
  const n = conflicts.length;
  const head = `Apply failed with ${n} conflict${n === 1 ? '' : 's'}: `;
  const parts = [...byManager].map(([m, fields]) =>
    fields.length === 1 ? `conflict with "${m}": ${fields[0]!}` : `conflicts with "${m}":\n${fields.map((f) => `- ${f}`).join('\n')}`,
  );
  return new ApiError(409, 'Conflict', head + parts.join('\n'), {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.field })),
  });
}
