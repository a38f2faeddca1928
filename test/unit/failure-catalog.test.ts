// The failure catalog (activities/failures.ts) is the one place a failure type is spelled: the
// activities throw its types, the retry policies list its never-retried ones, the CLI shows its hints.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURES, FailureType, NON_RETRYABLE, failureHint, type FailureTypeName } from '../../activities/failures.js';
import { failureTypeOf } from '../../workflows/engine/runbook.js';
import { KubeErrorType } from '../../activities/kube/errors.js';

const product = execFileSync('git', ['ls-files', 'activities', 'workflows', 'worker', 'client', 'plan', 'mesh'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f.endsWith('.ts') && f !== 'activities/failures.ts');
const names = Object.keys(FAILURES) as FailureTypeName[];

describe('the failure catalog', () => {
  it('no product file spells a failure type as a string literal: they use FailureType', () => {
    const literal = new RegExp(`(['"\`])(${names.join('|')})\\1`, 'g');
    const found = product.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(literal)].map((m) => `${f}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  it('no ApplicationFailure in product code is created with a literal type outside the catalog', () => {
    const call = /ApplicationFailure\.(?:nonRetryable|retryable)\([^;]*?,\s*(['"`])([A-Za-z]+)\1\s*\)|type:\s*(['"`])([A-Z][A-Za-z]+)\3/g;
    const found = product.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(call)].map((m) => `${f}: ${m[2] ?? m[4]}`));
    expect(found).toEqual([]);
  });

  it('names each type as itself, gives every type a hint, and lists the never-retried ones for the retry policies', () => {
    for (const n of names) {
      expect(FailureType[n]).toBe(n);
      expect(failureHint(n)!.length, n).toBeGreaterThan(20);
    }
    expect(NON_RETRYABLE).toContain('KubeForbidden');
    expect(NON_RETRYABLE).toContain('CheckFailed');
    expect(NON_RETRYABLE).not.toContain('KubeServerError');
    expect(NON_RETRYABLE.every((n) => FAILURES[n].retry === 'never')).toBe(true);
    // Every Kubernetes classification is in the catalog.
    for (const t of Object.values(KubeErrorType)) expect(names, t).toContain(t);
    expect(failureHint('SomethingElse')).toBeUndefined();
    expect(failureHint(undefined)).toBeUndefined();
  });

  it("finds the activity's own type under the wrappers Temporal adds", () => {
    const inner = ApplicationFailure.create({ type: FailureType.RolloutStuck, message: 'stuck' });
    const outer = new Error('Activity task failed', { cause: inner });
    expect(failureTypeOf(outer)).toBe('RolloutStuck');
    expect(failureTypeOf(new Error('plain'))).toBeUndefined();
  });
});
