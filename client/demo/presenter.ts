// The demo's terminal walk-through: progress lines as the run moves (phase, wave, namespace, step),
// each gate with its summary and a prompt, each failed step with the decision to take.
import { createInterface, type Interface } from 'node:readline';
import type { RunStatus, StepRecord } from '../../workflows/messages.js';
import type { Attention } from '../runs.js';
import { CliError, ExitCode } from '../cli-kit.js';
import { WAITING_FOR_SLOT } from '../render.js';

export type GateAnswer = { verdict: 'approve' } | { verdict: 'reject'; reason: string };
export type DecisionAnswer = { decision: 'retry' | 'skip' | 'rollback' | 'abort'; reason?: string };

const PHASE_TITLE: Record<string, string> = {
  preflight: 'Before migration: preflight checks and backup',
  'awaiting-start': 'Before migration: waiting for the start gate',
  namespaces: 'Namespaces, wave by wave',
  'dns-cutover': 'DNS cutover',
  'gateway-move': 'The gateway moves in place',
  verifying: 'After migration: verification',
  decommissioning: 'Decommission the old control plane',
  'rolling-back': 'Rolling back (newest change first)',
  completed: 'Completed',
  'rolled-back': 'Rolled back',
  aborted: 'Aborted',
};

/** Runs with more namespaces than this are followed as counts by state; only failures get their own lines. */
export const PRESENTER_NAMESPACE_LINES_UP_TO = 20;
const COUNT_ORDER = ['migrated', 'migrating', 'failed', 'rolling-back', 'rolled-back', 'skipped', 'pending'] as const;

/** `120 migrated, 20 migrating, 59 pending` (the run's counts, or counted from the namespaces listed). */
export function namespaceCounts(s: RunStatus): { total: number; line: string; migrated: number } {
  const counts: Record<string, number> = { ...(s.namespaceCounts ?? {}) };
  if (!s.namespaceCounts) for (const n of s.namespaces) counts[n.state] = (counts[n.state] ?? 0) + 1;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  // Listed whatever the run's size: they are migrating.
  const prepared = s.namespaces.filter((n) => n.state === 'migrating' && n.waitingForRestartSlot).length;
  return {
    total,
    migrated: counts.migrated ?? 0,
    line: COUNT_ORDER.filter((st) => counts[st])
      .map((st) => `${counts[st]} ${st}${st === 'migrating' && prepared ? ` (${prepared} of them ${WAITING_FOR_SLOT})` : ''}`)
      .join(', '),
  };
}

/** Prints what changed between two looks at a run; remembers what it printed. */
export class Presenter {
  private phase?: string;
  private readonly seen = new Map<string, string>();
  private readonly phaseStarted = new Map<string, number>();
  readonly phaseDurations: [string, number][] = [];
  private rl?: Interface;
  /** Lines typed (or piped) ahead of the question that takes them. */
  private readonly lines: string[] = [];
  private waiter?: (line: string | null) => void;
  private inputClosed = false;
  private lastWait = '';

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  private get tty(): boolean {
    return (this.out as NodeJS.WriteStream).isTTY === true;
  }

  private say(line: string): void {
    if (this.lastWait) {
      // On a terminal the progress line is still open; elsewhere it already ended with a newline.
      if (this.tty) this.out.write('\n');
      this.lastWait = '';
    }
    this.out.write(`${line}\n`);
  }

  /** A one-line progress display for long waits (rewritten in place on a terminal). */
  private waiting(line: string): void {
    if (line === this.lastWait) return;
    if (this.tty) this.out.write(`\r\x1b[2K${line}`);
    else if (!this.lastWait) this.out.write(`${line}\n`);
    this.lastWait = line;
  }

  /** A line of its own between the run's progress (e.g. the live traffic's counts). */
  note(line: string): void {
    this.say(line);
  }

  update(s: RunStatus, a: Attention): void {
    // What ended since the last look belongs to the phase that was running then (or, when a run is
    // resumed, to the phases before it): it is printed before the new phase's header.
    for (const step of s.steps) this.step('', step);
    for (const g of s.gates) {
      const key = `gate ${g.id}`;
      const state = `${g.state}${g.decidedBy ? ` by ${g.decidedBy}` : ''}`;
      if (this.seen.get(key) !== state && g.state !== 'open')
        this.say(`  ${g.state === 'approved' ? '✓' : '✗'} gate ${g.id}: ${state}${g.reason ? ` (${g.reason})` : ''}`);
      this.seen.set(key, state);
    }
    const counts = namespaceCounts(s);
    const big = counts.total > PRESENTER_NAMESPACE_LINES_UP_TO;
    const quiet = (state: string): boolean =>
      big && (state === 'migrating' || state === 'migrated' || state === 'running' || state === 'succeeded');
    if (big && counts.migrated > 0) {
      // One line per tenth of the run migrated, instead of one per namespace.
      const tenth = Math.floor((counts.migrated * 10) / counts.total);
      if (this.seen.get('ns-tenth') !== String(tenth)) this.say(`  namespaces: ${counts.line}`);
      this.seen.set('ns-tenth', String(tenth));
    }
    for (const n of s.namespaces) {
      const key = `ns ${n.name}`;
      // A namespace prepared ahead is shown waiting for its restart slot, and again when it has it.
      const state = n.waitingForRestartSlot ? `${n.state}, ${WAITING_FOR_SLOT}` : n.state;
      if (this.seen.get(key) !== state && n.state !== 'pending' && !quiet(n.state)) {
        const mark = n.state === 'migrated' ? '✓' : n.state === 'failed' ? '✗' : n.state === 'migrating' ? '▶' : '↶';
        this.say(`  ${mark} namespace ${n.name} (wave ${n.wave}): ${state}${n.error ? ` — ${n.error}` : ''}`);
      }
      this.seen.set(key, state);
      const child = a.children.get(n.name);
      if (child) for (const step of child.steps) if (!quiet(step.state)) this.step(`${n.name}: `, step);
    }
    if (s.phase !== this.phase) this.enterPhase(s.phase);
    const running = [...a.children.values()].flatMap((c) =>
      c.steps.filter((x) => x.state === 'running').map((x) => `${c.namespaces[0]?.name}: ${x.title}`),
    );
    const own = s.steps.find((x) => x.state === 'running');
    const busy = [...(own ? [own.title] : []), ...(big ? [`namespaces: ${counts.line}`] : running)];
    if (busy.length && !a.gates.length && !a.decisions.length)
      this.waiting(`    … ${busy.join(' | ')} (${new Date().toISOString().slice(11, 19)})`);
  }

