// Issue 13, items 4 and 5 on real Temporal dev servers (activities faked at the boundary, the notify
// activity real): runs are findable by what waits for a person (the Temporal CLI's visibility query
// and `meshmove list --waiting/--phase`), a server without the search attributes still runs them
// (start prints how to register them), and signed webhooks carry the exact commands to answer,
// without ever holding the run up.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { migrationWorkflow } from '../../workflows/migration.js';
import { TASK_QUEUE, gateDecisionUpdate, type RunStatus } from '../../workflows/messages.js';
import { notify } from '../../activities/notify/index.js';
import { verifySignature } from '../../activities/notify/signature.js';
import type { NotifyEvent, RunRef } from '../../activities/contract.js';
import { FakeCluster, dispatchingActivities, testPlan } from '../support/fake-activities.js';
import { startDevServer, temporalCliPath, waitForStatus, workflowBundle } from '../support/temporal.js';
import { meshmove } from '../support/cli.js';
import { recordHistory } from '../support/histories.js';
import type { PlanInput } from '../../plan/schema.js';

const SECRET = 'webhook-secret-for-tests';
const run = promisify(execFile);

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** null when the signature verifies, else why not. */
  bad: string | null;
  json: Record<string, unknown>;
}

/** A local webhook receiver: `/ok/*` answers 204, `/fail/*` 500, `/hang/*` never. Every request is checked. */
async function receiver(): Promise<{ url: string; got: Received[]; stillHanging(): number; close(): Promise<void> }> {
  const got: Received[] = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const bad = verifySignature(
        SECRET,
        req.headers['x-meshmove-timestamp'] as string | undefined,
        body,
        req.headers['x-meshmove-signature'] as string | undefined,
      );
      got.push({ path: req.url ?? '', headers: req.headers, body, bad, json: JSON.parse(body) as Record<string, unknown> });
      if (req.url?.startsWith('/fail')) res.writeHead(500).end('receiver down');
      else if (req.url?.startsWith('/hang'))
        hanging.push(res); // held open: neither answered nor closed by us
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    // Requests held open whose sender has not given up (closed the connection) yet.
    stillHanging: () => hanging.filter((res) => !res.socket?.destroyed).length,
    close: () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The JSON payloads of one event delivered to a path (the slack payload has no `event`: by header). */
function delivered(got: Received[], path: string, event: NotifyEvent['event']): Received[] {
  return got.filter((g) => g.path === path && g.headers['x-meshmove-event'] === event);
}

/** The first delivery of `event` to `path` that `match` accepts, once it arrives (within 20 s); a timeout names `what`. */
function deliveredOnce(
  got: Received[],
  what: string,
  path: string,
  event: NotifyEvent['event'],
  match: (g: Received) => boolean = () => true,
): Promise<Received> {
  return vi.waitFor(
    () => {
      const found = delivered(got, path, event).find(match);
      expect(found, what).toBeDefined();
      return found!;
    },
    { timeout: 20_000 },
  );
}

function planDoc(name: string, hook: string, overrides: Partial<PlanInput> = {}): PlanInput {
  const base = testPlan();
  return {
    apiVersion: 'meshmove.dev/v1alpha1',
    kind: 'MigrationPlan',
    metadata: { name },
    source: base.source,
    target: base.target,
    waves: [
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'rest', concurrency: 2, namespaces: ['payments'] },
    ],
    identity: 'unverified',
    approvers: ['alice', 'bob'],
    dns: {
      provider: { type: 'webhook', url: 'http://127.0.0.1:1/dns', secretEnv: 'DNS_SECRET' },
      resolvers: ['127.0.0.1:53'],
      ttl: '1s',
      stabilityWindow: '1s',
      records: [{ name: 'shop.y7test.com' }],
    },
    backup: { location: '/tmp/meshmove-test-backups' },
    gates: { start: true, dnsCutover: false, decommission: false },
    notify: {
      webhooks: [
        { name: 'ops-json', url: `${hook}/ok/json`, format: 'json', secretEnv: 'MESHMOVE_TEST_HOOK_SECRET' },
        {
          name: 'ops-slack',
          url: `${hook}/ok/slack`,
          format: 'slack',
          secretEnv: 'MESHMOVE_TEST_HOOK_SECRET',
          events: ['gate-opened', 'run-ended'],
        },
      ],
    },
    ...overrides,
  };
}

async function writePlan(doc: PlanInput): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshmove-observe-'));
  const file = join(dir, 'plan.yaml');
  await writeFile(file, stringify(doc));
  return file;
}

