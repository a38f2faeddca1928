// The demo's checklist: what ended since the last look is printed under the phase it belongs to,
// before the next phase's header, also when a resumed run is first shown.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Presenter, namespaceCounts } from '../../client/demo/presenter.js';
import type { NamespaceStatus, RunStatus, StepRecord } from '../../workflows/messages.js';

const step = (id: string, state: StepRecord['state'], summary?: string): StepRecord => ({
  id,
  title: id,
  state,
  attempts: 1,
  ...(summary ? { summary } : {}),
});
const status = (phase: RunStatus['phase'], steps: StepRecord[]): RunStatus => ({
  workflowId: 'w',
  kind: 'migration',
  plan: 'p',
  startedBy: 'alice',
  startedAt: '',
  phase,
  currentStep: null,
  steps,
  gates: [],
  pendingGate: null,
  pendingDecision: null,
  namespaces: [],
  audit: [],
  generation: 0,
});
const nothingWaits = { gates: [], decisions: [], children: new Map() };

function render(looks: RunStatus[]): string[] {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const p = new Presenter(out);
  for (const s of looks) p.update(s, nothingWaits);
  // Progress lines ("    … step (time)") carry the clock: left out.
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('    …'));
}

describe('Presenter', () => {
  it('what ended as the phase changed is printed before the new header', () => {
    expect(
      render([
        status('preflight', [step('preflight', 'running')]),
        status('awaiting-start', [step('preflight', 'succeeded', '13 checks'), step('backup', 'succeeded', '24 objects')]),
      ]),
    ).toEqual([
      '▌ Before migration: preflight checks and backup',
      '    ✓ preflight — 13 checks',
      '    ✓ backup — 24 objects',
      '▌ Before migration: waiting for the start gate',
    ]);
  });

  it('a resumed run shows what was done before the phase it is in', () => {
    expect(
      render([status('namespaces', [step('preflight', 'succeeded', '13 checks'), step('backup', 'succeeded', '24 objects')])]),
    ).toEqual(['    ✓ preflight — 13 checks', '    ✓ backup — 24 objects', '▌ Namespaces, wave by wave']);
  });

  it('a namespace prepared ahead is shown waiting for its restart slot, and again when it has it', () => {
    const ns = (waiting: boolean): NamespaceStatus => ({
      name: 'orders',
      wave: 'backend',
      state: 'migrating',
      ...(waiting ? { waitingForRestartSlot: true as const } : {}),
    });
    const look = (waiting: boolean): RunStatus => ({ ...status('namespaces', []), namespaces: [ns(waiting)] });
    // (What a first look finds is printed before the phase's header, as for steps.)
    expect(render([look(true), look(true), look(false)])).toEqual([
      '  ▶ namespace orders (wave backend): migrating, prepared, waiting for a restart slot',
      '▌ Namespaces, wave by wave',
      '  ▶ namespace orders (wave backend): migrating',
    ]);
  });

  it('a big run counts the namespaces waiting for a slot among those migrating', () => {
    const s: RunStatus = {
      ...status('namespaces', []),
      namespaceCounts: { migrated: 180, migrating: 25, pending: 95 },
      namespaces: Array.from({ length: 25 }, (_, i) => ({
        name: `ns-${i}`,
        wave: 'rest',
        state: 'migrating' as const,
        ...(i < 5 ? { waitingForRestartSlot: true as const } : {}),
      })),
    };
    expect(namespaceCounts(s).line).toBe('180 migrated, 25 migrating (5 of them prepared, waiting for a restart slot), 95 pending');
  });
});
