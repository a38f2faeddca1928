// The notify activity: one signed POST of one notification to one webhook (plan.notify). The secret
// is read here, from the worker's environment variable the plan names: it never enters the workflow's
// input, its history or a log line. Temporal retries a failed delivery a bounded number of times
// (workflows/observe.ts); a missing secret or a refusal (4xx) is not retried.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { NotifyWebhook } from '../../plan/schema.js';
import type { NotifyEvent, NotifyResult } from '../contract.js';
import type { ClusterDeps } from '../shared/deps.js';
import { jsonPayload, slackPayload } from './format.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from './signature.js';
import { FailureType } from '../failures.js';

export { verifySignature, signBody } from './signature.js';

/** The worker's settings (the secrets are read from `env` by name); no cluster. */
export interface NotifyDeps extends Pick<ClusterDeps, 'env' | 'logger' | 'now'> {
  /** Bound of one request when not running as an activity (inside one: its start-to-close timeout). */
  requestTimeoutMs?: number;
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function notificationBody(webhook: NotifyWebhook, event: NotifyEvent): string {
  return JSON.stringify(webhook.format === 'slack' ? slackPayload(event) : jsonPayload(event));
}

export async function deliver(deps: NotifyDeps, webhook: NotifyWebhook, event: NotifyEvent): Promise<NotifyResult> {
  const env = deps.env ?? process.env;
  const secret = env[webhook.secretEnv];
  if (!secret) {
    throw ApplicationFailure.nonRetryable(
      `webhook "${webhook.name}": the worker has no environment variable ${webhook.secretEnv} (the secret its requests are signed with); set it on every worker and restart them`,
      FailureType.NotifyConfig,
    );
  }
  const ctx = activityContext();
  const attempt = ctx?.info.attempt ?? 1;
  const body = notificationBody(webhook, event);
  const timestamp = Math.floor((deps.now?.() ?? Date.now()) / 1000);
  // Leave the request a little less than the attempt's start-to-close timeout, so it ends as ours.
  const bound = Math.max(500, (ctx?.info.startToCloseTimeoutMs ?? deps.requestTimeoutMs ?? 10_000) - 250);
  const signals = [AbortSignal.timeout(bound), ...(ctx ? [ctx.cancellationSignal] : [])];
  let res: Response;
  try {
    res = await fetch(webhook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'meshmove-notify/1',
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signBody(secret, timestamp, body),
        [EVENT_HEADER]: event.event,
        [DELIVERY_HEADER]: event.deliveryId,
      },
      body,
      signal: AbortSignal.any(signals),
      redirect: 'error',
    });
  } catch (err) {
    // No answer in time, refused connection, DNS: Temporal retries (bounded).
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${bound} ms` : (err as Error).message;
    deps.logger?.warn({ webhook: webhook.name, event: event.event, attempt, why }, 'notification not delivered');
    throw ApplicationFailure.retryable(`webhook "${webhook.name}" (${new URL(webhook.url).host}): ${why}`, FailureType.NotifyUnreachable);
  }
  // Read (and drop) the answer so the connection is freed.
  const text = await res.text().catch(() => '');
  if (res.ok) {
    deps.logger?.info({ webhook: webhook.name, event: event.event, status: res.status, attempt }, 'notification delivered');
    return { webhook: webhook.name, status: res.status, attempt };
  }
  const what = `webhook "${webhook.name}" (${new URL(webhook.url).host}) answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  deps.logger?.warn({ webhook: webhook.name, event: event.event, status: res.status, attempt }, 'notification refused');
  // 408, 429 and 5xx may pass later; any other 4xx will not.
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    throw ApplicationFailure.nonRetryable(what, FailureType.NotifyRejected);
  }
  throw ApplicationFailure.retryable(what, FailureType.NotifyFailed);
}

/** The notify activity. Its input names no plan (so no cluster): only the worker's settings are used. */
export function notify(deps: NotifyDeps, { webhook, event }: { webhook: NotifyWebhook; event: NotifyEvent }): Promise<NotifyResult> {
  return deliver(deps, webhook, event);
}
