// `meshmove status` for people: the run id is what the person types back into the next command, so
// every place it appears prints it exactly as it is (ids are case-sensitive in Temporal); and a
// namespace's failed step shows the command that answers it.
import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../client/render.js';
import type { Attention } from '../../client/runs.js';
import type { RunStatus } from '../../workflows/messages.js';

function status(workflowId: string): RunStatus {
  return {
    workflowId,
    kind: 'migration',
    plan: 'field-report',
    startedBy: 'alice',
    startedAt: '2026-01-01T12:00:00.000Z',
    phase: 'namespaces',
    currentStep: null,
    steps: [],
    gates: [],
    pendingGate: null,
    pendingDecision: null,
    namespaces: [{ name: 'orders', wave: 'rest', state: 'migrating', workflowId: `${workflowId}/ns/orders` }],
    audit: [],
    generation: 0,
  };
}

const waitingInOrders = (workflowId: string): Attention => ({
  gates: [],
  decisions: [
    {
      step: 'verify-traffic',
      error: 'probe failed',
      allowed: ['retry', 'skip', 'rollback', 'abort'],
      workflowId: `${workflowId}/ns/orders`,
      namespace: 'orders',
    },
  ],
  children: new Map(),
});

describe('renderStatus', () => {
  for (const id of ['field-report-20260101-120000', 'shop-Run-7', 'eu-west/b']) {
    it(`prints the run id "${id}" as it is, in the header and in the commands it suggests`, () => {
      const out = renderStatus(status(id), waitingInOrders(id));
      expect(out.split('\n')[0]).toBe(`${id}  plan field-report  started by alice at 2026-01-01T12:00:00.000Z`);
      expect(out).toContain(`meshmove decide ${id} `);
      expect(out).toContain(`\`meshmove status ${id} --json\``);
    });
  }

  it("names a namespace's failed step with --k8s-namespace (--namespace is Temporal's)", () => {
    const out = renderStatus(status('r1'), waitingInOrders('r1'));
    expect(out).toContain('meshmove decide r1 retry|skip|rollback|abort --k8s-namespace orders [--reason "…"]');
    expect(out).not.toContain('--namespace orders');
  });

  it("shows what to do about a failed step from the failure catalog, when the failure's type is known", () => {
    const attention = waitingInOrders('r1');
    attention.decisions[0]!.errorType = 'RolloutStuck';
    const out = renderStatus(status('r1'), attention);
    expect(out).toContain('    what to do (RolloutStuck): a rollout did not complete within plan.restart.timeout');
    expect(renderStatus(status('r1'), waitingInOrders('r1'))).not.toContain('what to do');
  });
});
