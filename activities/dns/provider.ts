// Where DNS records are changed. The interface is the plug-in point for Route 53, DNSPod and the
// like; two providers to start: `manual` (a person changes the record; the workflow opens a gate)
// and `webhook` (a signed HTTP call the operator's own automation receives).
import { createHash, createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { DnsProviderConfig } from '../../plan/schema.js';
import { FailureType } from '../failures.js';

export interface DnsRecordChange {
  name: string;
  type: 'A';
  address: string;
  /** Seconds. */
  ttl: number;
}

export interface ApplyContext {
  migrationId: string;
  /** Same for every retry of the same change, so the receiver can deduplicate. */
  requestId: string;
}

export interface ApplyResult {
  /** False when the records already pointed there, or when a person has to make the change. */
  changed: boolean;
  /** For `manual`: what the person must do. */
  instruction?: string;
}

export interface DnsProvider {
  readonly type: DnsProviderConfig['type'];
  apply(records: DnsRecordChange[], address: string, ctx: ApplyContext): Promise<ApplyResult>;
  /** One line for gates and logs; never contains a secret. */
  describe(): string;
}

export const DnsFailure = {
  secretMissing: FailureType.DnsSecretMissing,
  rejected: FailureType.DnsWebhookRejected,
  unavailable: FailureType.DnsWebhookUnavailable,
} as const;

/** A request id that is the same for every attempt of the same change. */
export function dnsRequestId(migrationId: string, records: readonly DnsRecordChange[]): string {
  const canonical = JSON.stringify(records.map((r) => [r.name, r.type, r.address, r.ttl]).sort());
  return createHash('sha256').update(`${migrationId}\n${canonical}`).digest('hex').slice(0, 32);
}

export const SIGNATURE_HEADER = 'X-Meshmove-Signature';
export const TIMESTAMP_HEADER = 'X-Meshmove-Timestamp';

/** `sha256=<hex HMAC-SHA256(secret, ts + "." + rawBody)>`: the timestamp is signed so a replay can be refused. */
export function signBody(secret: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export class ManualDnsProvider implements DnsProvider {
  readonly type = 'manual' as const;
  apply(records: DnsRecordChange[], address: string): Promise<ApplyResult> {
    const names = records.map((r) => r.name).join(', ');
    const ttl = records[0]?.ttl;
    return Promise.resolve({
      changed: false,
      instruction: `Point the A record(s) ${names} at ${address}${ttl !== undefined ? ` (TTL ${ttl}s)` : ''} at your DNS provider, then approve the gate.`,
    });
  }
  describe(): string {
    return 'manual: a person changes the records and confirms at a gate';
  }
}

export interface WebhookProviderOptions {
  url: string;
  secretEnv: string;
  env: Record<string, string | undefined>;
  timeoutMs: number;
  now?: () => number;
}

export class WebhookDnsProvider implements DnsProvider {
  readonly type = 'webhook' as const;
  constructor(private readonly o: WebhookProviderOptions) {}

  describe(): string {
    return `webhook: POST ${this.o.url}, signed with the secret in $${this.o.secretEnv}`;
  }

  private secret(): string {
    const s = this.o.env[this.o.secretEnv];
    if (s === undefined || s === '') {
      throw ApplicationFailure.create({
        type: DnsFailure.secretMissing,
        nonRetryable: true,
        message: `the DNS webhook's shared secret is not set: the worker's environment variable ${this.o.secretEnv} (plan dns.provider.secretEnv) is missing or empty`,
      });
    }
    return s;
  }

  async apply(records: DnsRecordChange[], _address: string, ctx: ApplyContext): Promise<ApplyResult> {
    const secret = this.secret();
    const rawBody = JSON.stringify({
      records: records.map((r) => ({ name: r.name, type: r.type, address: r.address, ttl: r.ttl })),
      migrationId: ctx.migrationId,
      requestId: ctx.requestId,
    });
    const ts = String(Math.floor((this.o.now ? this.o.now() : Date.now()) / 1000));
    let res: Response;
    try {
      res = await fetch(this.o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: signBody(secret, ts, rawBody) },
        body: rawBody,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (err) {
      throw ApplicationFailure.create({
        type: DnsFailure.unavailable,
        nonRetryable: false,
        message: `DNS webhook ${this.o.url} could not be reached: ${(err as Error).message}`,
      });
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      let changed = true;
      try {
        const body: unknown = JSON.parse(text);
        if (body && typeof body === 'object' && typeof (body as { changed?: unknown }).changed === 'boolean')
          changed = (body as { changed: boolean }).changed;
      } catch {
        // A receiver that answers 2xx without JSON made the change as far as we can tell.
      }
      return { changed };
    }
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const retryAfter = Number(res.headers.get('retry-after'));
    throw ApplicationFailure.create({
      type: retryable ? DnsFailure.unavailable : DnsFailure.rejected,
      nonRetryable: !retryable,
      ...(retryable && Number.isFinite(retryAfter) && retryAfter > 0 ? { nextRetryDelay: retryAfter * 1000 } : {}),
      message: `DNS webhook ${this.o.url} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}${res.status === 401 || res.status === 403 ? ` (check that $${this.o.secretEnv} holds the secret the receiver expects)` : ''}`,
    });
  }
}

export function createDnsProvider(
  cfg: DnsProviderConfig,
  opts: { env: Record<string, string | undefined>; timeoutMs: number; now?: () => number },
): DnsProvider {
  return cfg.type === 'manual'
    ? new ManualDnsProvider()
    : new WebhookDnsProvider({
        url: cfg.url,
        secretEnv: cfg.secretEnv,
        env: opts.env,
        timeoutMs: opts.timeoutMs,
        ...(opts.now ? { now: opts.now } : {}),
      });
}
