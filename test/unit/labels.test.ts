import { describe, expect, it } from 'vitest';
import {
  isDns1123Label,
  isDns1123Subdomain,
  isValidLabelKey,
  isValidLabelValue,
  parseSelectorString,
  requirementsMatch,
  selectorMatches,
  selectorToString,
  validateSelector,
  type LabelSelector,
  type Labels,
} from '../../mesh/labels.js';

// docs/istio-facts.md §1, each row in both forms: the structured LabelSelector and the string syntax.
const FACT_VECTORS: Array<{ name: string; sel: LabelSelector; str: string; labels: Labels; match: boolean }> = [
  { name: 'x=y', sel: { matchLabels: { x: 'y' } }, str: 'x=y', labels: { x: 'y' }, match: true },
  { name: 'x=y,z=w', sel: { matchLabels: { x: 'y', z: 'w' } }, str: 'x=y,z=w', labels: { x: 'y', z: 'w' }, match: true },
  {
    name: 'x!=y,z!=w',
    str: 'x!=y,z!=w',
    labels: { x: 'z', z: 'a' },
    match: true,
    // != has no structured form; NotIn with one value is its equivalent.
    sel: {
      matchExpressions: [
        { key: 'x', operator: 'NotIn', values: ['y'] },
        { key: 'z', operator: 'NotIn', values: ['w'] },
      ],
    },
  },
  { name: 'x (exists)', sel: { matchExpressions: [{ key: 'x', operator: 'Exists' }] }, str: 'x', labels: { x: 'z' }, match: true },
  { name: '!x', sel: { matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, str: '!x', labels: { y: 'z' }, match: true },
  { name: 'x=z on {}', sel: { matchLabels: { x: 'z' } }, str: 'x=z', labels: {}, match: false },
  { name: 'x=y,z=w on {x:w,z:w}', sel: { matchLabels: { x: 'y', z: 'w' } }, str: 'x=y,z=w', labels: { x: 'w', z: 'w' }, match: false },
  {
    name: 'x In(foo), y NotIn(alpha)',
    str: 'x in (foo),y notin (alpha)',
    labels: { x: 'foo', y: 'baz' },
    match: true,
    sel: {
      matchExpressions: [
        { key: 'x', operator: 'In', values: ['foo'] },
        { key: 'y', operator: 'NotIn', values: ['alpha'] },
      ],
    },
  },
  {
    name: 'x In(foo), y In(alpha)',
    str: 'x in (foo),y in (alpha)',
    labels: { x: 'foo', y: 'baz' },
    match: false,
    sel: {
      matchExpressions: [
        { key: 'x', operator: 'In', values: ['foo'] },
        { key: 'y', operator: 'In', values: ['alpha'] },
      ],
    },
  },
  {
    name: 'x NotIn(""), y Exists',
    str: 'x notin (),y',
    labels: { y: '' },
    match: true,
    sel: {
      matchExpressions: [
        { key: 'x', operator: 'NotIn', values: [''] },
        { key: 'y', operator: 'Exists' },
      ],
    },
  },
  {
    name: 'x NotIn(""), y DoesNotExist',
    str: 'x notin (),!y',
    labels: { y: '' },
    match: false,
    sel: {
      matchExpressions: [
        { key: 'x', operator: 'NotIn', values: [''] },
        { key: 'y', operator: 'DoesNotExist' },
      ],
    },
  },
];

describe('label selectors: docs/istio-facts.md §1 vectors', () => {
  it.each(FACT_VECTORS)('structured $name → $match', ({ sel, labels, match }) => {
    expect(selectorMatches(sel, labels)).toBe(match);
  });

  it.each(FACT_VECTORS)('string of $name round-trips and → $match', ({ sel, str, labels, match }) => {
    const s = selectorToString(sel);
    if (!str.includes('!=')) expect(s).toBe(str);
    expect(requirementsMatch(parseSelectorString(s), labels)).toBe(match);
  });

  it.each(FACT_VECTORS)('parsed "$str" → $match', ({ str, labels, match }) => {
    expect(requirementsMatch(parseSelectorString(str), labels)).toBe(match);
  });
});

describe('label selectors: nil, empty, errors', () => {
  it('null and undefined match nothing, {} matches everything', () => {
    expect(selectorMatches(null, { a: 'b' })).toBe(false);
    expect(selectorMatches(undefined, {})).toBe(false);
    expect(selectorMatches({}, {})).toBe(true);
    expect(selectorMatches({}, { a: 'b' })).toBe(true);
    expect(selectorMatches({ matchLabels: {}, matchExpressions: [] }, undefined)).toBe(true);
  });

  it('NotIn is true when the key is absent, In is false', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'k', operator: 'NotIn', values: ['v'] }] }, {})).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] }, {})).toBe(false);
  });

  it.each([
    { name: 'unknown operator', sel: { matchExpressions: [{ key: 'k', operator: 'Gt' as never, values: ['1'] }] } },
    { name: 'In without values', sel: { matchExpressions: [{ key: 'k', operator: 'In' as const }] } },
    { name: 'NotIn with empty values', sel: { matchExpressions: [{ key: 'k', operator: 'NotIn' as const, values: [] }] } },
    { name: 'Exists with values', sel: { matchExpressions: [{ key: 'k', operator: 'Exists' as const, values: ['a'] }] } },
    { name: 'invalid key', sel: { matchLabels: { 'bad key': 'v' } } },
  ])('$name throws and fails validation', ({ sel }) => {
    expect(() => selectorMatches(sel, { k: '1' })).toThrow();
    expect(validateSelector(sel).length).toBeGreaterThan(0);
  });

  it('validateSelector accepts a valid selector', () => {
    expect(
      validateSelector({
        matchLabels: { 'istio.io/rev': 'istio-1-16-5' },
        matchExpressions: [{ key: 'istio-injection', operator: 'DoesNotExist' }],
      }),
    ).toEqual([]);
  });
});

