// Label selectors with Kubernetes apimachinery semantics (k8s.io/apimachinery/pkg/labels and
// metav1.LabelSelectorAsSelector). Webhook selection, discoverySelectors and the twin's list
// filtering all depend on these exact rules, so they live in one pure module.

export type Labels = Record<string, string>;
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

/** One requirement of a parsed selector; `=` also stands for `==`, `!` is DoesNotExist. */
export interface Requirement {
  key: string;
  op: '=' | '!=' | 'in' | 'notin' | 'exists' | '!';
  values: string[];
}

import { isValidLabelKey, isValidLabelValue } from './k8s-names.js';

export { isDns1123Label, isDns1123Subdomain, isValidLabelKey, isValidLabelValue } from './k8s-names.js';

function has(labels: Labels | undefined, key: string): boolean {
  return labels !== undefined && Object.prototype.hasOwnProperty.call(labels, key);
}

function requirementMatches(r: Requirement, labels: Labels | undefined): boolean {
  const present = has(labels, r.key);
  const value = present ? labels![r.key] : undefined;
  switch (r.op) {
    case '=':
      return present && value === r.values[0];
    case '!=':
      return !present || value !== r.values[0];
    case 'in':
      return present && r.values.includes(value!);
    // NotIn is true when the key is absent (apimachinery Requirement.Matches).
    case 'notin':
      return !present || !r.values.includes(value!);
    case 'exists':
      return present;
    case '!':
      return !present;
  }
}

export function requirementsMatch(reqs: Requirement[], labels: Labels | undefined): boolean {
  return reqs.every((r) => requirementMatches(r, labels));
}

/** The checks apimachinery's NewRequirement makes; returns a message or undefined. */
function requirementProblem(r: Requirement): string | undefined {
  if (!isValidLabelKey(r.key)) return `invalid label key "${r.key}": must be a qualified name`;
  switch (r.op) {
    case '=':
    case '!=':
      if (r.values.length !== 1) return `exact-match compatibility requires one single value for key "${r.key}"`;
      break;
    case 'in':
    case 'notin':
      if (r.values.length === 0) return `for 'in', 'notin' operators, values set can't be empty (key "${r.key}")`;
      break;
    case 'exists':
    case '!':
      if (r.values.length !== 0) return `values set must be empty for exists and does not exist (key "${r.key}")`;
      break;
  }
  for (const v of r.values) if (!isValidLabelValue(v)) return `invalid label value "${v}" for key "${r.key}"`;
  return undefined;
}

const OPERATOR_TO_OP: Record<SelectorOperator, Requirement['op']> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/** LabelSelectorAsSelector: throws on an unknown operator or an invalid requirement. */
export function selectorToRequirements(sel: LabelSelector): Requirement[] {
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key, op: '=', values: [value] });
  for (const e of sel.matchExpressions ?? []) {
    const op = Object.prototype.hasOwnProperty.call(OPERATOR_TO_OP, e.operator) ? OPERATOR_TO_OP[e.operator] : undefined;
    if (op === undefined) throw new Error(`"${String(e.operator)}" is not a valid label selector operator`);
    reqs.push({ key: e.key, op, values: [...(e.values ?? [])] });
  }
  for (const r of reqs) {
    const problem = requirementProblem(r);
    if (problem) throw new Error(problem);
  }
  return reqs;
}

/** null/undefined matches nothing, `{}` matches everything; every requirement is ANDed. */
export function selectorMatches(sel: LabelSelector | null | undefined, labels: Labels | undefined): boolean {
  if (sel === null || sel === undefined) return false;
  return requirementsMatch(selectorToRequirements(sel), labels);
}

/** metav1 ValidateLabelSelector: human messages, [] when valid. */
export function validateSelector(sel: LabelSelector): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    if (!isValidLabelKey(key)) problems.push(`matchLabels: invalid label key "${key}"`);
    if (!isValidLabelValue(value)) problems.push(`matchLabels: invalid label value "${value}" for key "${key}"`);
  }
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const where = `matchExpressions[${i}]`;
    if (!isValidLabelKey(e.key)) problems.push(`${where}.key: invalid label key "${e.key}"`);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) problems.push(`${where}.values: must be specified when \`operator\` is 'In' or 'NotIn'`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) problems.push(`${where}.values: may not be specified when \`operator\` is 'Exists' or 'DoesNotExist'`);
        break;
      default:
        problems.push(`${where}.operator: Invalid value: "${String(e.operator)}": not a valid selector operator`);
    }
    for (const v of values) if (!isValidLabelValue(v)) problems.push(`${where}.values: invalid label value "${v}"`);
  });
  return problems;
}

