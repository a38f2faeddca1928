// End to end: waves chosen by selector. The field report's plan with its named waves replaced by a
// name pattern (the canary) and "every namespace the source injects" (the rest): the start gate
// shows the concrete list, resolved once before preflight; the run moves exactly those; a namespace
// created (injected by the source) while the start gate is open is not moved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import {
  type Cli,
  startSingleTwinStack,
  stopStack,
  NAMESPACES,
  STARTER,
  approveAllAndFinish,
  describeSeen,
  elapsed,
  backedUpLabels,
  migratedLabels,
  namespaceLabels,
  podRevisions,
  waitForRun,
  writePlan,
  type RunningWorker,
  TARGET_REV,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twin: Twin;
let worker: RunningWorker;
let cli: Cli;
let dir: string;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twin, worker, cli, dir } = await startSingleTwinStack('selector-waves'));
});

afterAll(() => stopStack({ env, twin, worker }, 'selector-waves.test.ts', fileStart));

async function createNamespace(name: string, labels: Record<string, string>): Promise<void> {
  const res = await fetch(`${twin.apiUrl}/api/v1/namespaces`, {
    method: 'POST',
    headers: { Authorization: 'Bearer meshmove-twin', 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }),
  });
  expect(res.status, await res.text()).toBe(201);
}

describe('waves by selector through the CLI', () => {
  it('the start gate lists the resolved names; exactly those move; a namespace created after the gate opened stays', async () => {
    const id = 'e2e-selector-waves';
    const t0 = Date.now();
    const plan = await writePlan(
      twin,
      dir,
      (p) => {
        p.waves = [
          { name: 'canary', concurrency: 1, select: { names: ['inv*'] } },
          { name: 'rest', concurrency: 2, select: { injectedBy: 'source' } },
        ];
      },
      'selector-plan.yaml',
    );
    // `meshmove preflight` resolves the waves as the run will, and says so.
    const pre = await cli.run(['preflight', plan, '--kubeconfig', twin.kubeconfigPath]);
    expect(pre.code, pre.stderr).toBe(0);
    expect(pre.stdout).toContain('Waves chosen by selector, as resolved now: canary: inventory; rest: frontend, orders, payments');
    const valid = await cli.run(['plan', 'validate', plan]);
    expect(valid.stdout).toContain('0 named namespace(s) and 2 wave(s) chosen by selector (resolved when the run starts)');
    await cli.start(plan, id, STARTER);

    const atGate = await waitForRun(
      env.client,
      id,
      (s) => s.attention.gates.some((g) => g.id === 'start') || s.attention.decisions.length > 0,
      'the start gate',
    );
    expect(
      atGate.attention.gates.map((g) => g.id),
      describeSeen(atGate),
    ).toEqual(['start']);
    const s = await cli.status(id);
    const details = s.pendingGate!.summary.details;
    expect(s.pendingGate!.summary.title).toBe(`Move 4 namespace(s) from default to ${TARGET_REV}`);
    expect(details[0]).toBe('wave 1 "canary" (1 at a time; select: names inv*): inventory');
    expect(details[1]).toBe('wave 2 "rest" (2 at a time; select: injected by the source): frontend, orders, payments');
    expect(s.namespaces.map((n) => [n.wave, n.name, n.state])).toEqual([
      ['canary', 'inventory', 'pending'],
      ['rest', 'frontend', 'pending'],
      ['rest', 'orders', 'pending'],
      ['rest', 'payments', 'pending'],
    ]);
    expect(s.steps.map((x) => x.id).slice(0, 3)).toEqual(['resolve-waves', 'preflight', 'backup']);

    // Injected by the source, so `rest` would select it now; the approved list does not change.
    await createNamespace('late-arrival', { 'istio-injection': 'enabled' });

    const end = await approveAllAndFinish(cli, env.client, id);
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    console.log(`[e2e] selector waves: ${elapsed(t0)}`);

    const after = await cli.status(id);
    expect(after.namespaces.map((n) => [n.name, n.state]).sort()).toEqual([...NAMESPACES].sort().map((n) => [n, 'migrated']));
    for (const ns of NAMESPACES) {
      expect(await namespaceLabels(twin, ns), ns).toEqual(migratedLabels(ns));
      const revs = await podRevisions(twin, ns);
      expect(
        Object.values(revs).every((r) => r === TARGET_REV),
        `${ns}: ${JSON.stringify(revs)}`,
      ).toBe(true);
    }
    const late = await namespaceLabels(twin, 'late-arrival');
    expect(late['istio-injection']).toBe('enabled');
    expect(late['istio.io/rev']).toBeUndefined();
    // The backup holds the resolved namespaces, not the one created later.
    for (const ns of NAMESPACES)
      expect(await backedUpLabels(after.backup!.location, ns), ns).toMatchObject({ 'istio-injection': 'enabled' });
    await expect(backedUpLabels(after.backup!.location, 'late-arrival')).rejects.toThrow(/not in the backup/);
    // The start gate the approver signed showed the list that moved.
    expect(after.gates.find((g) => g.id === 'start')!.summary.details.slice(0, 2)).toEqual(details.slice(0, 2));
  });
});
