// The demo's checklist: what ended since the last look is printed under the phase it belongs to,
// before the next phase's header, also when a resumed run is first shown.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Presenter } from '../../client/demo/presenter.js';
import type { RunStatus, StepRecord } from '../../workflows/messages.js';

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
});
