// fieldSelector as apimachinery defines it: `a=b`, `a==b`, `a!=b`, comma-separated, ANDed, with
// `\` escapes; only the fields each resource registers (others → 400 "field label not supported").
import { Errors } from './errors.js';
import type { ResourceDef } from './resources.js';
import type { KubeObject } from './types.js';

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

type FieldGetter = (o: KubeObject) => string | undefined;

const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
const at = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((acc, k) => (acc && typeof acc === 'object' ? (acc as Record<string, unknown>)[k] : undefined), o);

const META: Record<string, FieldGetter> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace ?? '',
};

// From the field label conversion functions registered in each kube API group.
const PER_RESOURCE: Record<string, Record<string, FieldGetter>> = {
  '/pods': {
    'spec.nodeName': (o) => str(at(o, 'spec', 'nodeName')) ?? '',
    'spec.restartPolicy': (o) => str(at(o, 'spec', 'restartPolicy')) ?? '',
    'spec.schedulerName': (o) => str(at(o, 'spec', 'schedulerName')) ?? '',
    'spec.serviceAccountName': (o) => str(at(o, 'spec', 'serviceAccountName')) ?? '',
    'spec.hostNetwork': (o) => String(at(o, 'spec', 'hostNetwork') === true),
    'status.phase': (o) => str(at(o, 'status', 'phase')) ?? '',
    'status.podIP': (o) => str(at(o, 'status', 'podIP')) ?? '',
    'status.nominatedNodeName': (o) => str(at(o, 'status', 'nominatedNodeName')) ?? '',
  },
  // Namespaces: metadata.name and status.phase only (no metadata.namespace).
  '/namespaces': { 'metadata.name': (o) => o.metadata.name, 'status.phase': (o) => str(at(o, 'status', 'phase')) ?? '' },
  '/services': { 'spec.clusterIP': (o) => str(at(o, 'spec', 'clusterIP')) ?? '', 'spec.type': (o) => str(at(o, 'spec', 'type')) ?? '' },
  '/nodes': { 'spec.unschedulable': (o) => String(at(o, 'spec', 'unschedulable') === true) },
  '/secrets': { type: (o) => str(o.type) ?? '' },
  '/events': {
    ...Object.fromEntries(
      ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'].map((k): [string, FieldGetter] => [
        `involvedObject.${k}`,
        (o) => str(at(o, 'involvedObject', k)) ?? '',
      ]),
    ),
    reason: (o) => str(o.reason) ?? '',
    reportingComponent: (o) => str(o.reportingComponent) ?? '',
    source: (o) => str(at(o, 'source', 'component')) ?? '',
    type: (o) => str(o.type) ?? '',
  },
  'apps/replicasets': { 'status.replicas': (o) => str(at(o, 'status', 'replicas')) ?? '0' },
  'batch/jobs': { 'status.successful': (o) => str(at(o, 'status', 'succeeded')) ?? '0' },
};

const key = (def: ResourceDef): string => `${def.group}/${def.resource}`;

export function fieldGetter(def: ResourceDef, field: string): FieldGetter | undefined {
  if (def.group === '' && def.resource === 'namespaces') return PER_RESOURCE['/namespaces']![field];
  return META[field] ?? PER_RESOURCE[key(def)]?.[field];
}

/**
 * The error for a field a resource does not select on: kinds that register their own field label
 * conversion say "field label not supported"; the others fall back to
 * runtime.DefaultMetaV1FieldSelectorConversion's message.
 */
function unsupportedField(def: ResourceDef, field: string): string {
  if (PER_RESOURCE[key(def)]) return `field label not supported: ${field}`;
  return `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`;
}

/** Splits on unescaped `,`; `\,` `\=` `\\` are escapes as in fields.ParseSelector. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
      continue;
    }
    if (c === ',') {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

export function parseFieldSelector(def: ResourceDef, s: string): FieldRequirement[] {
  if (s.trim() === '') return [];
  const reqs: FieldRequirement[] = [];
  for (const term of splitTerms(s)) {
    if (term === '') continue;
    // Find the first unescaped operator, longest first.
    let found: { idx: number; op: '!=' | '==' | '=' } | undefined;
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') {
        i++;
        continue;
      }
      if (term.startsWith('!=', i)) {
        found = { idx: i, op: '!=' };
        break;
      }
      if (term.startsWith('==', i)) {
        found = { idx: i, op: '==' };
        break;
      }
      if (term[i] === '=') {
        found = { idx: i, op: '=' };
        break;
      }
    }
    if (!found) throw Errors.badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const field = unescape(term.slice(0, found.idx)).trim();
    const value = unescape(term.slice(found.idx + found.op.length));
    if (!fieldGetter(def, field)) throw Errors.badRequest(unsupportedField(def, field));
    reqs.push({ field, op: found.op === '!=' ? '!=' : '=', value });
  }
  return reqs;
}

export function fieldsMatch(def: ResourceDef, reqs: FieldRequirement[], o: KubeObject): boolean {
  for (const r of reqs) {
    const v = fieldGetter(def, r.field)!(o) ?? '';
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
