// Reading a plan file: parse YAML (JSON is YAML), validate with zod, and report every problem at
// once with the path in the file, the line and what is expected.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import type { z } from 'zod';
import { crossFieldIssues, planSchema, type Plan } from './schema.js';

export interface PlanProblem {
  /** Dotted path in the file, e.g. `waves[0].concurrency`; empty for the whole document. */
  path: string;
  /** 1-based line and column of the offending value, when the file has it. */
  line?: number;
  column?: number;
  message: string;
}

export class PlanError extends Error {
  constructor(
    readonly file: string,
    readonly problems: PlanProblem[],
  ) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  ${formatProblem(file, p)}`).join('\n'),
    );
    this.name = 'PlanError';
  }
}

export function formatProblem(file: string, p: PlanProblem): string {
  const where = p.line ? `${file}:${p.line}:${p.column ?? 1}` : file;
  return `${where} ${p.path || '(plan)'}: ${p.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

function nodeAt(root: Node | null | undefined, path: readonly PropertyKey[]): Node | undefined {
  let node: Node | null | undefined = root;
  let last: Node | undefined = root ?? undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
      if (!pair) return last;
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key] as Node | undefined;
    } else return last;
    if (node) last = node;
  }
  return last;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove ${issue.keys.length > 1 ? 'them' : 'it'} or check the spelling`;
    case 'invalid_key':
      return `invalid key "${String(issue.path.at(-1))}": ${issue.issues[0]?.message ?? issue.message}`;
    case 'invalid_type':
      return issue.input === undefined
        ? `required: ${issue.message.replace(/^Invalid input: /, '')}`
        : issue.message.replace(/^Invalid input: /, '');
    default:
      return issue.message;
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), root);
}

/**
 * A field that is one of several shapes (`dns: none` or a cutover; `target.gateway` a gateway or
 * `in-place`) fails as one issue naming the shapes. When a map was written, the map-shaped
 * alternative is the one meant: its own problems are reported instead, each at its path.
 */
function expandUnion(issue: z.core.$ZodIssue, root: unknown): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const written = valueAt(root, issue.path);
  if (written === null || typeof written !== 'object' || Array.isArray(written)) return [issue];
  const meant = issue.errors.filter(
    (branch) => !branch.every((e) => e.path.length === 0 && (e.code === 'invalid_type' || e.code === 'invalid_value')),
  );
  if (meant.length !== 1) return [issue];
  return meant[0]!.map((e) => ({ ...e, path: [...issue.path, ...e.path] }));
}

/** Validate an already-parsed value; `doc` lets problems carry line numbers. */
export function validatePlan(
  value: unknown,
  file = '<plan>',
  source?: { doc: ReturnType<typeof parseDocument>; lines: LineCounter },
): Plan {
  const result = planSchema.safeParse(value);
  if (result.success) return result.data;
  // zod runs cross-field checks only on an otherwise valid plan; run them here too, so that every
  // problem is reported at once.
  const issues: { path: PropertyKey[]; message: string }[] = [
    ...result.error.issues
      .flatMap((issue) => expandUnion(issue, value))
      .map((issue) => ({ path: issue.path as PropertyKey[], message: describeIssue(issue) })),
    ...crossFieldIssues(value),
  ];
  // zod's own cross-field pass and ours may report the same problem: once each.
  const unique = issues.filter(
    (a, i) => issues.findIndex((b) => formatPath(b.path) === formatPath(a.path) && b.message === a.message) === i,
  );
  const problems = unique.map(({ path, message }): PlanProblem => {
    const problem: PlanProblem = { path: formatPath(path), message };
    if (source) {
      const node = nodeAt(source.doc.contents as Node, path);
      if (node?.range) {
        const pos = source.lines.linePos(node.range[0]);
        problem.line = pos.line;
        problem.column = pos.col;
      }
    }
    return problem;
  });
  // In file order, so the list reads top to bottom.
  problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
  throw new PlanError(file, problems);
}

export function parsePlanText(text: string, file = '<plan>'): Plan {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PlanError(
      file,
      doc.errors.map((e) => ({
        path: '',
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
        message: `not valid YAML/JSON: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const value: unknown = doc.toJS();
  resolveAllowedSigners(value, file);
  return validatePlan(value, file, { doc, lines });
}

/**
 * Keys of one person in a git allowed_signers file (`principals [options] keytype base64 [comment]`,
 * what `gpg.ssh.allowedSignersFile` names): lines whose principals match `name` and whose
 * `namespaces=` option, if any, includes meshmove. Certificate authorities are not supported.
 */
export function keysFromAllowedSigners(text: string, name: string): string[] {
  const keys: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const principals = line.split(/\s+/, 1)[0]!;
    const key = /(?:^|\s)((?:ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa|sk-\S+)\s+[A-Za-z0-9+/=]+)(?:\s|$)/.exec(
      line.slice(principals.length),
    );
    if (!key) continue;
    const options = line.slice(principals.length, principals.length + key.index).trim();
    if (/(^|,)cert-authority(,|$)/.test(options)) continue;
    const ns = /namespaces="([^"]*)"/.exec(options);
    if (ns && !ns[1]!.split(',').includes('meshmove')) continue;
    const glob = (p: string) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      );
    if (principals.split(',').some((p) => glob(p).test(name))) keys.push(key[1]!);
  }
  return keys;
}

/** Replace each approver's `allowedSigners: FILE` (relative to the plan) with the keys it lists for that name. */
function resolveAllowedSigners(value: unknown, file: string): void {
  const approvers = (value as { approvers?: unknown } | null)?.approvers;
  if (!Array.isArray(approvers)) return;
  const problems: PlanProblem[] = [];
  approvers.forEach((a: unknown, i) => {
    if (a === null || typeof a !== 'object' || !('allowedSigners' in a)) return;
    const entry = a as { name?: unknown; keys?: unknown; allowedSigners?: unknown };
    const path = resolve(dirname(file), String(entry.allowedSigners));
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      problems.push({ path: `approvers[${i}].allowedSigners`, message: `cannot read ${path}: ${(err as Error).message}` });
      return;
    }
    const keys = keysFromAllowedSigners(text, String(entry.name));
    if (keys.length === 0)
      problems.push({
        path: `approvers[${i}].allowedSigners`,
        message: `${path} lists no key for "${String(entry.name)}" in namespace meshmove`,
      });
    entry.keys = [...(Array.isArray(entry.keys) ? (entry.keys as unknown[]) : []), ...keys];
    delete entry.allowedSigners;
  });
  if (problems.length > 0) throw new PlanError(file, problems);
}

export interface LoadedPlan {
  plan: Plan;
  /** sha256 of the normalized plan: what was approved is what runs. */
  digest: string;
  file: string;
}

export async function loadPlan(file: string): Promise<LoadedPlan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PlanError(file, [
      {
        path: '',
        message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read the plan file: ${(err as Error).message}`,
      },
    ]);
  }
  const plan = parsePlanText(text, file);
  return { plan, digest: planDigest(plan), file };
}

export function planDigest(plan: Plan): string {
  return createHash('sha256').update(JSON.stringify(plan)).digest('hex');
}
