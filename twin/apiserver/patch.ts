// The three patch formats of the Kubernetes API: JSON merge patch (RFC 7386), strategic merge
// patch (merge keys from the built-in types' patchMergeKey tags) and JSON patch (RFC 6902).
import { ApiError, Errors } from './errors.js';
import { isPlainObject, jsonClone } from './types.js';

type Json = unknown;
type Obj = Record<string, unknown>;

/** How encoding/json names a JSON value's type in an unmarshal error. */
export function goJsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isPlainObject(patch)) return jsonClone(patch);
  const out: Obj = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge

/** patchMergeKey per list field name; `ports` depends on the parent (container vs service). */
function mergeKeyFor(path: string[], field: string): string | undefined {
  const parent = path[path.length - 1];
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'resourceClaims':
    case 'schedulingGates':
      return 'name';
    case 'ports':
      // Container ports merge on containerPort; ServiceSpec ports on port.
      return parent === '[]' ? 'containerPort' : 'port';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'hostAliases':
      return 'ip';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'webhooks':
      return 'name';
    default:
      return undefined;
  }
}

/** Lists of primitives with patchStrategy merge (a set union). */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

function strategicList(path: string[], field: string, original: unknown, patch: unknown[]): unknown[] {
  const key = mergeKeyFor(path, field);
  const orig = Array.isArray(original) ? original : [];
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const out = [...orig];
    for (const p of patch) if (!out.includes(p)) out.push(p);
    return serverOrder(out, patch, orig, (x) => x);
  }
  if (!key) {
    // No merge key: the list is replaced (after dropping directive entries).
    return patch.filter((p) => !(isPlainObject(p) && '$patch' in p)).map((p) => jsonClone(p));
  }
  if (patch.some((p) => isPlainObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isPlainObject(p) && p.$patch === 'replace')).map((p) => jsonClone(p));
  }
  const out = orig.map((o) => jsonClone(o));
  for (const p of patch) {
    if (!isPlainObject(p)) throw Errors.badRequest(`unable to find api field in struct for the list ${field}: expected a map`);
    const keyValue = p[key];
    // kube-apiserver answers this one as a bare 500 (no reason), the map printed as Go prints it.
    if (keyValue === undefined) throw new ApiError(500, '', `map: ${goMap(p)} does not contain declared merge key: ${key}`);
    const idx = out.findIndex((o) => isPlainObject(o) && o[key] === keyValue);
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], p, [...path, field, '[]']);
    else out.push(strategicMerge(undefined, p, [...path, field, '[]']));
  }
  const keyOf = (x: unknown): unknown => (isPlainObject(x) ? x[key] : undefined);
  return serverOrder(
    out,
    patch.filter((p) => !(isPlainObject(p) && p.$patch === 'delete')),
    orig,
    keyOf,
  );
}

/**
 * strategicpatch's normalizeElementOrder + mergeSortedSlice: the patch's items (in patch order)
 * and the server-only items (in server order) are merged; a server-only item goes first only when
 * both it and the next patch item were on the server and it came earlier there. So an item new to
 * the list lands before the server's remaining ones.
 */
function serverOrder(merged: unknown[], patch: unknown[], server: unknown[], keyOf: (x: unknown) => unknown): unknown[] {
  const patchKeys = patch.map(keyOf);
  const serverKeys = server.map(keyOf);
  const inPatch = merged
    .filter((m) => patchKeys.includes(keyOf(m)))
    .sort((a, b) => patchKeys.indexOf(keyOf(a)) - patchKeys.indexOf(keyOf(b)));
  const serverOnly = merged
    .filter((m) => !patchKeys.includes(keyOf(m)))
    .sort((a, b) => serverKeys.indexOf(keyOf(a)) - serverKeys.indexOf(keyOf(b)));
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < inPatch.length) {
    if (j >= inPatch.length) {
      out.push(serverOnly[i++]);
      continue;
    }
    if (i >= serverOnly.length) {
      out.push(inPatch[j++]);
      continue;
    }
    const li = serverKeys.indexOf(keyOf(serverOnly[i]));
    const ri = serverKeys.indexOf(keyOf(inPatch[j]));
    if (li >= 0 && ri >= 0 && li < ri) out.push(serverOnly[i++]);
    else out.push(inPatch[j++]);
  }
  return out;
}

/** fmt's %v of a map[string]interface{}: `map[a:1 b:x]`, keys sorted. */
function goMap(m: Record<string, unknown>): string {
  return `map[${Object.keys(m)
    .sort()
    .map((k) => `${k}:${typeof m[k] === 'object' && m[k] !== null ? JSON.stringify(m[k]) : String(m[k])}`)
    .join(' ')}]`;
}

