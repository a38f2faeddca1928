// plan.notify validation, the webhook signature a receiver checks, the two payload shapes, and the
// notify activity's answers to a missing secret and to a receiver's refusal (no Temporal needed).
import { describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { PlanError } from '../../plan/load.js';
import { testPlan } from '../support/fake-activities.js';
import type { PlanInput } from '../../plan/schema.js';
import { deliver, notificationBody } from '../../activities/notify/index.js';
import { signBody, verifySignature } from '../../activities/notify/signature.js';
import { slackPayload } from '../../activities/notify/format.js';
import type { NotifyEvent } from '../../activities/contract.js';
import { decisionCommands, gateCommands } from '../../workflows/observe.js';
import { registerSearchAttributesCommand } from '../../workflows/search-attributes.js';

/** The problems validation finds in the engine tests' plan with these changes (none: []). */
function problems(overrides: Partial<PlanInput>): { path: string; message: string }[] {
  try {
    testPlan(overrides);
  } catch (err) {
    if (err instanceof PlanError) return err.problems;
    throw err;
  }
  return [];
}

const event: NotifyEvent = {
  event: 'gate-opened',
  deliveryId: 'run-1/gate/start/2026-01-01T00:00:00.000Z',
  at: '2026-01-01T00:00:00.000Z',
  migrationId: 'run-1',
  workflowId: 'run-1',
  temporalNamespace: 'default',
  plan: 'p',
  cluster: 'current-context',
  phase: 'awaiting-start',
  summary: 'Gate "start" waits for approval: Move 2 namespace(s)',
  details: ['wave 1 "w1": a, b'],
  gate: 'start',
  digest: 'abc123',
  expiresAt: '2026-01-02T00:00:00.000Z',
  commands: gateCommands('default', 'run-1', 'start', 'abc123'),
};

describe('notify', () => {
  it('plan.notify: valid webhooks normalized; each mistake named at its field with the fix', () => {
    const plan = testPlan({
      notify: {
        webhooks: [
          { name: 'ops', url: 'https://hooks.slack.com/services/T/B/X', format: 'slack', secretEnv: 'SLACK_HOOK_SECRET' },
          { name: 'local', url: 'http://127.0.0.1:8080/hook', secretEnv: 'LOCAL_SECRET', events: ['run-ended'] },
        ],
      },
    });
    expect(plan.notify?.webhooks[1]).toEqual({
      name: 'local',
      url: 'http://127.0.0.1:8080/hook',
      format: 'json',
      secretEnv: 'LOCAL_SECRET',
      events: ['run-ended'],
    });
    expect(testPlan().notify).toBeUndefined();
    // Wrong on purpose: what a person may write, not what the types allow.
    const found = problems({
      notify: {
        webhooks: [
          { name: 'Ops Channel', url: 'http://hooks.example.com/x', format: 'teams', secretEnv: 'lower', events: ['gate-closed'] },
          { name: 'b', url: 'ftp://example.com', secretEnv: 'B', extra: 1 },
          { name: 'b', url: 'not a url', secretEnv: 'B' },
        ],
      },
    } as unknown as Partial<PlanInput>);
    const at = (path: string) => found.find((p) => p.path === path)?.message ?? `nothing at ${path}: ${JSON.stringify(found)}`;
    expect(at('notify.webhooks[0].name')).toContain('lower-case letters, digits and "-"');
    expect(at('notify.webhooks[0].url')).toContain(
      'http:// only to this machine (localhost, 127.0.0.1, [::1]); use https:// for hooks.example.com',
    );
    expect(at('notify.webhooks[0].format')).toContain('"slack" (an incoming-webhook payload');
    expect(at('notify.webhooks[0].secretEnv')).toContain('the NAME of an environment variable');
    expect(at('notify.webhooks[0].events[0]')).toContain('one of gate-opened, decision-needed, run-ended');
    expect(at('notify.webhooks[1].url')).toContain('an https:// URL (got a ftp: URL)');
    expect(at('notify.webhooks[1]')).toContain('unknown field "extra"');
    expect(at('notify.webhooks[2].url')).toContain('an https:// URL such as');
    expect(problems({ notify: { webhooks: [] } })[0]?.message).toContain('at least one webhook, or leave "notify" out');
  });

  it('the signature: HMAC-SHA256 over "timestamp.body", v1=hex; a receiver refuses a changed body, another secret or an old timestamp', () => {
    const body = notificationBody({ name: 'ops', url: 'https://x', format: 'json', secretEnv: 'S' }, event);
    const sig = signBody('s3cret', 1_767_225_600, body);
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret', '1767225600', body, sig, 1_767_225_600)).toBeNull();
    expect(verifySignature('s3cret', '1767225600', `${body}x`, sig, 1_767_225_600)).toBe('signature mismatch');
    expect(verifySignature('other', '1767225600', body, sig, 1_767_225_600)).toBe('signature mismatch');
    expect(verifySignature('s3cret', '1767225600', body, sig, 1_767_225_600 + 3600)).toContain('more than 300s from now');
    expect(verifySignature('s3cret', undefined, body, sig)).toContain('missing or malformed');
    expect(JSON.parse(body)).toMatchObject({ version: 1, event: 'gate-opened', digest: 'abc123' });
  });

  it('commands as the CLI spells them; a Slack message has text and blocks with the command', () => {
    expect(gateCommands('default', 'run-1', 'namespace:a', 'd1')).toEqual([
      'meshmove approve run-1 namespace:a --digest d1',
      'meshmove reject run-1 namespace:a --reason "WHY"',
    ]);
    expect(decisionCommands('prod', 'run-1', 'restart', ['retry', 'skip'], 'a')).toEqual([
      'meshmove --namespace prod decide run-1 retry --k8s-namespace a --step restart',
      'meshmove --namespace prod decide run-1 skip --k8s-namespace a --step restart --reason "WHY"',
    ]);
    const slack = slackPayload(event);
    expect(slack.text).toContain('Gate "start" waits for approval');
    expect(JSON.stringify(slack.blocks)).toContain('meshmove approve run-1 start --digest abc123');
    expect(registerSearchAttributesCommand('default')).toBe(
      'temporal operator search-attribute create --namespace default --name MeshmovePlan --type Keyword --name MeshmovePhase --type Keyword --name MeshmovePendingGate --type Keyword --name MeshmoveCluster --type Keyword',
    );
  });

  it('a missing secret is a non-retryable failure naming the variable; a 4xx refusal is not retried, a 5xx is', async () => {
    const missing = await deliver(
      { env: {} },
      { name: 'ops', url: 'https://127.0.0.1:1/x', format: 'json', secretEnv: 'OPS_SECRET' },
      event,
    ).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApplicationFailure);
    expect((missing as ApplicationFailure).nonRetryable).toBe(true);
    expect((missing as ApplicationFailure).message).toContain('no environment variable OPS_SECRET');
    let status = 400;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status).end('nope'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const hook = { name: 'ops', url, format: 'json' as const, secretEnv: 'OPS_SECRET' };
      const refused = (await deliver({ env: { OPS_SECRET: 'x' } }, hook, event).catch((e: unknown) => e)) as ApplicationFailure;
      expect(refused.nonRetryable).toBe(true);
      expect(refused.message).toContain('answered 400: nope');
      status = 503;
      const down = (await deliver({ env: { OPS_SECRET: 'x' } }, hook, event).catch((e: unknown) => e)) as ApplicationFailure;
      expect(down.nonRetryable).toBe(false);
      status = 200;
      expect(await deliver({ env: { OPS_SECRET: 'x' } }, hook, event)).toEqual({ webhook: 'ops', status: 200, attempt: 1 });
    } finally {
      server.close();
    }
  });
});
