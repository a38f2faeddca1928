// The CLI contract on a real Temporal dev server (activities mocked at the boundary): exit codes,
// refusals with the workflow's reason, the audit trail, status --json, history for replay.
import { beforeAll, describe, expect, it } from 'vitest';
import { waitUntilNamed } from '../support/wait-until.js';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runStatus, whatWaits } from '../../client/runs.js';
import { FakeCluster, testPlan } from '../support/fake-activities.js';
import { useDevServerWorker } from '../support/temporal.js';
import { meshmove as runCli, type CliResult } from '../support/cli.js';
import { readFile } from 'node:fs/promises';
import { parseOpenSshPrivateKey } from '../../client/signing.js';
import { readdirSync, readFileSync } from 'node:fs';
import { HISTORY_DIR } from '../support/histories.js';
import { makeKey } from '../support/ssh-keys.js';

let planFile: string;
let badPlanFile: string;
let planDoc: Record<string, unknown>;
const cluster = new FakeCluster(testPlan());
// Everything the CLI printed in this file, to look for secrets in it.
const printed: string[] = [];
const meshmove = async (args: string[], env?: Record<string, string>): Promise<CliResult> => {
  const r = await runCli(args, env);
  printed.push(r.stdout, r.stderr);
  return r;
};

// Each person signs with their own key, made by ssh-keygen (alice ed25519, bob ECDSA, mallory not in the plan).
const keys = { alice: makeKey('alice', 'ed25519'), bob: makeKey('bob', 'ecdsa'), mallory: makeKey('mallory', 'ed25519') };
const as = (who: string) => ({
  TEMPORAL_ADDRESS: temporal.env.address,
  MESHMOVE_USER: who,
  MESHMOVE_SIGNING_KEY: keys[who as keyof typeof keys]?.file ?? '',
});

const temporal = useDevServerWorker(() => cluster.activities());

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshmove-cli-'));
  planFile = join(dir, 'plan.yaml');
  const plan = {
    apiVersion: 'meshmove.dev/v1alpha1',
    kind: 'MigrationPlan',
    metadata: { name: 'cli-test' },
    source: {
      revision: 'default',
      istiodNamespace: 'istio-system',
      gateway: { namespace: 'istio-system', service: 'istio-ingressgateway', selector: { istio: 'ingressgateway' } },
    },
    target: {
      revision: 'istio-1-16-5',
      istiodNamespace: 'istio-1-16-5',
      discoveryLabels: { usergroup: 'istio-1-16-5' },
      gateway: { namespace: 'istio-1-16-5', service: 'istio-ingressgateway', selector: { istio: 'oss' } },
    },
    waves: [
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'rest', concurrency: 2, namespaces: ['payments', 'orders', 'frontend'] },
    ],
    approvers: [
      { name: 'alice', keys: [keys.alice.publicKey] },
      { name: 'bob', keys: [keys.bob.publicKey] },
    ],
    dns: {
      provider: { type: 'webhook', url: 'http://127.0.0.1:1/dns', secretEnv: 'DNS_SECRET' },
      resolvers: ['127.0.0.1:53'],
      ttl: '1s',
      stabilityWindow: '1s',
      records: [{ name: 'shop.y7test.com' }],
    },
    backup: { location: join(dir, 'backups') },
  };
  await writeFile(planFile, stringify(plan));
  planDoc = plan;
  badPlanFile = join(dir, 'bad.yaml');
  await writeFile(badPlanFile, stringify({ ...plan, waves: [{ name: 'w', concurrency: 0, namespaces: ['Bad_NS'] }], approvers: 'alice' }));
});