/** `temporal workflow list --query ...` against a dev server: the workflow ids it prints. */
async function temporalList(address: string, query: string): Promise<string> {
  const { stdout } = await run(temporalCliPath(), [
    'workflow',
    'list',
    '--address',
    address,
    '--namespace',
    'default',
    '--query',
    query,
    '--output',
    'json',
  ]);
  return stdout;
}

/** Run an exact command a notification carried (no shell: its words, quotes stripped). */
function words(command: string): string[] {
  const parts = command.match(/"[^"]*"|\S+/g) ?? [];
  expect(parts[0]).toBe('meshmove');
  return parts.slice(1).map((p) => p.replace(/^"(.*)"$/, '$1'));
}

let cluster: FakeCluster;
/** Runs whose mesh verification is held until the test lets it go (a run that is busy, not waiting). */
const held = new Map<string, { release(): void; promise: Promise<void> }>();
function hold(migrationId: string): () => void {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  held.set(migrationId, { release, promise });
  return () => {
    release();
    held.delete(migrationId);
  };
}

describe('searchable runs and notifications (search attributes registered)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let hook: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    env = await startDevServer();
    hook = await receiver();
    cluster = new FakeCluster(testPlan());
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: await workflowBundle(),
      activities: {
        ...dispatchingActivities(() => cluster),
        verifyMesh: async (input: RunRef) => {
          await held.get(input.migrationId)?.promise;
          return cluster.activities().verifyMesh(input);
        },
        notify: (input: Parameters<typeof notify>[1]) => notify({ env: { MESHMOVE_TEST_HOOK_SECRET: SECRET } }, input),
      },
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await hook?.close();
    await env?.teardown();
  });

  it('list --waiting and the Temporal CLI find a run waiting at a gate or a decision, not a busy or finished one; webhooks carry signed, exact commands', async () => {
    const as = (who: string) => ({ TEMPORAL_ADDRESS: env.address, MESHMOVE_USER: who });
    const x = `obs-x-${randomUUID().slice(0, 8)}`;
    const y = `obs-y-${randomUUID().slice(0, 8)}`;
    cluster.failNext('backup', undefined, 1);

    // 1. Started by the CLI: the namespace has the attributes, so no registration hint.
    const started = await meshmove(['start', await writePlan(planDoc('observe-x', hook.url)), '--id', x, '--json'], as('alice'));
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).not.toContain('search-attribute create');
    expect(JSON.parse(started.stdout)).toMatchObject({ workflowId: x, searchAttributes: true });
    const hx = env.client.workflow.getHandle(x);

    // 2. The backup fails and waits for a decision: findable, and the webhook says how to decide.
    await waitForStatus(hx, (s) => s.pendingDecision?.step === 'backup');
    const waitingDecision = await vi.waitFor(
      async () => {
        const r = await meshmove(['list', '--waiting', '--json'], as('alice'));
        const rows = JSON.parse(r.stdout) as { workflowId: string; waiting?: string }[];
        const found = rows.find((row) => row.workflowId === x && row.waiting === 'decision:backup');
        expect(found, 'list --waiting shows the decision').toBeDefined();
        return found!;
      },
      { timeout: 20_000, interval: 300 },
    );
    expect(waitingDecision).toMatchObject({ phase: 'preflight', plan: 'observe-x' });
    const decisionHook = await deliveredOnce(hook.got, 'decision-needed delivered', '/ok/json', 'decision-needed');
    expect(decisionHook.bad).toBeNull();
    expect(decisionHook.json).toMatchObject({
      event: 'decision-needed',
      migrationId: x,
      step: 'backup',
      allowed: ['retry', 'skip', 'rollback', 'abort'],
    });
    expect(String(decisionHook.json.error)).toContain('injected failure of backup');
    const retry = (decisionHook.json.commands as string[]).find((c) => c.includes(' retry'))!;
    expect(retry).toBe(`meshmove decide ${x} retry --step backup`);
    expect(delivered(hook.got, '/ok/slack', 'decision-needed')).toEqual([]); // not among that webhook's events
    const decided = await meshmove(words(retry), as('bob'));
    expect(decided.code, decided.stderr).toBe(0);

    // 3. The start gate opens: the Temporal CLI's own query finds it, and so does list --waiting.
    const atGate = await waitForStatus(hx, (s) => s.pendingGate?.id === 'start');
    await expect
      .poll(async () => (await temporalList(env.address, "MeshmovePendingGate = 'start'")).includes(x), {
        timeout: 20_000,
        interval: 300,
        message: 'the Temporal CLI finds the run at its gate',
      })
      .toBe(true);
    const gateJson = await deliveredOnce(hook.got, 'gate-opened delivered (json)', '/ok/json', 'gate-opened');
    const gateSlack = await deliveredOnce(hook.got, 'gate-opened delivered (slack)', '/ok/slack', 'gate-opened');
    expect(gateJson.bad).toBeNull();
    expect(gateSlack.bad).toBeNull();
    expect(gateJson.json).toMatchObject({
      version: 1,
      event: 'gate-opened',
      gate: 'start',
      digest: atGate.pendingGate!.digest,
      plan: 'observe-x',
    });
    const approve = `meshmove approve ${x} start --digest ${atGate.pendingGate!.digest}`;
    expect(gateJson.json.commands).toEqual([approve, `meshmove reject ${x} start --reason "WHY"`]);
    // Slack: an incoming-webhook message, with the command in it.
    expect(typeof gateSlack.json.text).toBe('string');
    expect(JSON.stringify(gateSlack.json.blocks)).toContain(approve);
    expect(gateSlack.headers['x-meshmove-delivery']).toBe(gateJson.headers['x-meshmove-delivery']);
    // A tampered body or another secret does not verify.
    expect(
      verifySignature(
        'another-secret',
        gateJson.headers['x-meshmove-timestamp'] as string,
        gateJson.body,
        gateJson.headers['x-meshmove-signature'] as string,
      ),
    ).toBe('signature mismatch');
    expect(
      verifySignature(
        SECRET,
        gateJson.headers['x-meshmove-timestamp'] as string,
        `${gateJson.body} `,
        gateJson.headers['x-meshmove-signature'] as string,
      ),
    ).toBe('signature mismatch');

    // 4. Meanwhile a second run is busy (no gate, a slow mesh verification): running, not waiting.
    const releaseY = hold(y);
    const busy = await meshmove(
      [
        'start',
        await writePlan(
          planDoc('observe-y', hook.url, { gates: { start: false, dnsCutover: false, decommission: false }, notify: undefined }),
        ),
        '--id',
        y,
      ],
      as('alice'),
    );
    expect(busy.code, busy.stderr).toBe(0);
    await waitForStatus(env.client.workflow.getHandle(y), (s) => s.phase === 'verifying' && s.currentStep === 'verify-mesh', 30_000);
    await expect
      .poll(async () => (await temporalList(env.address, "MeshmovePhase = 'verifying'")).includes(y), {
        timeout: 20_000,
        interval: 300,
        message: 'visibility sees the busy run verifying',
      })
      .toBe(true);
    const waitingNow = await temporalList(env.address, 'MeshmovePendingGate IS NOT NULL');
    expect(waitingNow).toContain(x);
    expect(waitingNow).not.toContain(y);
    const listed = await meshmove(['list', '--waiting'], as('alice'));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout, listed.stdout).toContain(`${x}  RUNNING  awaiting-start`);
    expect(listed.stdout).toContain('waiting: start');
    expect(listed.stdout).not.toContain(y);
    const verifying = JSON.parse((await meshmove(['list', '--phase', 'verifying', '--json'], as('alice'))).stdout) as {
      workflowId: string;
    }[];
    expect(verifying.map((r) => r.workflowId)).toContain(y);
    expect(verifying.map((r) => r.workflowId)).not.toContain(x);
    releaseY();

    // 5. The exact approve command of the notification, as another approver (the first namespace will fail once).
    cluster.failNext('restartWorkloads', 'inventory', 1);
    const approved = await meshmove(words(approve), as('bob'));
    expect(approved.code, approved.stderr).toBe(0);

    // 6. A namespace's failed step waits in its child workflow: listed under the run, with the namespace.
    const nsWait = await vi.waitFor(
      async () => {
        const rows = JSON.parse((await meshmove(['list', '--waiting', '--json'], as('alice'))).stdout) as {
          workflowId: string;
          waiting?: string;
          namespace?: string;
        }[];
        const found = rows.find((row) => row.workflowId === x && row.waiting === 'decision:restart');
        expect(found, 'list --waiting shows the namespace decision').toBeDefined();
        return found!;
      },
      { timeout: 30_000, interval: 300 },
    );
    expect(nsWait).toMatchObject({ namespace: 'inventory', waitingIn: `${x}/ns/inventory` });
    const nsHook = await deliveredOnce(
      hook.got,
      'namespace decision-needed delivered',
      '/ok/json',
      'decision-needed',
      (g) => g.json.step === 'restart',
    );
    expect(nsHook.bad).toBeNull();
    expect(nsHook.json).toMatchObject({ migrationId: x, workflowId: `${x}/ns/inventory`, namespace: 'inventory' });
    const nsRetry = (nsHook.json.commands as string[]).find((c) => c.includes(' retry'))!;
    expect(nsRetry).toBe(`meshmove decide ${x} retry --k8s-namespace inventory --step restart`);
    const nsDecided = await meshmove(words(nsRetry), as('bob'));
    expect(nsDecided.code, nsDecided.stderr).toBe(0);

    // 7. Both runs end: nothing of them waits; phases are final; run-ended told the webhooks.
    const result = await hx.result();
    expect(result.phase).toBe('completed');
    await env.client.workflow.getHandle(y).result();
    const ended = await deliveredOnce(hook.got, 'run-ended delivered', '/ok/json', 'run-ended');
    expect(ended.bad).toBeNull();
    expect(ended.json).toMatchObject({
      event: 'run-ended',
      migrationId: x,
      outcome: 'completed',
      phase: 'completed',
      commands: [`meshmove status ${x}`],
    });
    expect(delivered(hook.got, '/ok/slack', 'run-ended')).toHaveLength(1);
    await expect
      .poll(
        async () => {
          const done = await temporalList(env.address, "MeshmovePhase = 'completed'");
          return done.includes(x) && done.includes(y);
        },
        { timeout: 20_000, interval: 300, message: 'visibility sees both runs completed' },
      )
      .toBe(true);
    const after = await temporalList(env.address, 'MeshmovePendingGate IS NOT NULL');
    expect(after).not.toContain(x);
    const waitingAfter = JSON.parse((await meshmove(['list', '--waiting', '--json'], as('alice'))).stdout) as { workflowId: string }[];
    expect(waitingAfter.map((r) => r.workflowId)).not.toContain(x);
    // No signature failed, and no secret went into the history.
    expect(hook.got.filter((g) => g.bad !== null)).toEqual([]);
    expect(JSON.stringify(await hx.fetchHistory())).not.toContain(SECRET);
    // Upserts and notifications replay (and are kept as fixtures with MESHMOVE_RECORD_HISTORIES=1).
    await recordHistory(env.client, x, 'searchable-notify');
    await recordHistory(env.client, `${x}/ns/inventory`, 'searchable-notify-namespace');
  }, 180_000);

  it('a receiver that fails or hangs, and a worker without the secret, do not hold the run up; attempts are bounded', async () => {
    const id = `obs-fail-${randomUUID().slice(0, 8)}`;
    cluster = new FakeCluster(testPlan());
    const plan = testPlan({
      metadata: { name: 'observe-fail' },
      gates: { start: true, dnsCutover: false, decommission: false },
      notify: {
        webhooks: [
          { name: 'down', url: `${hook.url}/fail/a`, format: 'json', secretEnv: 'MESHMOVE_TEST_HOOK_SECRET' },
          { name: 'stuck', url: `${hook.url}/hang/b`, format: 'slack', secretEnv: 'MESHMOVE_TEST_HOOK_SECRET' },
          { name: 'no-secret', url: `${hook.url}/ok/c`, format: 'json', secretEnv: 'MESHMOVE_TEST_NOT_SET' },
        ],
      },
    });
    const handle = await env.client.workflow.start(migrationWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      // A request may take 60 s: a run that waited for its notifications would wait that long for the hanging receiver.
      args: [
        {
          plan,
          planDigest: 'test',
          startedBy: 'alice',
          searchAttributes: true,
          options: { heartbeatTimeoutMs: 5_000, notify: { timeoutMs: 60_000, attempts: 3, endWaitMs: 2_000 } },
        },
      ],
    });
    // The gate is open, and answerable, while the notification of its opening hangs at one receiver
    // and fails at the others: once those gave up (bounded attempts), the failures are in the run's
    // audit trail, the missing secret named.
    const s = await waitForStatus(handle, (st) => st.pendingGate?.id === 'start');
    await expect
      .poll(async () => delivered(hook.got, '/hang/b', 'gate-opened').length === 1, {
        timeout: 15_000,
        message: 'the hanging receiver holds the gate-opened request',
      })
      .toBe(true);
    const notifyFailures = (st: RunStatus) => st.audit.filter((a) => a.action.startsWith('notify gate-opened') && !a.accepted);
    const failed = await waitForStatus(handle, (st) => notifyFailures(st).length === 2, 30_000);
    expect(failed.pendingGate?.id).toBe('start');
    const refused = notifyFailures(failed);
    expect(refused.map((a) => a.action).sort()).toEqual(['notify gate-opened via down', 'notify gate-opened via no-secret']);
    expect(refused.find((a) => a.action === 'notify gate-opened via no-secret')?.reason).toContain('MESHMOVE_TEST_NOT_SET');
    expect(refused.find((a) => a.action === 'notify gate-opened via down')?.reason).toContain('answered 500: receiver down');
    // Its failure is recorded after its last attempt: exactly the three the policy allows.
    expect(delivered(hook.got, '/fail/a', 'gate-opened')).toHaveLength(3);
    expect(delivered(hook.got, '/ok/c', 'gate-opened')).toEqual([]); // never sent unsigned
    await handle.executeUpdate(gateDecisionUpdate, {
      args: [{ gate: 'start', verdict: 'approve', by: 'bob', digest: s.pendingGate!.digest }],
    });
    // The run completes while the hanging receiver still holds its requests (each may take 60 s):
    // its end waited for the run-ended notifications 2 s at most, and nothing else waited for them.
    const result = await handle.result();
    expect(result.phase).toBe('completed');
    expect(hook.stillHanging()).toBeGreaterThanOrEqual(1);
    expect(delivered(hook.got, '/hang/b', 'gate-opened')).toHaveLength(1);
    expect(delivered(hook.got, '/fail/a', 'run-ended').length).toBeGreaterThanOrEqual(1);
    expect(hook.got.filter((g) => g.bad !== null)).toEqual([]);
    // No failed workflow task on the way.
    const history = await handle.fetchHistory();
    expect((history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
  }, 120_000);
});

