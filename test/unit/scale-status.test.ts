// Readable and bounded at scale: a big run's status query lists only the namespaces that need
// looking at (with counts of all), `meshmove status` summarizes each wave as counts by state, and
// the CA wait holds a stability window only when the two control planes' roots differ.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Presenter } from '../../client/demo/presenter.js';
import { namespaceLines } from '../../client/render.js';
import type { Attention } from '../../client/runs.js';
import { caStableWindowMs } from '../../activities/namespace/ca-ready.js';
import { Changes } from '../../activities/shared/waiting.js';
import { namespacesForStatus, STATUS_NAMESPACE_LIMIT, type NamespaceStatus, type RunStatus } from '../../workflows/messages.js';

const none: Attention = { gates: [], decisions: [], children: new Map() };

function run(n: number): NamespaceStatus[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `ns-${String(i + 1).padStart(4, '0')}`,
    wave: i === 0 ? 'canary' : 'rest',
    state: i < n / 2 ? 'migrated' : i < n / 2 + 20 ? 'migrating' : i === n - 1 ? 'failed' : 'pending',
    workflowId: `r/ns/ns-${i + 1}`,
    ...(i === n - 1 ? { error: 'restart: RolloutStuck' } : {}),
  }));
}

describe('the status query at 2,000 namespaces', () => {
  it('lists only the running, failed and rolling-back ones, counts all, and stays far under 256 KiB', () => {
    const all = run(2000);
    const s = namespacesForStatus(all);
    expect(s.namespaces.map((n) => n.state).sort()).toEqual([...Array(20).fill('migrating'), 'failed'].sort());
    expect(s.namespaceCounts).toEqual({ migrated: 1000, migrating: 20, pending: 979, failed: 1 });
    expect(s.namespacesOmitted).toBe(2000 - 21);
    expect(Buffer.byteLength(JSON.stringify(s))).toBeLessThan(256 * 1024);
  });

  it('lists every namespace of a run up to the limit, without counts', () => {
    const all = run(STATUS_NAMESPACE_LIMIT);
    expect(namespacesForStatus(all)).toEqual({ namespaces: all });
  });

  it('never lists more than the limit, even when that many are failed', () => {
    const all = run(3000).map((n) => ({ ...n, state: 'failed' as const }));
    const s = namespacesForStatus(all);
    expect(s.namespaces).toHaveLength(STATUS_NAMESPACE_LIMIT);
    expect(s.namespacesOmitted).toBe(3000 - STATUS_NAMESPACE_LIMIT);
  });
});

describe('meshmove status: a wave as counts by state', () => {
  it('prints counts per wave and lines only for running, failed and waiting namespaces', () => {
    const all = run(2000);
    const waitingOne = all.find((n) => n.state === 'migrating')!;
    const lines = namespaceLines(all, {
      ...none,
      decisions: [{ step: 'restart', error: 'x', allowed: ['retry'], workflowId: waitingOne.workflowId!, namespace: waitingOne.name }],
    });
    expect(lines[0]).toBe('  wave canary (1/1 migrated)');
    expect(lines[1]).toBe('  wave rest (999/1999 migrated): 20 migrating, 1 failed, 979 pending');
    expect(lines).toHaveLength(2 + 20 + 1);
    expect(lines.filter((l) => l.includes('waiting for a person'))).toEqual([
      `    ▶ ${waitingOne.name} (migrating) — waiting for a person`,
    ]);
    expect(lines[lines.length - 1]).toBe('    ✗ ns-2000 (failed) — restart: RolloutStuck');
  });

  it('says which running namespaces were prepared ahead and wait for a restart slot (wave.prepareAhead)', () => {
    const all = run(2000);
    const running = all.filter((n) => n.state === 'migrating');
    for (const n of running.slice(12)) n.waitingForRestartSlot = true;
    const lines = namespaceLines(all, none);
    expect(lines[1]).toBe(
      '  wave rest (999/1999 migrated): 20 migrating (8 of them prepared, waiting for a restart slot), 1 failed, 979 pending',
    );
    expect(lines.filter((l) => l.endsWith(' — prepared, waiting for a restart slot'))).toEqual(
      running.slice(12).map((n) => `    ▶ ${n.name} (migrating) — prepared, waiting for a restart slot`),
    );
  });
});

describe('the CA stability window', () => {
  it('is held unless preflight and the roots read now both say the two roots are the same', () => {
    expect(caStableWindowMs(10_000, 'same', 'same')).toBe(0);
    expect(caStableWindowMs(10_000, 'different', 'different')).toBe(10_000);
    expect(caStableWindowMs(10_000, 'same', 'different')).toBe(10_000);
    expect(caStableWindowMs(10_000, 'same', 'unknown')).toBe(10_000);
    expect(caStableWindowMs(10_000, undefined, 'same')).toBe(10_000);
    expect(caStableWindowMs(10_000, 'overlap', 'same')).toBe(10_000);
  });
});

describe('Changes (what a wait sleeps on)', () => {
  it('wakes a waiter, and keeps a change made while nobody waited for the next wait', async () => {
    const c = new Changes();
    let woke = false;
    const w = c.next().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    c.notify();
    await w;
    expect(woke).toBe(true);
    c.notify();
    let again = false;
    await c.next().then(() => (again = true));
    expect(again).toBe(true);
  });
});

describe("the demo's view of a big run", () => {
  it('prints counts by state a tenth at a time and a line only for the namespaces that failed', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const p = new Presenter(out);
    const base: Omit<RunStatus, 'namespaces'> = {
      workflowId: 'w',
      kind: 'migration',
      plan: 'p',
      startedBy: 'alice',
      startedAt: '',
      phase: 'namespaces',
      currentStep: null,
      steps: [],
      gates: [],
      pendingGate: null,
      pendingDecision: null,
      audit: [],
      generation: 0,
    };
    const at = (migrated: number, failed: number): RunStatus => {
      const all = run(2000).map((n, i) => ({
        ...n,
        state:
          i < migrated
            ? ('migrated' as const)
            : i >= 2000 - failed
              ? ('failed' as const)
              : i < migrated + 20
                ? ('migrating' as const)
                : ('pending' as const),
      }));
      return { ...base, ...namespacesForStatus(all) };
    };
    for (const m of [0, 100, 150, 250, 400]) p.update(at(m, 0), none);
    p.update(at(400, 1), none);
    const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('    …'));
    expect(lines).toEqual([
      '▌ Namespaces, wave by wave',
      '  namespaces: 100 migrated, 20 migrating, 1880 pending',
      '  namespaces: 250 migrated, 20 migrating, 1730 pending',
      '  namespaces: 400 migrated, 20 migrating, 1580 pending',
      '  ✗ namespace ns-2000 (wave rest): failed — restart: RolloutStuck',
    ]);
  });
});
