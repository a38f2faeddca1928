import { describe, expect, it } from 'vitest';
import {
  decideRelabel,
  decideRestore,
  labelsAsPlanned,
  PREVIOUS_LABELS_ANNOTATION,
  readPreviousLabelsRecord,
  type NamespaceState,
} from '../../activities/namespace/labels.js';

const plan = {
  target: {
    revision: 'istio-1-16-5',
    istiodNamespace: 'istio-1-16-5',
    discoveryLabels: { usergroup: 'istio-1-16-5' },
    gateway: { namespace: 'x', service: 'y', selector: { a: 'b' } },
  },
};
const planned = { 'istio.io/rev': 'istio-1-16-5', usergroup: 'istio-1-16-5' };
const ns = (labels: Record<string, string>, annotations: Record<string, string> = {}, resourceVersion = '7'): NamespaceState => ({
  labels,
  annotations,
  resourceVersion,
});
const rec = (o: object) => ({ [PREVIOUS_LABELS_ANNOTATION]: JSON.stringify(o) });

describe('decideRelabel', () => {
  const cases: Array<{
    name: string;
    state: NamespaceState;
    changed: boolean;
    previous: Record<string, string>;
    labels?: Record<string, string | null>;
  }> = [
    {
      name: 'field report namespace: istio-injection removed in the same patch',
      state: ns({ 'istio-injection': 'enabled', team: 'shop', 'kubernetes.io/metadata.name': 'orders' }),
      changed: true,
      previous: { 'istio-injection': 'enabled' },
      labels: { ...planned, 'istio-injection': null },
    },
    {
      name: 'revision label from another revision is recorded',
      state: ns({ 'istio.io/rev': 'old', usergroup: 'legacy' }),
      changed: true,
      previous: { 'istio.io/rev': 'old', usergroup: 'legacy' },
      labels: planned,
    },
    {
      name: 'already as planned, recorded by this run: the recorded labels come back',
      state: ns({ ...planned, team: 'shop' }, rec({ run1: { 'istio-injection': 'enabled' } })),
      changed: false,
      previous: { 'istio-injection': 'enabled' },
    },
    {
      name: 'already as planned before this run: nothing to undo',
      state: ns({ ...planned }),
      changed: false,
      previous: { ...planned },
    },
    {
      name: 'changed by hand after our relabel: re-patched, the first record wins',
      state: ns({ 'istio-injection': 'enabled', 'istio.io/rev': 'istio-1-16-5' }, rec({ run1: { 'istio-injection': 'enabled' } })),
      changed: true,
      previous: { 'istio-injection': 'enabled' },
      labels: { ...planned, 'istio-injection': null },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decideRelabel(c.state, plan, 'run1');
      expect(d.changed).toBe(c.changed);
      expect(d.previousLabels).toEqual(c.previous);
      if (c.labels) {
        expect(d.patch?.metadata.labels).toEqual(c.labels);
        expect(d.patch?.metadata.resourceVersion).toBe('7');
        expect(readPreviousLabelsRecord(d.patch!.metadata.annotations as Record<string, string>).run1).toEqual(c.previous);
      } else {
        expect(d.patch).toBeUndefined();
      }
    });
  }

  it("keeps other runs' records", () => {
    const d = decideRelabel(ns({ 'istio-injection': 'enabled' }, rec({ other: { x: 'y' } })), plan, 'run1');
    expect(readPreviousLabelsRecord(d.patch!.metadata.annotations as Record<string, string>)).toEqual({
      other: { x: 'y' },
      run1: { 'istio-injection': 'enabled' },
    });
  });

  it('an unreadable annotation is treated as no record', () => {
    expect(readPreviousLabelsRecord({ [PREVIOUS_LABELS_ANNOTATION]: '{not json' })).toEqual({});
    expect(readPreviousLabelsRecord({ [PREVIOUS_LABELS_ANNOTATION]: '["a"]' })).toEqual({});
  });
});

describe('decideRestore', () => {
  it('puts back exactly the previous values, removes added keys and the record', () => {
    const state = ns({ ...planned, team: 'shop' }, rec({ run1: { 'istio-injection': 'enabled' } }));
    const d = decideRestore(state, plan, 'run1', { 'istio-injection': 'enabled' });
    expect(d.changed).toBe(true);
    expect(d.patch?.metadata.labels).toEqual({ 'istio-injection': 'enabled', 'istio.io/rev': null, usergroup: null });
    expect(d.patch?.metadata.annotations).toEqual({ [PREVIOUS_LABELS_ANNOTATION]: null });
  });

  it('restores a previous revision value instead of removing it', () => {
    const d = decideRestore(ns({ ...planned }, rec({ run1: { 'istio.io/rev': 'old' } })), plan, 'run1', { 'istio.io/rev': 'old' });
    expect(d.patch?.metadata.labels).toEqual({ 'istio.io/rev': 'old', usergroup: null });
  });

  it('is a no-op once restored (second run)', () => {
    const d = decideRestore(ns({ 'istio-injection': 'enabled', team: 'shop' }), plan, 'run1', { 'istio-injection': 'enabled' });
    expect(d).toEqual({ changed: false });
  });

  it("drops only this run's record", () => {
    const d = decideRestore(ns({ 'istio-injection': 'enabled' }, rec({ run1: {}, other: { a: 'b' } })), plan, 'run1', {
      'istio-injection': 'enabled',
    });
    expect(d.changed).toBe(false);
    expect(JSON.parse(d.patch!.metadata.annotations![PREVIOUS_LABELS_ANNOTATION]!)).toEqual({ other: { a: 'b' } });
  });

  it('restore after relabel gives the original labels back (round trip)', () => {
    const original = { 'istio-injection': 'enabled', team: 'shop' };
    const r = decideRelabel(ns(original), plan, 'run1');
    const after: Record<string, string> = { ...original };
    for (const [k, v] of Object.entries(r.patch!.metadata.labels!))
      if (v === null) delete after[k];
      else after[k] = v;
    expect(labelsAsPlanned(after, { set: planned, remove: ['istio-injection'] })).toBe(true);
    const back = decideRestore(ns(after, r.patch!.metadata.annotations as Record<string, string>), plan, 'run1', r.previousLabels);
    const restored: Record<string, string> = { ...after };
    for (const [k, v] of Object.entries(back.patch!.metadata.labels!))
      if (v === null) delete restored[k];
      else restored[k] = v;
    expect(restored).toEqual(original);
  });
});