export function requirementToString(r: Requirement): string {
  const values = [...r.values].sort();
  switch (r.op) {
    case '=':
      return `${r.key}=${r.values[0] ?? ''}`;
    case '!=':
      return `${r.key}!=${r.values[0] ?? ''}`;
    case 'in':
      return `${r.key} in (${values.join(',')})`;
    case 'notin':
      return `${r.key} notin (${values.join(',')})`;
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
  }
}

/** The `?labelSelector=` form; requirements sorted by key as apimachinery's Selector.String(). */
export function selectorToString(sel: LabelSelector): string {
  const reqs = selectorToRequirements(sel);
  return reqs
    .map((r, i) => ({ r, i }))
    .sort((a, b) => (a.r.key < b.r.key ? -1 : a.r.key > b.r.key ? 1 : a.i - b.i))
    .map(({ r }) => requirementToString(r))
    .join(',');
}

// ---- string syntax (apimachinery labels.Parse) ----

type Token = { kind: 'id'; text: string } | { kind: 'in' | 'notin' | '!' | '=' | '==' | '!=' | '(' | ')' | ',' | '<' | '>' | 'end' };

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  // Identifier characters are everything except whitespace and the special symbols.
  const special = new Set(['!', '=', '(', ')', ',', '<', '>']);
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (special.has(c)) {
      const two = s.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        out.push({ kind: two });
        i += 2;
        continue;
      }
      out.push({ kind: c as '!' | '=' | '(' | ')' | ',' | '<' | '>' });
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && !special.has(s[j]!) && !/\s/.test(s[j]!)) j++;
    const text = s.slice(i, j);
    if (text === 'in') out.push({ kind: 'in' });
    else if (text === 'notin') out.push({ kind: 'notin' });
    else out.push({ kind: 'id', text });
    i = j;
  }
  out.push({ kind: 'end' });
  return out;
}

/** Parses `a=b,c!=d,e in (f,g),!h,i` (apimachinery grammar). `<`/`>` (Gt/Lt) are not supported. */
export function parseSelectorString(s: string): Requirement[] {
  const tokens = tokenize(s);
  let pos = 0;
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;
  const fail = (msg: string): never => {
    throw new Error(`unable to parse requirement: ${msg} in selector "${s}"`);
  };
  const reqs: Requirement[] = [];
  if (peek().kind === 'end') return reqs;
  for (;;) {
    let negated = false;
    if (peek().kind === '!') {
      negated = true;
      next();
    }
    const keyTok = next();
    if (keyTok.kind !== 'id') fail(`found '${keyTok.kind}', expected: identifier`);
    const key = (keyTok as { text: string }).text;
    let req: Requirement;
    const after = peek();
    if (negated) {
      if (after.kind !== ',' && after.kind !== 'end') fail(`found '${after.kind}', expected: ',' or end of string after '!${key}'`);
      req = { key, op: '!', values: [] };
    } else if (after.kind === ',' || after.kind === 'end') {
      req = { key, op: 'exists', values: [] };
    } else if (after.kind === '=' || after.kind === '==' || after.kind === '!=') {
      next();
      const v = peek();
      let value = '';
      if (v.kind === 'id') {
        value = v.text;
        next();
      } else if (v.kind === 'in' || v.kind === 'notin') {
        value = v.kind;
        next();
      } else if (v.kind !== ',' && v.kind !== 'end') fail(`found '${v.kind}', expected: identifier`);
      req = { key, op: after.kind === '!=' ? '!=' : '=', values: [value] };
    } else if (after.kind === 'in' || after.kind === 'notin') {
      next();
      if (next().kind !== '(') fail(`found '${tokens[pos - 1]!.kind}', expected: '('`);
      const values: string[] = [];
      // `()` is the set holding the empty string, as in apimachinery's parseValues.
      if (peek().kind === ')') {
        next();
        values.push('');
      } else {
        for (;;) {
          const t = peek();
          if (t.kind === 'id') {
            values.push(t.text);
            next();
          } else if (t.kind === 'in' || t.kind === 'notin') {
            values.push(t.kind);
            next();
          } else if (t.kind === ',' || t.kind === ')') values.push('');
          else fail(`found '${t.kind}', expected: ',', ')' or identifier`);
          const sep = next();
          if (sep.kind === ')') break;
          if (sep.kind !== ',') fail(`found '${sep.kind}', expected: ',' or ')'`);
        }
      }
      req = { key, op: after.kind, values };
    } else if (after.kind === '<' || after.kind === '>') {
      return fail(`numeric comparison operators ('<', '>') are not supported by this server`);
    } else {
      return fail(`found '${after.kind === 'id' ? after.text : after.kind}', expected: '=', '!=', '==', 'in', notin'`);
    }
    const problem = requirementProblem(req);
    if (problem) fail(problem);
    reqs.push(req);
    const sep = next();
    if (sep.kind === 'end') break;
    if (sep.kind !== ',') fail(`found '${sep.kind === 'id' ? sep.text : sep.kind}', expected: ','`);
  }
  return reqs;
}