describe('selector string syntax', () => {
  it.each([
    { s: '', reqs: [] },
    { s: 'a=b', reqs: [{ key: 'a', op: '=', values: ['b'] }] },
    { s: 'a==b', reqs: [{ key: 'a', op: '=', values: ['b'] }] },
    { s: 'a!=b', reqs: [{ key: 'a', op: '!=', values: ['b'] }] },
    { s: 'a=', reqs: [{ key: 'a', op: '=', values: [''] }] },
    {
      s: ' a in ( b , c ) , !d,e ',
      reqs: [
        { key: 'a', op: 'in', values: ['b', 'c'] },
        { key: 'd', op: '!', values: [] },
        { key: 'e', op: 'exists', values: [] },
      ],
    },
    { s: 'istio.io/rev notin (default,)', reqs: [{ key: 'istio.io/rev', op: 'notin', values: ['default', ''] }] },
    { s: 'x notin ()', reqs: [{ key: 'x', op: 'notin', values: [''] }] },
    { s: 'a=in', reqs: [{ key: 'a', op: '=', values: ['in'] }] },
  ])('parses "$s"', ({ s, reqs }) => {
    expect(parseSelectorString(s)).toEqual(reqs);
  });

  it.each(['a in (b', '!a=b', 'a b', '=b', 'a=b,', 'a>1', 'a=b c', 'bad key=v', 'a=-bad', 'in=x', 'a in b'])('rejects "%s"', (s) => {
    expect(() => parseSelectorString(s)).toThrow();
  });

  it('selectorToString sorts by key and values, like Selector.String()', () => {
    expect(
      selectorToString({
        matchLabels: { z: '1', a: '2' },
        matchExpressions: [
          { key: 'm', operator: 'In', values: ['y', 'x'] },
          { key: 'b', operator: 'DoesNotExist' },
          { key: 'c', operator: 'Exists' },
        ],
      }),
    ).toBe('a=2,!b,c,m in (x,y),z=1');
  });
});

describe('names and label syntax', () => {
  it.each([
    ['app', true],
    ['istio.io/rev', true],
    ['sidecar.istio.io/inject', true],
    ['a_b.c-d', true],
    ['', false],
    ['-a', false],
    ['a-', false],
    ['a/b/c', false],
    ['Bad.Prefix/x', false],
    ['/x', false],
    ['x/', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    [`${'a'.repeat(251)}.io/x`, false],
    [`${'a'.repeat(250)}.io/x`, true],
  ])('label key %j valid=%s', (k, ok) => {
    expect(isValidLabelKey(k)).toBe(ok);
  });

  it.each([
    ['', true],
    ['enabled', true],
    ['1.16.5', true],
    ['a_b', true],
    ['has space', false],
    ['-x', false],
    ['x.', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['a/b', false],
  ])('label value %j valid=%s', (v, ok) => {
    expect(isValidLabelValue(v)).toBe(ok);
  });

  it.each([
    ['demo-a', true, true],
    ['istio-1-16-5', true, true],
    ['a.b', false, true],
    ['A', false, false],
    ['', false, false],
    ['-a', false, false],
    ['a'.repeat(64), false, true],
    ['a_b', false, false],
  ])('%j dns1123 label=%s subdomain=%s', (s, label, sub) => {
    expect(isDns1123Label(s)).toBe(label);
    expect(isDns1123Subdomain(s)).toBe(sub);
  });
});
