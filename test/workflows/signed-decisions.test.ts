// Signed decisions on a real Temporal dev server, sent with a raw Temporal client as any script could:
// the workflow itself verifies each SSHSIG signature (ssh-keygen's and meshmove's), and refuses forged
// names, unknown keys, replays on another run, gate or summary, reused nonces, expired windows, the
// starter's key and unsigned requests, by Update and by Signal, with the reason in the audit trail.
import { describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { migrationWorkflow } from '../../workflows/migration.js';
import {
  TASK_QUEUE,
  gateDecisionSignal,
  gateDecisionUpdate,
  operatorDecisionUpdate,
  statusQuery,
  type RunStatus,
} from '../../workflows/messages.js';
import { decisionMessage, sha256Hex, type DecisionFields, type SignedDecision } from '../../workflows/identity/decision.js';
import { parsePublicKey } from '../../workflows/identity/sshsig.js';
import { loadSigner } from '../../client/signing.js';
import type { Plan } from '../../plan/schema.js';
import { FakeCluster, dispatchingActivities, testPlan } from '../support/fake-activities.js';
import { refusal, useDevServerWorker, waitForStatus } from '../support/temporal.js';
import { recordHistory } from '../support/histories.js';
import { makeKey, sshKeygenSign, type TestKey } from '../support/ssh-keys.js';

const cluster: { current?: FakeCluster } = {};

const alice = makeKey('alice', 'ed25519');
const bob = makeKey('bob', 'ecdsa');
const carol = makeKey('carol', 'ed25519');
const mallory = makeKey('mallory', 'ed25519');

const temporal = useDevServerWorker(() => dispatchingActivities(() => cluster.current!));

/** alice and bob may decide everything; carol only dns-cutover; `ops` holds alice's key (one person, two entries). */
function signedPlan(overrides: Parameters<typeof testPlan>[0] = {}): Plan {
  return testPlan({
    identity: 'signed',
    approvers: [
      { name: 'alice', keys: [alice.publicKey] },
      { name: 'bob', keys: [bob.publicKey] },
      { name: 'carol', keys: [carol.publicKey], gates: ['dns-cutover'] },
      { name: 'ops', keys: [alice.publicKey] },
    ],
    ...overrides,
  });
}

/** What ssh-keygen -Y sign -n meshmove makes of the canonical message. */
function signWithSshKeygen(key: TestKey, fields: Partial<DecisionFields> & Pick<DecisionFields, 'workflow' | 'kind'>): SignedDecision {
  const message = decisionMessage({
    target: '-',
    namespace: '-',
    verdict: 'approve',
    digest: '-',
    by: key.name,
    reason: '',
    at: new Date().toISOString(),
    nonce: randomBytes(16).toString('hex'),
    ...fields,
  });
  return { message, signature: sshKeygenSign(key, message) };
}

async function startSigned(
  plan: Plan,
  by: TestKey = alice,
  id = `signed-${randomUUID()}`,
): Promise<WorkflowHandle<typeof migrationWorkflow>> {
  cluster.current = new FakeCluster(plan);
  const start = signWithSshKeygen(by, { workflow: id, kind: 'start', verdict: 'start', digest: sha256Hex(JSON.stringify(plan)) });
  return temporal.env.client.workflow.start(migrationWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: id,
    args: [{ plan, planDigest: 'test', startedBy: by.name, start }],
  });
}

async function gateOpen(handle: WorkflowHandle, gate: string): Promise<RunStatus> {
  return waitForStatus(handle, (s) => s.pendingGate?.id === gate);
}

function gateApproval(handle: WorkflowHandle, s: RunStatus, key: TestKey, over: Partial<DecisionFields> = {}): SignedDecision {
  return signWithSshKeygen(key, {
    workflow: handle.workflowId,
    kind: 'gate',
    target: s.pendingGate!.id,
    digest: s.pendingGate!.digest,
    ...over,
  });
}

async function approve(handle: WorkflowHandle, gate: string, key: TestKey): Promise<void> {
  const s = await gateOpen(handle, gate);
  await handle.executeUpdate(gateDecisionUpdate, {
    args: [{ gate, verdict: 'approve', by: key.name, digest: s.pendingGate!.digest, signed: gateApproval(handle, s, key) }],
  });
}

