// The plan as a commented YAML file, laid out like examples/plans/field-report.yaml: sections apart,
// selectors and short lists inline, each comment above (or at the end of) the field it explains.
import { Document, isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import type { PlanInput } from '../../plan/schema.js';
import type { FieldPath, PlanNote } from './draft.js';

/** Longest comment line before it is wrapped. */
const WRAP = 100;
/** Lists up to this many namespaces stay on one line. */
const INLINE_LIST = 8;

function wrap(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const indent = /^\s*/.exec(line)![0];
    // Commented YAML examples keep their layout.
    if (indent.length > 0 || line.length <= WRAP) {
      out.push(line);
      continue;
    }
    let cur = '';
    for (const word of line.split(' ')) {
      if (cur && cur.length + 1 + word.length > WRAP) {
        out.push(cur);
        cur = `  ${word}`;
      } else cur = cur ? `${cur} ${word}` : word;
    }
    if (cur) out.push(cur);
  }
  return out.map((l) => ` ${l}`).join('\n');
}

function pairAt(doc: Document, path: FieldPath): Pair | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  if (!isMap(parent)) return undefined;
  return parent.items.find((p) => isScalar(p.key) && p.key.value === last) as Pair | undefined;
}

/** The node a comment hangs on: the key of a mapping entry, or the item of a list. */
function anchorOf(doc: Document, path: FieldPath): { key?: Node; value?: Node } | undefined {
  const last = path[path.length - 1];
  if (typeof last === 'number') {
    const seq = doc.getIn(path.slice(0, -1), true);
    const item = isSeq(seq) ? (seq.items[last] as Node | undefined) : undefined;
    return item ? { key: item } : undefined;
  }
  const pair = pairAt(doc, path);
  if (!pair) return undefined;
  return { key: pair.key as Node, value: (pair.value ?? undefined) as Node | undefined };
}

function append(existing: string | null | undefined, text: string): string {
  return existing ? `${existing}\n${text}` : text;
}

/** Renders the plan with its notes; a note whose field is absent goes into the header. */
export function renderPlanYaml(plan: PlanInput, notes: readonly PlanNote[]): string {
  const doc = new Document(plan);
  // Layout: a blank line between top-level sections, selectors and short lists inline.
  if (isMap(doc.contents)) {
    doc.contents.items.forEach((p, i) => {
      if (
        i > 0 &&
        isScalar(p.key) &&
        [
          'cluster',
          'source',
          'target',
          'waves',
          'restart',
          'gates',
          'identity',
          'rootCA',
          'verification',
          'dns',
          'failurePolicy',
          'backup',
        ].includes(String(p.key.value))
      ) {
        p.key.spaceBefore = true;
      }
    });
  }
  for (const path of [
    ['source', 'gateway', 'selector'],
    ['target', 'gateway', 'selector'],
    ['target', 'discoveryLabels'],
    ['dns', 'resolvers'],
  ]) {
    const node = doc.getIn(path, true);
    if (isMap(node) || isSeq(node)) node.flow = true;
  }
  (plan.waves ?? []).forEach((w, i) => {
    const node = doc.getIn(['waves', i, 'namespaces'], true);
    if (isSeq(node) && (w.namespaces ?? []).length <= INLINE_LIST) node.flow = true;
  });
  const header: string[] = [];
  for (const n of notes) {
    if (n.path.length === 0) {
      header.push(n.text);
      continue;
    }
    const at = anchorOf(doc, n.path);
    if (!at?.key) {
      header.push(`(${n.path.join('.')}) ${n.text}`);
      continue;
    }
    if (n.where === 'after') {
      // A scalar or inline value takes the comment at the end of its line; a block collection's key does.
      const inline = at.value && (isScalar(at.value) || ((isMap(at.value) || isSeq(at.value)) && at.value.flow === true));
      const target = inline ? at.value! : at.key;
      target.comment = append(target.comment, ` ${n.text.replace(/\n/g, ' ')}`);
    } else {
      at.key.commentBefore = append(at.key.commentBefore, wrap(n.text));
    }
  }
  doc.commentBefore = header.map(wrap).join('\n\n');

  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
