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

  it('lists every step of the migration in its section, in the order it runs, and the rollback with its gate', () => {
    const step = (id: string, title: string): RunStatus['steps'][number] => ({ id, title, state: 'succeeded', attempts: 1 });
    const gate = (id: string): RunStatus['gates'][number] => ({
      id,
      state: 'approved',
      summary: { title: id, details: [] },
      digest: 'd',
      openedAt: 't',
      expiresAt: 't',
      decidedBy: 'bob',
    });
    const ids = [
      'resolve-waves',
      'preflight',
      'backup',
      'traffic-baseline',
      'failure-budget',
      'gateway-stable',
      'dns-switch',
      'dns-verify',
      'dns-ttl',
      'traffic-shift',
      'verify-mesh',
      'gateway-drained',
      'decommission',
      'undo:dns-switch',
    ];
    const s: RunStatus = {
      ...status('r1'),
      steps: ids.map((id) => step(id, `title of ${id}`)),
      gates: ['start', 'dns-cutover', 'decommission', 'dns-revert'].map(gate),
    };
    const out = renderStatus(s, { gates: [], decisions: [], children: new Map() }).split('\n');
    const at = (text: string) => out.findIndex((l) => l.includes(text));
    const order = [
      'Before migration',
      'title of resolve-waves',
      'title of preflight',
      'title of backup',
      'gate start:',
      'title of traffic-baseline',
      'Namespaces',
      'title of failure-budget',
      'DNS cutover',
      'gate dns-cutover:',
      'title of gateway-stable',
      'title of dns-switch',
      'title of dns-verify',
      'title of dns-ttl',
      'title of traffic-shift',
      'After migration',
      'title of verify-mesh',
      'title of gateway-drained',
      'gate decommission:',
      'title of decommission',
      'Rollback (newest first)',
      'gate dns-revert:',
      'title of undo:dns-switch',
    ];
    for (const text of order) expect(at(text), text).toBeGreaterThanOrEqual(0);
    expect(order.map(at)).toEqual(order.map(at).sort((a, b) => a - b));
  });
});
