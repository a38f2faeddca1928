// End to end: bad input through the CLI. An invalid plan and an unknown run id are bad input
// (exit 2, nothing started or changed); approvals by a stranger, by the starter (four-eyes), with a
// stale digest, for a gate that is not open, are refused (exit 1) with the workflow's reason — and
// the run is unaffected: it completes afterwards, with every refusal in its audit trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import {
  APPROVER,
  type Cli,
  startSingleTwinStack,
  stopStack,
  NAMESPACES,
  STARTER,
  TERMINAL,
  approveWhenOpen,
  describeSeen,
  elapsed,
  namespaceLabels,
  twinCounters,
  waitForRun,
  writePlan,
  type RunningWorker,
} from './support/stack.js';

let env: TestWorkflowEnvironment;
let twin: Twin;
let worker: RunningWorker;
let cli: Cli;
let dir: string;
let planFile: string;
const fileStart = Date.now();

beforeAll(async () => {
  ({ env, twin, worker, cli, dir, planFile } = await startSingleTwinStack('bad-input'));
});

afterAll(() => stopStack({ env, twin, worker }, 'bad-input.test.ts', fileStart));

describe('bad input through the CLI', () => {
  it('an invalid plan: every problem named, exit 2, nothing started, nothing changed in the cluster', async () => {
    const bad = await writePlan(
      twin,
      dir,
      (p) => {
        p.waves[1].concurrency = 0;
        p.waves[2].namespaces = ['Front_End'];
        p.approvers = 'alice';
        p.dns.ttl = 'soon';
        p.surprise = true;
      },
      'bad.yaml',
    );
    const r = await cli.run(['start', bad, '--id', 'e2e-never-started'], STARTER);
    expect(r.code).toBe(2);
    for (const path of ['waves[1].concurrency', 'waves[2].namespaces[0]', 'approvers', 'dns.ttl', 'surprise'])
      expect(r.stderr, path).toContain(path);
    expect(r.stdout).toBe('');

    const validate = await cli.run(['plan', 'validate', bad]);
    expect(validate.code).toBe(2);

    const status = await cli.run(['status', 'e2e-never-started']);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('no meshmove run with id "e2e-never-started"');
    const list = await cli.run(['list', '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { workflowId: string }[]).map((w) => w.workflowId)).not.toContain('e2e-never-started');
    const counters = await twinCounters(twin);
    expect(Object.keys(counters.byObject).filter((k) => k.startsWith('patch namespaces/') || /^(patch|update) apps\//.test(k))).toEqual([]);
  }, 120_000);

  it('an unknown run id: exit 2 for status, approve, decide, rollback, history', async () => {
    for (const args of [
      ['status', 'e2e-no-such-run', '--json'],
      ['approve', 'e2e-no-such-run', 'start'],
      ['decide', 'e2e-no-such-run', 'retry'],
      ['rollback', 'e2e-no-such-run', '--reason', 'x'],
      ['history', 'e2e-no-such-run'],
    ]) {
      const r = await cli.run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('no meshmove run with id "e2e-no-such-run"');
    }
  }, 120_000);

  it('refused approvals (stranger, starter, stale digest, gate not open) exit 1 with the reason; the run goes on and completes', async () => {
    const t0 = Date.now();
    const id = 'e2e-refusals';
    await cli.start(planFile, id, STARTER);
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'start'), 'gate start');
    const before = await cli.status(id);
    expect(before.pendingGate).toMatchObject({ id: 'start' });

    const refusals: [string[], string, RegExp][] = [
      [['approve', id, 'start'], 'mallory', /mallory is not an approver/],
      [['approve', id, 'start'], STARTER, /four-eyes/],
      [['approve', id, 'start', '--by', STARTER], APPROVER, /four-eyes/], // --by wins over $MESHMOVE_USER
      [['approve', id, 'start', '--digest', 'ffffffffffffffff'], APPROVER, /stale approval/],
      [['approve', id, 'dns-cutover'], APPROVER, /dns-cutover/],
      [['approve', id, 'decommission'], APPROVER, /decommission/],
      [['decide', id, 'retry'], APPROVER, /nothing in e2e-refusals is waiting for a decision/],
    ];
    for (const [args, who, reason] of refusals) {
      const r = await cli.run(args, who);
      expect(r.code, `${args.join(' ')} as ${who}: ${r.stdout} ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(reason);
    }
    // A bad decision word is bad input.
    expect((await cli.run(['decide', id, 'maybe'])).code).toBe(2);

    // Unaffected: the same gate, same digest, still open; nothing moved in the cluster.
    const during = await cli.status(id);
    expect(during.phase).toBe('awaiting-start');
    expect(during.pendingGate).toMatchObject({ id: 'start', digest: before.pendingGate!.digest });
    for (const ns of NAMESPACES) expect((await namespaceLabels(twin, ns))['istio-injection']).toBe('enabled');

    // The right person with the digest they reviewed: accepted.
    const ok = await cli.run(['approve', id, 'start', '--digest', before.pendingGate!.digest], APPROVER);
    expect(ok.code, ok.stderr).toBe(0);
    // Approving it again: no longer open.
    const again = await cli.run(['approve', id, 'start'], APPROVER);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not open|unknown gate/);

    await approveWhenOpen(cli, env.client, id, 'dns-cutover');
    await approveWhenOpen(cli, env.client, id, 'decommission');
    const end = await waitForRun(env.client, id, (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0, 'the end');
    expect(end.status.phase, describeSeen(end)).toBe('completed');

    const s = await cli.status(id);
    expect(s.phase).toBe('completed');
    const refused = s.audit.filter((a) => !a.accepted);
    expect(refused.map((a) => a.by)).toEqual(['mallory', STARTER, STARTER, APPROVER, APPROVER, APPROVER, APPROVER]);
    expect(refused.every((a) => (a.reason ?? '').length > 0)).toBe(true);
    expect(s.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`)).toEqual([
      `${APPROVER} approve start`,
      `${APPROVER} approve dns-cutover`,
      `${APPROVER} approve decommission`,
    ]);
    console.log(`[e2e] refusals then completion: ${elapsed(t0)}`);
  }, 600_000);
});
