// The namespace label change and its inverse, decided purely from what the namespace holds now.
// The relabel records the labels it replaces in an annotation on the namespace itself, written in
// the same merge patch as the labels: a worker crash between the patch and the activity's return
// loses nothing, and a rerun finds the record and reports the original labels again.
import type { Plan } from '../../plan/schema.js';
import { relabelFor } from '../../plan/schema.js';
import { IstioLabel } from '../../mesh/naming.js';

export const PREVIOUS_LABELS_ANNOTATION = 'meshmove.dev/previous-labels';
/**
 * migrationId → the revision tag a namespace was moved back from (plan target.tag). While the tag
 * points at the target, a namespace rolled back is pinned to the source revision instead; once the
 * tag points back, the run puts the tag label back (activities/tag).
 */
export const TAG_PINNED_ANNOTATION = 'meshmove.dev/pinned-from-tag';

/** `{ migrationId: tag }` from the annotation; empty when absent or unreadable. */
export function readTagPins(annotations: Record<string, string>): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(annotations[TAG_PINNED_ANNOTATION] ?? '{}');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  } catch {
    return {};
  }
}

export type Labels = Record<string, string>;
/** JSON merge patch of metadata: `null` removes a key (RFC 7386). */
export type MetadataMergePatch = {
  metadata: { resourceVersion?: string; labels?: Record<string, string | null>; annotations?: Record<string, string | null> };
};

export interface NamespaceState {
  labels: Labels;
  annotations: Record<string, string>;
  resourceVersion?: string;
}

/** migrationId → the labels (only the keys the relabel touches) before that run first relabeled. */
export type PreviousLabelsRecord = Record<string, Labels>;

export function readPreviousLabelsRecord(annotations: Record<string, string>): PreviousLabelsRecord {
  const raw = annotations[PREVIOUS_LABELS_ANNOTATION];
  if (raw === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const out: PreviousLabelsRecord = {};
    for (const [run, labels] of Object.entries(parsed as Record<string, unknown>)) {
      if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) continue;
      const l: Labels = {};
      for (const [k, v] of Object.entries(labels as Record<string, unknown>)) if (typeof v === 'string') l[k] = v;
      out[run] = l;
    }
    return out;
  } catch {
    // Someone edited the annotation by hand into something unreadable: treat as no record rather
    // than failing the migration; the relabel then records the current labels afresh.
    return {};
  }
}

/** The keys a relabel sets or removes: the only keys it records and the only keys a restore puts back. */
export function touchedKeys(change: { set: Labels; remove: string[] }): string[] {
  return [...new Set([...Object.keys(change.set), ...change.remove])].sort();
}

export function labelsAsPlanned(labels: Labels, change: { set: Labels; remove: string[] }): boolean {
  return Object.entries(change.set).every(([k, v]) => labels[k] === v) && change.remove.every((k) => !(k in labels));
}

function pick(labels: Labels, keys: string[]): Labels {
  const out: Labels = {};
  for (const k of keys) if (k in labels) out[k] = labels[k]!;
  return out;
}

export interface RelabelDecision {
  /** Undefined when nothing needs to change. */
  patch?: MetadataMergePatch;
  /** The touched keys' values before this run first changed them. */
  previousLabels: Labels;
  changed: boolean;
}

/**
 * One patch: set istio.io/rev and the discovery labels, remove istio-injection, record what was
 * there under this run's id. Idempotent: labels as planned → no patch, and the record (if any)
 * still answers with the labels this run saw first.
 */
export function decideRelabel(ns: NamespaceState, plan: Pick<Plan, 'target'>, migrationId: string): RelabelDecision {
  const change = relabelFor(plan);
  const record = readPreviousLabelsRecord(ns.annotations);
  const recorded = record[migrationId];
  if (labelsAsPlanned(ns.labels, change)) {
    // Without a record the namespace was already as planned before this run: nothing to undo, so
    // the current values are the ones a restore should leave.
    return { previousLabels: recorded ?? pick(ns.labels, touchedKeys(change)), changed: false };
  }
  // A record from an earlier attempt of this run wins over what is there now: the labels may have
  // been changed by hand since, but the compensation must return to the state before this run.
  const previousLabels = recorded ?? pick(ns.labels, touchedKeys(change));
  const labels: Record<string, string | null> = { ...change.set };
  for (const k of change.remove) if (k in ns.labels) labels[k] = null;
  const patch: MetadataMergePatch = {
    metadata: {
      labels,
      annotations: { [PREVIOUS_LABELS_ANNOTATION]: JSON.stringify({ ...record, [migrationId]: previousLabels }) },
    },
  };
  // The resourceVersion makes the patch conditional: a concurrent change gets 409 and a re-read.
  if (ns.resourceVersion !== undefined) patch.metadata.resourceVersion = ns.resourceVersion;
  return { patch, previousLabels, changed: true };
}

export interface RestoreDecision {
  patch?: MetadataMergePatch;
  changed: boolean;
}

/**
 * Put back exactly the previous values of the keys the relabel touches (keys absent before are
 * removed) and drop this run's record. Other labels are left alone: someone else may own them.
 * `pin`: istio.io/rev=<tag> goes back as the source revision itself, recorded for the tag's own
 * undo (the tag still points at the target while namespaces move back).
 */
export function decideRestore(
  ns: NamespaceState,
  plan: Pick<Plan, 'target'>,
  migrationId: string,
  previous: Labels,
  pin?: { tag: string; revision: string },
): RestoreDecision {
  const keys = [...new Set([...touchedKeys(relabelFor(plan)), ...Object.keys(previous)])].sort();
  const pinned = pin !== undefined && previous[IstioLabel.rev] === pin.tag;
  const wanted: Labels = pinned ? { ...previous, [IstioLabel.rev]: pin.revision } : previous;
  const labels: Record<string, string | null> = {};
  for (const k of keys) {
    const want = wanted[k];
    const have = ns.labels[k];
    if (want === undefined && have !== undefined) labels[k] = null;
    else if (want !== undefined && have !== want) labels[k] = want;
  }
  const record = readPreviousLabelsRecord(ns.annotations);
  const hasRecord = migrationId in record;
  const pins = readTagPins(ns.annotations);
  const pinToRecord = pinned && pins[migrationId] !== pin.tag;
  const labelsChange = Object.keys(labels).length > 0;
  if (!labelsChange && !hasRecord && !pinToRecord) return { changed: false };
  const patch: MetadataMergePatch = { metadata: {} };
  if (labelsChange) patch.metadata.labels = labels;
  if (hasRecord) {
    const rest = { ...record };
    delete rest[migrationId];
    patch.metadata.annotations = { [PREVIOUS_LABELS_ANNOTATION]: Object.keys(rest).length > 0 ? JSON.stringify(rest) : null };
  }
  if (pinToRecord)
    patch.metadata.annotations = {
      ...patch.metadata.annotations,
      [TAG_PINNED_ANNOTATION]: JSON.stringify({ ...pins, [migrationId]: pin.tag }),
    };
  if (ns.resourceVersion !== undefined) patch.metadata.resourceVersion = ns.resourceVersion;
  return { patch, changed: labelsChange };
}