describe('meshmove CLI on a real Temporal server', () => {
  it('refuses a bad plan with every problem, exit 2, and starts nothing', async () => {
    const r = await meshmove(['start', badPlanFile, '--id', 'never-started'], as('alice'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('waves[0].concurrency');
    expect(r.stderr).toContain('waves[0].namespaces[0]');
    expect(r.stderr).toContain('approvers');
    const s = await meshmove(['status', 'never-started'], as('alice'));
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('no meshmove run with id "never-started"');
  });

  it('start → approvals with refusals → completed, with the audit trail', async () => {
    const started = await meshmove(['start', planFile, '--id', 'cli-run-1', '--json'], as('alice'));
    expect(started.code).toBe(0);
    expect(JSON.parse(started.stdout)).toEqual({ workflowId: 'cli-run-1', searchAttributes: true });

    const status = async () =>
      JSON.parse((await meshmove(['status', 'cli-run-1', '--json'], as('bob'))).stdout) as {
        phase: string;
        pendingGate: { id: string; digest: string } | null;
        audit: { by: string; accepted: boolean; action: string; reason?: string }[];
      };
    // A status command that fails is a finding: waitUntilNamed stops at once.
    const gate = (id: string) =>
      waitUntilNamed(
        `gate ${id} to open`,
        async () => {
          const s = await status();
          return s.pendingGate?.id === id && s.pendingGate;
        },
        { timeout: 20_000, interval: 200 },
      );
    const start = await gate('start');

    const stranger = await meshmove(['approve', 'cli-run-1', 'start'], as('mallory'));
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('mallory is not an approver');
    const starter = await meshmove(['approve', 'cli-run-1', 'start'], as('alice'));
    expect(starter.code).toBe(1);
    expect(starter.stderr).toContain('four-eyes');
    const stale = await meshmove(['approve', 'cli-run-1', 'start', '--digest', 'ffffffffffffffff'], as('bob'));
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('stale approval');
    const unknown = await meshmove(['approve', 'cli-run-1', 'decommission'], as('bob'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown gate "decommission"');

    const ok = await meshmove(['approve', 'cli-run-1', 'start', '--digest', start.digest, '--comment', 'change window 42'], as('bob'));
    expect(ok.code).toBe(0);
    const again = await meshmove(['approve', 'cli-run-1', 'start'], as('bob'));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not open');

    await gate('dns-cutover');
    expect((await meshmove(['approve', 'cli-run-1', 'dns-cutover'], as('bob'))).code).toBe(0);
    await gate('decommission');
    expect((await meshmove(['approve', 'cli-run-1', 'decommission'], as('bob'))).code).toBe(0);
    const final = await waitUntilNamed(
      'the run to complete',
      async () => {
        const s = await status();
        return s.phase === 'completed' && s;
      },
      { timeout: 20_000, interval: 200 },
    );
    // Refusals are in the audit trail with their reasons, next to the decisions.
    const refused = final.audit.filter((a) => !a.accepted).map((a) => a.by);
    expect(refused).toEqual(['mallory', 'alice', 'bob', 'bob', 'bob']);
    expect(final.audit.filter((a) => a.accepted).map((a) => `${a.by} ${a.action}`)).toEqual([
      'bob approve start',
      'bob approve dns-cutover',
      'bob approve decommission',
    ]);
    expect(final.audit.find((a) => a.accepted)?.reason).toBe('change window 42');

    const human = await meshmove(['status', 'cli-run-1'], as('bob'));
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('phase: completed');
    expect(human.stdout).toMatch(/✓ gate start: approved by bob/);

    const history = await meshmove(['history', 'cli-run-1'], as('bob'));
    expect(history.code).toBe(0);
    expect(JSON.parse(history.stdout).events.length).toBeGreaterThan(20);

    const list = await meshmove(['list', '--json'], as('bob'));
    expect(list.code).toBe(0);
  }, 400_000);

  it('decide and rollback: refusals exit 1, an unknown run exits 2', async () => {
    expect((await meshmove(['decide', 'cli-run-1', 'retry'], as('bob'))).code).toBe(1);
    expect((await meshmove(['decide', 'cli-run-1', 'maybe'], as('bob'))).code).toBe(2);
    expect((await meshmove(['rollback', 'nope', '--reason', 'x'], as('bob'))).code).toBe(2);
    const ended = await meshmove(['rollback', 'cli-run-1', '--reason', 'too late'], as('bob'));
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain('the run has ended (completed)');
  }, 300_000);

  it("decide --k8s-namespace answers one of two namespaces waiting; --namespace after decide is refused, not taken for Temporal's", async () => {
    const file = join(tmpdir(), `meshmove-cli-decide-ns-${process.pid}.yaml`);
    await writeFile(
      file,
      stringify({
        ...planDoc,
        metadata: { name: 'cli-decide-ns' },
        gates: { start: false, dnsCutover: false, decommission: false },
        waves: [{ name: 'both', concurrency: 2, namespaces: ['payments', 'orders'] }],
      }),
    );
    const id = 'cli-decide-ns';
    cluster.failNext('verifyTraffic', 'payments');
    cluster.failNext('verifyTraffic', 'orders');
    const waiting = async () =>
      (await whatWaits(temporal.env.client, await runStatus(temporal.env.client, id))).decisions.map((d) => d.namespace).sort();
    const until = (what: string, ok: () => Promise<boolean>) => waitUntilNamed(what, ok, { timeout: 60_000, interval: 200 });
    try {
      expect((await meshmove(['start', file, '--id', id], as('alice'))).code).toBe(0);
      await until('both namespaces to wait for a decision', async () => (await waiting().catch(() => [])).length === 2);

      // Two wait: the CLI says which option picks one, and status shows the command for each.
      const which = await meshmove(['decide', id, 'retry'], as('bob'));
      expect(which.code).toBe(2);
      expect(which.stderr).toContain('--k8s-namespace payments');
      expect(which.stderr).toContain('--k8s-namespace orders');
      const human = await meshmove(['status', id], as('bob'));
      expect(human.stdout).toContain(`meshmove decide ${id} retry|skip|rollback|abort --k8s-namespace orders`);
      expect(human.stdout).not.toMatch(/decide .* --namespace /);

      // kubectl's habit: refused as ambiguous (bad input), before anything is looked up or changed.
      const ambiguous = await meshmove(['decide', id, 'retry', '--namespace', 'orders'], as('bob'));
      expect(ambiguous.code).toBe(2);
      expect(ambiguous.stderr).toContain('Temporal namespace');
      expect(ambiguous.stderr).toContain('--k8s-namespace orders');
      const ambiguousEq = await meshmove(['decide', id, 'retry', '--reason', 'x', '--namespace=orders'], as('bob'));
      expect(ambiguousEq.code).toBe(2);
      expect(ambiguousEq.stderr).toContain('--k8s-namespace orders');
      expect(await waiting()).toEqual(['orders', 'payments']);

      // The Temporal namespace still goes before the command, next to --k8s-namespace.
      cluster.fix('verifyTraffic', 'orders');
      const retried = await meshmove(['--namespace', 'default', 'decide', id, 'retry', '--k8s-namespace', 'orders'], as('bob'));
      expect(retried.stderr).toBe('');
      expect(retried.code).toBe(0);
      expect(retried.stdout).toContain('retry for step verify-traffic in orders as bob');
      await until(
        'orders to be migrated',
        async () => (await runStatus(temporal.env.client, id)).namespaces.find((n) => n.name === 'orders')?.state === 'migrated',
      );
      expect(await waiting()).toEqual(['payments']);

      const skipped = await meshmove(
        ['decide', id, 'skip', '--k8s-namespace=payments', '--reason', 'probe target under maintenance'],
        as('bob'),
      );
      expect(skipped.code).toBe(0);
      await until('the run to complete', async () => (await runStatus(temporal.env.client, id)).phase === 'completed');

      const help = await meshmove(['decide', '--help']);
      expect(help.stdout).toContain('--k8s-namespace <ns>');
    } finally {
      cluster.fix('verifyTraffic', 'payments');
      cluster.fix('verifyTraffic', 'orders');
    }
  }, 300_000);

  it('start under the id of a run that exists, ended or running, is refused with its state and how to see it', async () => {
    const ended = await meshmove(['start', planFile, '--id', 'cli-run-1'], as('alice'));
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain('refused: a run with id "cli-run-1" already exists (COMPLETED, phase completed, started by alice');
    expect(ended.stderr).toContain('meshmove status cli-run-1');
    expect((await meshmove(['start', planFile, '--id', 'cli-running'], as('alice'))).code).toBe(0);
    const running = await meshmove(['start', planFile, '--id', 'cli-running'], as('alice'));
    expect(running.code).toBe(1);
    expect(running.stderr).toContain('already exists (RUNNING');
    await temporal.env.client.workflow.getHandle('cli-running').terminate('test over');
  }, 120_000);

  it('audit verify: every decision of a run verifies offline; a tampered history fails naming the entry', async () => {
    const byId = await meshmove(['audit', 'verify', 'cli-run-1'], as('bob'));
    expect(byId.code).toBe(0);
    expect(byId.stdout).toContain('every decision verifies (4)');
    expect(byId.stdout).toMatch(/✓ event 1 \(start\): \S+ {2}alice {2}start/);
    const dir = await mkdtemp(join(tmpdir(), 'meshmove-audit-'));
    const history = await meshmove(['history', 'cli-run-1'], as('bob'));
    const file = join(dir, 'history.json');
    await writeFile(file, history.stdout);
    const offline = await meshmove(['audit', 'verify', file, '--plan', planFile]);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/✓ event \d+ \(update gateDecision\): \S+ {2}bob {2}approve dns-cutover, against digest/);
    // Someone edits the record: the dns-cutover approval now claims another summary.
    const doc = JSON.parse(history.stdout) as {
      events: {
        eventId: string;
        workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest: { input: { args: { payloads: { data: string }[] } } } };
      }[];
    };
    const ev = doc.events.find((e) => {
      const p = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest.input.args.payloads[0];
      return p && (JSON.parse(Buffer.from(p.data, 'base64').toString()) as { gate: string }).gate === 'dns-cutover';
    })!;
    const payload = ev.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest.input.args.payloads[0]!;
    const req = JSON.parse(Buffer.from(payload.data, 'base64').toString()) as { by: string };
    payload.data = Buffer.from(JSON.stringify({ ...req, by: 'alice' })).toString('base64');
    const tampered = join(dir, 'tampered.json');
    await writeFile(tampered, JSON.stringify(doc));
    const bad = await meshmove(['audit', 'verify', tampered]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`✗ event ${ev.eventId} (update gateDecision): the key`);
    expect(bad.stdout).toContain('1 entry does not verify');
  }, 120_000);

  it('no private key material in histories or in what the CLI printed', async () => {
    const history = (await meshmove(['history', 'cli-run-1'], as('bob'))).stdout;
    const fixtures = readdirSync(HISTORY_DIR).map((f) => readFileSync(join(HISTORY_DIR, f), 'utf8'));
    const decoded = (text: string) =>
      [...text.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('latin1')).join('\n');
    const haystacks = [history, decoded(history), ...fixtures, ...fixtures.map(decoded), printed.join('\n')];
    for (const key of Object.values(keys)) {
      // The secret itself (ed25519 seed, ECDSA scalar), in every form it could be written.
      const d = Buffer.from(
        parseOpenSshPrivateKey(await readFile(key.file, 'utf8'), key.file).privateKey.export({ format: 'jwk' }).d!,
        'base64url',
      );
      const forms = [d.toString('hex'), d.toString('base64').replace(/=+$/, ''), d.toString('base64url'), d.toString('latin1')];
      for (const h of haystacks) {
        expect(h).not.toContain('PRIVATE KEY');
        for (const form of forms) expect(h.includes(form), `${key.name}'s private key`).toBe(false);
      }
    }
    // The public keys and signatures do travel.
    expect(decoded(history)).toContain('BEGIN SSH SIGNATURE');
  }, 60_000);
});