const fp = (k: TestKey) => parsePublicKey(k.publicKey).fingerprint;

describe('signed decisions (verified in the workflow)', () => {
  it('happy path: every gate signed by ssh-keygen with ed25519 and ECDSA keys; the audit keeps the evidence', async () => {
    const handle = await startSigned(signedPlan());
    await approve(handle, 'start', bob);
    await approve(handle, 'dns-cutover', carol);
    await approve(handle, 'decommission', bob);
    expect((await handle.result()).phase).toBe('completed');
    const st = await handle.query(statusQuery);
    expect(st.identity).toBe('signed');
    expect(st.audit.filter((a) => a.accepted).map((a) => [`${a.by} ${a.action}`, a.signed?.key])).toEqual([
      ['bob approve start', fp(bob)],
      ['carol approve dns-cutover', fp(carol)],
      ['bob approve decommission', fp(bob)],
    ]);
    expect(st.gates.every((g) => /^[0-9a-f]{64}$/.test(g.digest))).toBe(true);
    await recordHistory(temporal.env.client, handle.workflowId, 'signed-happy-path');
  });

  it('refuses unsigned, unknown keys, forged names, other runs, gates and summaries, old signatures and keys not allowed for the gate', async () => {
    const handle = await startSigned(signedPlan());
    const s = await gateOpen(handle, 'start');
    const digest = s.pendingGate!.digest;
    const ask = (signed: SignedDecision | undefined, by = 'bob') =>
      refusal(
        handle.executeUpdate(gateDecisionUpdate, {
          args: [{ gate: 'start', verdict: 'approve', by, digest, ...(signed ? { signed } : {}) }],
        }),
      );
    expect(await ask(undefined)).toContain('unsigned: this plan requires signed decisions');
    expect(await ask(gateApproval(handle, s, mallory, { by: 'bob' }))).toContain(`unknown key ${fp(mallory)}`);
    expect(await ask(gateApproval(handle, s, alice, { by: 'bob' }))).toContain(`forged name: the key ${fp(alice)} is alice's`);
    expect(await ask(gateApproval(handle, s, bob, { workflow: 'another-run' }))).toContain(
      `signed for run another-run, not ${handle.workflowId}`,
    );
    expect(await ask(gateApproval(handle, s, bob, { target: 'decommission' }))).toContain('signed for gate decommission, not gate start');
    expect(await ask(gateApproval(handle, s, bob, { verdict: 'reject' }))).toContain('signed to reject, not to approve');
    expect(await ask(gateApproval(handle, s, bob, { digest: sha256Hex('the summary before it changed') }))).toContain(
      'stale approval: signed over digest',
    );
    const longAgo = new Date(Date.parse(s.gates[0]!.openedAt) - 3_600_000).toISOString();
    expect(await ask(gateApproval(handle, s, bob, { at: longAgo }))).toContain(`signed at ${longAgo}, outside gate start's open window`);
    expect(await ask(gateApproval(handle, s, carol, { by: 'carol' }), 'carol')).toContain(
      "carol's key is not allowed for gate start (allowed: dns-cutover)",
    );
    // The starter's key under another name of the plan: four-eyes by key.
    expect(await ask(gateApproval(handle, s, alice, { by: 'ops' }), 'ops')).toContain(
      `four-eyes: the key ${fp(alice)} signed the start of this run`,
    );
    // The same checks by Signal: a refused one is audited and changes nothing; a valid one decides.
    const forged = gateApproval(handle, s, mallory, { by: 'bob' });
    await handle.signal(gateDecisionSignal, { gate: 'start', verdict: 'approve', by: 'bob', digest, signed: forged });
    const refused = await waitForStatus(handle, (x) => x.audit.some((a) => !a.accepted));
    expect(refused.audit.find((a) => !a.accepted)).toMatchObject({ by: 'bob', accepted: false, via: 'signal' });
    expect(refused.audit.find((a) => !a.accepted)?.reason).toContain('unknown key');
    expect(refused.pendingGate?.id).toBe('start');
    const good = gateApproval(handle, s, bob);
    await handle.signal(gateDecisionSignal, { gate: 'start', verdict: 'approve', by: 'bob', digest, signed: good });
    const next = await gateOpen(handle, 'dns-cutover');
    expect(next.gates.find((g) => g.id === 'start')).toMatchObject({ state: 'approved', decidedBy: 'bob' });
    // A nonce counts once, even in a message that is otherwise right for the next gate.
    const nonce = good.message.match(/^nonce: (.*)$/m)![1]!;
    const reused = gateApproval(handle, next, carol, { nonce });
    expect(
      await refusal(
        handle.executeUpdate(gateDecisionUpdate, {
          args: [{ gate: 'dns-cutover', verdict: 'approve', by: 'carol', digest: next.pendingGate!.digest, signed: reused }],
        }),
      ),
    ).toContain(`reused nonce ${nonce}`);
    // The approval of the start gate replayed on the next gate.
    expect(
      await refusal(
        handle.executeUpdate(gateDecisionUpdate, {
          args: [{ gate: 'dns-cutover', verdict: 'approve', by: 'bob', digest: next.pendingGate!.digest, signed: good }],
        }),
      ),
    ).toContain('signed for gate start, not gate dns-cutover');
    await handle.cancel();
    expect((await handle.result()).phase).toBe('rolled-back');
    await recordHistory(temporal.env.client, handle.workflowId, 'signed-refusals');
  });

  it("a failed step is decided with a signature over that pause; meshmove's own signer (ECDSA) is accepted", async () => {
    const plan = signedPlan({ gates: { start: false, dnsCutover: false, decommission: false } });
    const handle = await startSigned(plan);
    cluster.current!.failNext('restartWorkloads', 'inventory');
    const child = temporal.env.client.workflow.getHandle(`${handle.workflowId}/ns/inventory`);
    const s = await waitForStatus(child, (x) => x.pendingDecision !== null);
    const d = s.pendingDecision!;
    expect(d.digest).toMatch(/^[0-9a-f]{64}$/);
    const signer = await loadSigner(bob.file, {});
    const sign = async (over: Partial<DecisionFields>) => {
      const message = decisionMessage({
        workflow: child.workflowId,
        kind: 'decision',
        target: 'restart',
        namespace: 'inventory',
        verdict: 'retry',
        digest: d.digest!,
        by: 'bob',
        reason: '',
        at: new Date().toISOString(),
        nonce: randomBytes(16).toString('hex'),
        ...over,
      });
      return { message, signature: await signer.sign(message) };
    };
    expect(
      await refusal(
        child.executeUpdate(operatorDecisionUpdate, {
          args: [{ step: 'restart', decision: 'retry', by: 'bob', signed: await sign({ namespace: 'payments' }) }],
        }),
      ),
    ).toContain('signed for namespace payments, not inventory');
    cluster.current!.fix('restartWorkloads', 'inventory');
    await child.executeUpdate(operatorDecisionUpdate, {
      args: [{ step: 'restart', decision: 'retry', by: 'bob', signed: await sign({}) }],
    });
    expect((await handle.result()).phase).toBe('completed');
    const st = await handle.query(statusQuery);
    expect(st.audit.filter((a) => a.accepted).map((a) => [`${a.by} ${a.action}`, a.namespace, a.signed?.key])).toEqual([
      ['bob decide retry restart', 'inventory', fp(bob)],
    ]);
  });

  it('an unsigned start, or one signed by a stranger, ends the run before anything runs', async () => {
    const plan = signedPlan();
    cluster.current = new FakeCluster(plan);
    const unsigned = await temporal.env.client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `signed-${randomUUID()}`,
      args: [{ plan, planDigest: 'x', startedBy: 'alice' }],
    });
    const err = await unsigned.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as Error).message).toContain('start refused: unsigned');
    const stranger = await startSigned(plan, mallory);
    const err2 = await stranger.result().catch((e: unknown) => e);
    expect(((err2 as WorkflowFailedError).cause as Error).message).toContain(`start refused: unknown key ${fp(mallory)}`);
    expect(cluster.current.calls).toEqual([]);
  });
});
