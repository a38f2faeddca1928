// The migration's wave scheduling rules, table-tested: which namespaces a wave launches, when the
// run stops launching, when the failure budget is spent. The loop that runs them is proven end to
// end in test/workflows (failure budget, rollback mid-wave, continue-as-new mid-wave).
import { describe, expect, it } from 'vitest';
import { RestartSlots, budgetSpent, failedNamespacesMessage, launchable, stopAfter, wavePending } from '../../workflows/wave-schedule.js';
import type { NamespaceStatus } from '../../workflows/messages.js';
import type { NamespaceOutcome } from '../../workflows/namespace.js';

const plan = {
  waves: [
    { name: 'canary', concurrency: 1, namespaces: ['a'] },
    { name: 'rest', concurrency: 2, namespaces: ['b', 'c', 'd'] },
    { name: 'last', concurrency: 2, namespaces: ['e'] },
  ],
};
const ns = (name: string, wave: string, state: NamespaceStatus['state'], error?: string): NamespaceStatus => ({
  name,
  wave,
  state,
  ...(error ? { error } : {}),
});

describe('launchable', () => {
  it.each([
    ['the canary launches only its own', [ns('a', 'canary', 'pending'), ns('b', 'rest', 'pending')], 0, ['a']],
    [
      'a wave launches its pending namespaces in the run order',
      [
        ns('a', 'canary', 'migrated'),
        ns('b', 'rest', 'pending'),
        ns('c', 'rest', 'migrated'),
        ns('d', 'rest', 'pending'),
        ns('e', 'last', 'pending'),
      ],
      1,
      ['b', 'd'],
    ],
    [
      'an earlier namespace pending again (a budget retry) runs with the current wave',
      [ns('a', 'canary', 'pending'), ns('b', 'rest', 'failed'), ns('e', 'last', 'pending')],
      2,
      ['a', 'e'],
    ],
    ['nothing pending, nothing launched', [ns('a', 'canary', 'skipped'), ns('b', 'rest', 'rolled-back')], 1, []],
  ])('%s', (_what, states, wave, names) => {
    expect(launchable(plan, states, wave).map((n) => n.name)).toEqual(names);
  });

  it('wavePending looks at that wave only', () => {
    const states = [ns('a', 'canary', 'migrated'), ns('b', 'rest', 'pending')];
    expect(wavePending(states, 'canary')).toBe(false);
    expect(wavePending(states, 'rest')).toBe(true);
  });
});

describe('stopAfter', () => {
  const migrated: NamespaceOutcome = { outcome: 'migrated', previousLabels: {} };
  it.each<[string, NamespaceOutcome, { by: string; reason: string } | null, ReturnType<typeof stopAfter>]>([
    ['a migrated namespace does not stop the wave', migrated, null, null],
    ['a failed namespace does not stop it either (the budget decides)', { outcome: 'failed', error: 'x' }, null, null],
    [
      'a rollback of the run, named with who asked',
      migrated,
      { by: 'bob', reason: 'slo' },
      { kind: 'rollback', why: 'rollback requested by bob: slo' },
    ],
    [
      "the run's own request comes before a namespace's",
      { outcome: 'aborted', reason: 'ns abort' },
      { by: 'bob', reason: 'slo' },
      { kind: 'rollback', why: 'rollback requested by bob: slo' },
    ],
    [
      'a rollback decided inside a namespace',
      { outcome: 'rollback-requested', reason: 'carol: bad' },
      null,
      { kind: 'rollback', why: 'carol: bad' },
    ],
    ['an abort decided inside a namespace', { outcome: 'aborted', reason: 'carol: stop' }, null, { kind: 'abort', why: 'carol: stop' }],
    ['a namespace rolled back by its own policy', { outcome: 'rolled-back', reason: 'cancelled' }, null, null],
  ])('%s', (_what, outcome, request, stop) => {
    expect(stopAfter(outcome, request)).toEqual(stop);
  });
});

describe('the failure budget', () => {
  const failed: NamespaceOutcome = { outcome: 'failed', error: 'boom' };
  it.each<[string, NamespaceOutcome, NamespaceStatus[], number, boolean]>([
    ['the first failure of a budget of 1', failed, [ns('a', 'canary', 'failed')], 1, true],
    ['one failure under a budget of 2', failed, [ns('a', 'canary', 'failed'), ns('b', 'rest', 'migrated')], 2, false],
    ['the second failure reaches a budget of 2', failed, [ns('a', 'canary', 'failed'), ns('b', 'rest', 'failed')], 2, true],
    ['only a failure spends it', { outcome: 'migrated', previousLabels: {} }, [ns('a', 'canary', 'failed')], 1, false],
  ])('%s', (_what, outcome, states, budget, spent) => {
    expect(budgetSpent(outcome, states, budget)).toBe(spent);
  });

  it('asks the operator with each failed namespace and its error', () => {
    expect(failedNamespacesMessage([ns('a', 'canary', 'failed', 'ca timeout'), ns('b', 'rest', 'failed')])).toBe(
      '2 namespace(s) failed and were moved back: a (ca timeout); b (failed). retry: move them again; skip: go on without them',
    );
  });
});

describe('RestartSlots (wave.prepareAhead)', () => {
  it('the first `capacity` launched hold a slot; the others get one in launch order as slots free', () => {
    const slots = new RestartSlots(2);
    expect(['a', 'b', 'c', 'd'].map((n) => slots.launched(n))).toEqual([true, true, false, false]);
    expect(slots.freed('b')).toBe('c');
    expect(slots.freed('a')).toBe('d');
    expect(slots.freed('c')).toBeUndefined();
  });

  it('a slot frees once: the restart being over and the workflow ending, in either order', () => {
    const slots = new RestartSlots(1);
    ['a', 'b', 'c'].forEach((n) => slots.launched(n));
    expect(slots.freed('a')).toBe('b');
    expect(slots.ended('a')).toBeUndefined();
    expect(slots.ended('b')).toBe('c');
    expect(slots.freed('b')).toBeUndefined();
  });

  it('a namespace that ends while waiting (failed before its restart) waits no more; a stray free of a waiting one changes nothing', () => {
    const slots = new RestartSlots(1);
    ['a', 'b', 'c'].forEach((n) => slots.launched(n));
    expect(slots.freed('c')).toBeUndefined();
    expect(slots.ended('b')).toBeUndefined();
    expect(slots.freed('a')).toBe('c');
  });

  it('takeWaiting empties the queue (an abort tells them to stop)', () => {
    const slots = new RestartSlots(1);
    ['a', 'b', 'c'].forEach((n) => slots.launched(n));
    expect(slots.takeWaiting()).toEqual(['b', 'c']);
    expect(slots.freed('a')).toBeUndefined();
  });
});