export function strategicMerge(original: unknown, patch: unknown, path: string[] = []): unknown {
  if (!isPlainObject(patch)) return jsonClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return jsonClone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Obj = isPlainObject(original) ? { ...original } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as unknown[]).filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) out[k] = strategicList(path, k, out[k], v);
    else if (isPlainObject(v)) {
      const merged = strategicMerge(out[k], v, [...path, k]);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(out)) if (!(patch.$retainKeys as unknown[]).includes(k)) delete out[k];
  }
  return out;
}

// ---------------------------------------------------------------- JSON patch

interface Operation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw invalidPatch(`invalid JSON pointer "${p}"`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Why an operation did not apply (the apiserver does not say: see jsonPatch). */
class PatchOperationError extends Error {}

function invalidPatch(message: string): Error {
  return new PatchOperationError(message);
}

function resolveParent(doc: unknown, tokens: string[], opPath: string): { parent: unknown; last: string } {
  let cur = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isPlainObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw invalidPatch(`doc is missing path: "${opPath}": missing value`);
  }
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const t of parsePointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isPlainObject(cur)) cur = Object.prototype.hasOwnProperty.call(cur, t) ? cur[t] : undefined;
    else cur = undefined;
    if (cur === undefined) throw invalidPatch(`doc is missing path: "${path}": missing value`);
  }
  return cur;
}

function arrayIndex(arr: unknown[], token: string, opPath: string, allowEnd: boolean): number {
  if (token === '-' && allowEnd) return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw invalidPatch(`invalid array index "${token}" in "${opPath}"`);
  const i = Number(token);
  if (i > arr.length || (!allowEnd && i >= arr.length))
    throw invalidPatch(`Unable to access invalid index: ${i}: invalid index referenced`);
  return i;
}

function add(doc: unknown, path: string, value: unknown): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return jsonClone(value);
  const { parent, last } = resolveParent(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, true), 0, jsonClone(value));
  else if (isPlainObject(parent)) parent[last] = jsonClone(value);
  else throw invalidPatch(`doc is missing path: "${path}": missing value`);
  return doc;
}

function remove(doc: unknown, path: string): unknown {
  const tokens = parsePointer(path);
  const { parent, last } = resolveParent(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, false), 1);
  else if (isPlainObject(parent) && Object.prototype.hasOwnProperty.call(parent, last)) delete parent[last];
  else throw invalidPatch(`Unable to remove nonexistent key: ${last}: missing value`);
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * RFC 6902 over a copy of `target`. A document that is not a list of operations is a 400; an
 * operation that does not apply (a failed `test`, a missing path, an unknown op) is the 422 the
 * apiserver answers with jsonpatch's reason dropped (NewGenericServerResponse): "the server
 * rejected our request due to an error in our request", empty details.
 */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  // The strict decode (fieldValidation defaults to Strict) into []handlers.jsonPatchOp fails first.
  if (!Array.isArray(ops))
    throw Errors.badRequest(`error decoding patch: json: cannot unmarshal ${goJsonType(ops)} into Go value of type []handlers.jsonPatchOp`);
  try {
    return applyOperations(jsonClone(target), ops);
  } catch (e) {
    if (!(e instanceof PatchOperationError)) throw e;
    throw new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', {}, {}, e.message);
  }
}

function applyOperations(start: unknown, ops: unknown[]): unknown {
  let doc = start;
  for (const raw of ops) {
    if (!isPlainObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw invalidPatch(`Unexpected kind: ${isPlainObject(raw) && typeof raw.op === 'string' ? raw.op : 'unknown'}`);
    const op = raw as unknown as Operation;
    switch (op.op) {
      case 'add':
        if (!('value' in raw)) throw invalidPatch(`missing value for add at "${op.path}"`);
        doc = add(doc, op.path, op.value);
        break;
      case 'remove':
        doc = remove(doc, op.path);
        break;
      case 'replace':
        if (!('value' in raw)) throw invalidPatch(`missing value for replace at "${op.path}"`);
        getAt(doc, op.path);
        doc = remove(doc, op.path);
        doc = add(doc, op.path, op.value);
        break;
      case 'move': {
        if (typeof op.from !== 'string') throw invalidPatch('missing from for move');
        const v = getAt(doc, op.from);
        doc = remove(doc, op.from);
        doc = add(doc, op.path, v);
        break;
      }
      case 'copy': {
        if (typeof op.from !== 'string') throw invalidPatch('missing from for copy');
        doc = add(doc, op.path, getAt(doc, op.from));
        break;
      }
      case 'test': {
        let cur: unknown;
        try {
          cur = getAt(doc, op.path);
        } catch {
          cur = undefined;
        }
        if (!deepEqual(cur, op.value)) throw invalidPatch(`testing value ${op.path} failed: test failed`);
        break;
      }
      default:
        throw invalidPatch(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
