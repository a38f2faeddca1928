// Label selectors as the twin's apiserver evaluates them, after k8s.io/apimachinery/pkg/labels
// (selector.go: the lexer, Parser.parse, NewRequirement, Requirement.Matches) and
// metav1.LabelSelectorAsSelector. The twin's own implementation, kept apart from the product's
// mesh/labels.ts: lists, watches, webhook selection and discoverySelectors on the twin are the
// referee the product's predictions are checked against. Parse errors carry apimachinery's
// messages (test/lab/apiserver-vs-twin.test.ts compares them with kube-apiserver's).

export type LabelMap = Record<string, string>;
export interface LabelSelector {
  matchLabels?: LabelMap;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** selection.Operator, as apimachinery spells them. */
export type Operator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';
export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

// ---------------------------------------------------------------- names (util/validation)

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const QUALIFIED_NAME_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export function isRfc1123Label(s: string): boolean {
  return s.length >= 1 && s.length <= 63 && RFC1123_LABEL.test(s);
}

export function isRfc1123Subdomain(s: string): boolean {
  return s.length >= 1 && s.length <= 253 && s.split('.').every((part) => RFC1123_LABEL.test(part));
}

/** validation.IsQualifiedName: the problems, none when valid. */
export function qualifiedNameProblems(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2)
    return [`a valid label key ${QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  const name = parts[parts.length - 1]!;
  const out: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) out.push('prefix part must be non-empty');
    else if (!isRfc1123Subdomain(prefix)) out.push(`prefix part ${prefix.length > 253 ? 'must be no more than 253 bytes' : SUBDOMAIN_MSG}`);
  }
  if (name.length === 0) out.push('name part must be non-empty');
  else if (name.length > 63) out.push('name part must be no more than 63 bytes');
  if (!QUALIFIED_NAME.test(name)) out.push(`name part ${QUALIFIED_NAME_MSG}`);
  return out;
}

/** validation.IsValidLabelValue. */
export function labelValueProblems(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push('must be no more than 63 bytes');
  if (!LABEL_VALUE.test(value)) out.push(LABEL_VALUE_MSG);
  return out;
}

export const isQualifiedName = (k: string): boolean => qualifiedNameProblems(k).length === 0;
export const isLabelValue = (v: string): boolean => labelValueProblems(v).length === 0;

// ---------------------------------------------------------------- matching

/** Requirement.Matches. */
function holds(r: Requirement, labels: LabelMap): boolean {
  const present = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = present ? labels[r.key]! : '';
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return present && r.values.includes(value);
    case '!=':
    case 'notin':
      return !present || !r.values.includes(value);
    case 'exists':
      return present;
    case '!':
      return !present;
    case 'gt':
    case 'lt': {
      // Both sides must be integers; anything else does not match.
      if (!present || !/^[-+]?\d+$/.test(value) || !/^[-+]?\d+$/.test(r.values[0] ?? '')) return false;
      const have = BigInt(value);
      const want = BigInt(r.values[0]!);
      return r.operator === 'gt' ? have > want : have < want;
    }
  }
}

export function matchesAll(requirements: readonly Requirement[], labels: LabelMap | undefined): boolean {
  return requirements.every((r) => holds(r, labels ?? {}));
}

// ---------------------------------------------------------------- NewRequirement

/** field.Invalid's text, as `<path>: Invalid value: <value>: <detail>`. */
function invalid(path: string, value: unknown, detail: string): string {
  const shown = JSON.stringify(value);
  return `${path}: Invalid value: ${shown}: ${detail}`;
}

/** The checks of labels.NewRequirement; undefined when the requirement is valid. */
function requirementError(key: string, operator: Operator, values: string[]): string | undefined {
  const errors: string[] = [];
  const keyProblems = qualifiedNameProblems(key);
  if (keyProblems.length) errors.push(invalid('key', key, keyProblems.join('; ')));
  if ((operator === 'in' || operator === 'notin') && values.length === 0)
    errors.push(invalid('values', values, "for 'in', 'notin' operators, values set can't be empty"));
  if ((operator === '=' || operator === '==' || operator === '!=') && values.length !== 1)
    errors.push(invalid('values', values, 'exact-match compatibility requires one single value'));
  if ((operator === 'exists' || operator === '!') && values.length !== 0)
    errors.push(invalid('values', values, 'values set must be empty for exists and does not exist'));
  if (operator === 'gt' || operator === 'lt') {
    if (values.length !== 1) errors.push(invalid('values', values, "for 'Gt', 'Lt' operators, exactly one value is required"));
    values.forEach((v, i) => {
      if (!/^[-+]?\d+$/.test(v)) errors.push(invalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
    });
  }
  values.forEach((v, i) => {
    const problems = labelValueProblems(v);
    if (problems.length) errors.push(invalid(`values[${i}][${key}]`, v, problems.join('; ')));
  });
  if (errors.length === 0) return undefined;
  return errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`;
}

// ---------------------------------------------------------------- labels.Parse

type Kind = 'id' | '!' | '=' | '==' | '!=' | 'in' | 'notin' | '(' | ')' | ',' | '>' | '<' | 'end';
interface Token {
  kind: Kind;
  text: string;
}

const SYMBOLS = /^(==|!=|[!=(),<>])/;

function lex(input: string): Token[] {
  const tokens: Token[] = [];
  let rest = input;
  for (;;) {
    rest = rest.replace(/^\s+/, '');
    if (rest === '') return [...tokens, { kind: 'end', text: '' }];
    const symbol = SYMBOLS.exec(rest);
    if (symbol) {
      tokens.push({ kind: symbol[1] as Kind, text: symbol[1]! });
      rest = rest.slice(symbol[1]!.length);
      continue;
    }
    const word = /^[^\s!=(),<>]+/.exec(rest)![0];
    tokens.push({ kind: word === 'in' || word === 'notin' ? word : 'id', text: word });
    rest = rest.slice(word.length);
  }
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

/**
 * Parses the `?labelSelector=` syntax. Throws an Error whose message is apimachinery's
 * ("unable to parse requirement: …", "found 'x', expected: …").
 */
export function parseLabelSelector(input: string): Requirement[] {
  const tokens = lex(input);
  let at = 0;
  // In value position `in` and `notin` are plain words (Parser.consume with the Values context).
  const peek = (): Token => {
    const t = tokens[at]!;
    return t.kind === 'in' || t.kind === 'notin' ? { kind: 'id', text: t.text } : t;
  };
  const take = (): Token => {
    const t = peek();
    at++;
    return t;
  };
  const takeRaw = (): Token => tokens[at++]!;

  const values = (): string[] => {
    const open = take();
    if (open.kind !== '(') throw new Error(`found '${open.text}' expected: '('`);
    const first = peek();
    if (first.kind === ')') {
      take();
      return [''];
    }
    if (first.kind !== 'id' && first.kind !== ',') throw new Error(`found '${first.text}', expected: ',', ')' or identifier`);
    const set = new Set<string>();
    for (;;) {
      const t = take();
      if (t.kind === 'id') {
        set.add(t.text);
        const after = peek();
        if (after.kind === ')') break;
        if (after.kind !== ',') throw new Error(`found '${after.text}', expected: ',' or ')'`);
        continue;
      }
      if (t.kind !== ',') throw new Error(`found '${t.text}', expected: ',', or identifier`);
      if (set.size === 0) set.add('');
      const after = peek();
      if (after.kind === ')') {
        set.add('');
        break;
      }
      if (after.kind === ',') {
        take();
        set.add('');
      }
    }
    const close = take();
    if (close.kind !== ')') throw new Error(`found '${first.text}', expected: ')'`);
    return [...set].sort();
  };

  const requirement = (): Requirement => {
    let t = take();
    let operator: Operator | undefined;
    if (t.kind === '!') {
      operator = '!';
      t = take();
    }
    if (t.kind !== 'id') throw new Error(`found '${t.text}', expected: identifier`);
    const key = t.text;
    const keyProblems = qualifiedNameProblems(key);
    // validateLabelKey(literal, p.path): the parser's path is empty.
    if (keyProblems.length) throw new Error(invalid('', key, keyProblems.join('; ')));
    const next = peek().kind;
    if (next === 'end' || next === ',') operator ??= 'exists';
    if (operator === 'exists' || operator === '!') return checked(key, operator, []);
    const op = takeRaw();
    // `!` is unary only: `!a=b` is not `a` DoesNotExist followed by `=b`.
    const operators: Partial<Record<Kind, Operator>> = { '=': '=', '==': '==', '!=': '!=', in: 'in', notin: 'notin', '>': 'gt', '<': 'lt' };
    operator = operators[op.kind];
    if (operator === undefined) throw new Error(`found '${op.text}', expected: ${BINARY_OPERATORS}`);
    if (operator === 'in' || operator === 'notin') return checked(key, operator, values());
    const v = peek();
    if (v.kind === 'end' || v.kind === ',') return checked(key, operator, ['']);
    take();
    if (v.kind !== 'id') throw new Error(`found '${v.text}', expected: identifier`);
    return checked(key, operator, [v.text]);
  };

  const checked = (key: string, operator: Operator, vals: string[]): Requirement => {
    const problem = requirementError(key, operator, vals);
    if (problem) throw new Error(problem);
    return { key, operator, values: vals };
  };

  const out: Requirement[] = [];
  for (;;) {
    const t = peek();
    if (t.kind === 'end') return sortByKey(out);
    if (t.kind !== 'id' && t.kind !== '!') throw new Error(`found '${t.text}', expected: !, identifier, or 'end of string'`);
    try {
      out.push(requirement());
    } catch (e) {
      throw new Error(`unable to parse requirement: ${(e as Error).message}`, { cause: e });
    }
    const sep = take();
    if (sep.kind === 'end') return sortByKey(out);
    if (sep.kind !== ',') throw new Error(`found '${sep.text}', expected: ',' or 'end of string'`);
    const after = peek();
    if (after.kind !== 'id' && after.kind !== '!') throw new Error(`found '${after.text}', expected: identifier after ','`);
  }
}

function sortByKey(rs: Requirement[]): Requirement[] {
  return rs
    .map((r, i) => ({ r, i }))
    .sort((a, b) => (a.r.key < b.r.key ? -1 : a.r.key > b.r.key ? 1 : a.i - b.i))
    .map((x) => x.r);
}

// ---------------------------------------------------------------- metav1.LabelSelector

const EXPRESSION_OPERATORS: Record<string, Operator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/** LabelSelectorAsSelector: throws on what it refuses. */
export function selectorRequirements(sel: LabelSelector): Requirement[] {
  const out: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, value]) => ({
    key,
    operator: '=' as Operator,
    values: [value],
  }));
  for (const e of sel.matchExpressions ?? []) {
    const operator = EXPRESSION_OPERATORS[e.operator];
    if (operator === undefined) throw new Error(`"${e.operator}" is not a valid label selector operator`);
    out.push({ key: e.key, operator, values: [...(e.values ?? [])] });
  }
  for (const r of out) {
    const problem = requirementError(r.key, r.operator, r.values);
    if (problem) throw new Error(problem);
  }
  return out;
}