  private enterPhase(phase: string): void {
    const now = Date.now();
    if (this.phase) this.phaseDurations.push([this.phase, now - (this.phaseStarted.get(this.phase) ?? now)]);
    this.phaseStarted.set(phase, now);
    this.phase = phase;
    this.say(`\n▌ ${PHASE_TITLE[phase] ?? phase}`);
  }

  private step(prefix: string, step: StepRecord): void {
    const key = `step ${prefix}${step.id}`;
    const state = `${step.state}:${step.attempts}`;
    if (this.seen.get(key) === state || step.state === 'running' || step.state === 'pending') {
      this.seen.set(key, state);
      return;
    }
    this.seen.set(key, state);
    const mark = { succeeded: '✓', failed: '✗', skipped: '↷', compensated: '↶', compensating: '↶' }[step.state] ?? '·';
    const tail = step.state === 'failed' ? ` — ${step.lastError}` : step.summary ? ` — ${step.summary}` : '';
    this.say(`    ${mark} ${prefix}${step.title}${tail}`);
  }

  private async ask(question: string): Promise<string> {
    if (!this.rl) {
      this.rl = createInterface({ input: process.stdin });
      const deliver = (line: string | null) => {
        const waiter = this.waiter;
        this.waiter = undefined;
        if (waiter) waiter(line);
        else if (line !== null) this.lines.push(line);
      };
      this.rl.on('line', deliver);
      this.rl.on('close', () => {
        this.inputClosed = true;
        deliver(null);
      });
    }
    this.out.write(question);
    const line = this.lines.shift() ?? (this.inputClosed ? null : await new Promise<string | null>((resolve) => (this.waiter = resolve)));
    if (line === null) throw new CliError('no more input to answer with; use --auto-approve to run without a person', ExitCode.badInput);
    if (!(this.out as NodeJS.WriteStream).isTTY) this.out.write(`${line}\n`);
    return line.trim();
  }

  async askGate(gate: Attention['gates'][number], as: string, auto: boolean): Promise<GateAnswer> {
    this.say(`\n  ? gate ${gate.id}: ${gate.summary.title}`);
    for (const d of gate.summary.details) this.say(`      - ${d}`);
    for (const c of gate.summary.commands ?? []) this.say(`      $ ${c}`);
    if (auto) {
      this.say(`    approving as ${as} (--auto-approve)`);
      return { verdict: 'approve' };
    }
    for (;;) {
      const a = (await this.ask(`    approve as ${as}? [y]es / [r]eject: `)).toLowerCase();
      if (a === 'y' || a === 'yes') return { verdict: 'approve' };
      if (a === 'r' || a === 'reject') {
        const reason = await this.ask('    reason: ');
        if (reason) return { verdict: 'reject', reason };
      }
    }
  }

  async askDecision(d: Attention['decisions'][number], as: string, auto: boolean): Promise<DecisionAnswer | null> {
    this.say(`\n  ✗ step ${d.step}${d.namespace ? ` in ${d.namespace}` : ''} failed: ${d.error}`);
    this.say(`    the run is paused; other terminals can answer with: meshmove decide RUN ${d.allowed.join('|')}`);
    if (auto) {
      this.say('    --auto-approve does not decide failures: waiting for a decision from another terminal');
      return null;
    }
    for (;;) {
      const a = (await this.ask(`    decide as ${as} [${d.allowed.join('/')}]: `)).toLowerCase() as DecisionAnswer['decision'];
      if (!d.allowed.includes(a)) continue;
      if (a === 'retry') return { decision: a };
      const reason = await this.ask('    reason: ');
      if (reason) return { decision: a, reason };
    }
  }

  finish(): void {
    if (this.phase) this.phaseDurations.push([this.phase, Date.now() - (this.phaseStarted.get(this.phase) ?? Date.now())]);
    this.rl?.close();
  }
}