describe('a Temporal server without the search attributes', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;

  beforeAll(async () => {
    env = await startDevServer({ searchAttributes: false });
    cluster = new FakeCluster(testPlan());
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: await workflowBundle(),
      activities: dispatchingActivities(() => cluster),
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  it('start prints how to register them and the run completes without them; list --waiting says how to register them', async () => {
    const as = { TEMPORAL_ADDRESS: env.address, MESHMOVE_USER: 'alice' };
    const id = `obs-plain-${randomUUID().slice(0, 8)}`;
    const file = await writePlan(
      planDoc('observe-plain', 'http://127.0.0.1:1', {
        gates: { start: false, dnsCutover: false, decommission: false },
        notify: undefined,
      }),
    );
    const started = await meshmove(['start', file, '--id', id], as);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toContain(
      'temporal operator search-attribute create --namespace default --name MeshmovePlan --type Keyword --name MeshmovePhase --type Keyword --name MeshmovePendingGate --type Keyword --name MeshmoveCluster --type Keyword',
    );
    expect(started.stderr.match(/search-attribute create/g)).toHaveLength(1);
    const handle = env.client.workflow.getHandle(id);
    expect((await handle.result()).phase).toBe('completed');
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    // (patched() keeps its own TemporalChangeVersion; none of ours)
    expect(
      events.filter((e) =>
        Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}).some((k) =>
          k.startsWith('Meshmove'),
        ),
      ),
    ).toEqual([]);
    const listed = await meshmove(['list', '--waiting'], as);
    expect(listed.code).not.toBe(0);
    expect(listed.stderr).toContain('temporal operator search-attribute create');
    // Listing everything still works.
    const all = await meshmove(['list'], as);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(id);
    // The printed command, run as printed with the Temporal CLI, registers all four.
    const line = started.stderr.split('\n').find((l) => l.includes('search-attribute create'))!;
    const [, ...args] = line.slice(line.indexOf('temporal operator')).trim().split(/\s+/);
    execFileSync(temporalCliPath(), [...args, '--address', env.address], { stdio: 'pipe' });
    const registered = execFileSync(
      temporalCliPath(),
      ['operator', 'search-attribute', 'list', '--namespace', 'default', '--address', env.address],
      {
        encoding: 'utf8',
      },
    );
    for (const name of ['MeshmovePlan', 'MeshmovePhase', 'MeshmovePendingGate', 'MeshmoveCluster']) expect(registered).toContain(name);
    const waiting = await meshmove(['list', '--waiting'], as);
    expect(waiting.code, waiting.stderr).toBe(0);
  }, 120_000);
});