/** A metav1.LabelSelector against labels: null or absent selects nothing, `{}` everything. */
export function labelSelectorMatches(sel: LabelSelector | null | undefined, labels: LabelMap | undefined): boolean {
  return sel !== null && sel !== undefined && matchesAll(selectorRequirements(sel), labels);
}

/** metav1validation.ValidateLabelSelector's messages (without the field path). */
export function labelSelectorProblems(sel: LabelSelector): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    for (const p of qualifiedNameProblems(k)) out.push(`matchLabels: invalid label key "${k}": ${p}`);
    for (const p of labelValueProblems(v)) out.push(`matchLabels: invalid label value "${v}" for key "${k}": ${p}`);
  }
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const at = `matchExpressions[${i}]`;
    const n = (e.values ?? []).length;
    if (e.operator === 'In' || e.operator === 'NotIn') {
      if (n === 0) out.push(`${at}.values: must be specified when \`operator\` is 'In' or 'NotIn'`);
    } else if (e.operator === 'Exists' || e.operator === 'DoesNotExist') {
      if (n > 0) out.push(`${at}.values: may not be specified when \`operator\` is 'Exists' or 'DoesNotExist'`);
    } else out.push(`${at}.operator: Invalid value: "${e.operator}": not a valid selector operator`);
    for (const p of qualifiedNameProblems(e.key)) out.push(`${at}.key: invalid label key "${e.key}": ${p}`);
    for (const v of e.values ?? []) for (const p of labelValueProblems(v)) out.push(`${at}.values: invalid label value "${v}": ${p}`);
  });
  return out;
}
