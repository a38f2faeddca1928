// The DNS cutover's activities: the new gateway's address is stable, the records point at it
// (through the plan's provider), and resolvers answer it.
import { Resolver } from 'node:dns/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { DnsChange, RunRef } from '../contract.js';
import type { DnsCutover, GatewayRef } from '../../plan/schema.js';
import { nowMs, tuning, type ClusterDeps } from '../shared/deps.js';
import { EXTERNAL_ADDRESS_SOURCES, externalAddress, readGatewayService } from '../shared/gateway.js';
import { pollUntil, resumedDetails } from '../shared/waiting.js';
import { createDnsProvider, dnsRequestId, type DnsProvider, type DnsRecordChange } from './provider.js';
import { FailureType } from '../failures.js';

export interface DnsDeps extends ClusterDeps {
  /** Replaces the plan's provider (tests, or a provider not expressible in the plan yet). */
  dnsProvider?: DnsProvider;
}

export const DnsCutoverFailure = {
  noAddress: FailureType.GatewayNoAddress,
  notResolved: FailureType.DnsNotResolved,
} as const;

/** The plan's DNS cutover; a plan with `dns: none` never schedules these activities. */
function dnsOf(input: RunRef): DnsCutover {
  const dns = input.plan.dns;
  if (!dns)
    throw ApplicationFailure.create({
      type: FailureType.ConfigError,
      nonRetryable: true,
      message: 'the plan has dns: none: no DNS to change or verify',
    });
  return dns;
}

function provider(deps: DnsDeps, input: RunRef): DnsProvider {
  return (
    deps.dnsProvider ??
    createDnsProvider(dnsOf(input).provider, {
      env: deps.env ?? process.env,
      timeoutMs: tuning(deps).httpTimeoutMs,
      now: () => nowMs(deps),
    })
  );
}

interface StableProgress {
  address: string | null;
  /** Since when (epoch ms) the address has been seen unchanged. */
  since: number;
}

/** Pure: fold one observation into the stability state. */
export function observeAddress(prev: StableProgress | undefined, address: string | undefined, now: number): StableProgress {
  const a = address ?? null;
  return prev && prev.address === a ? prev : { address: a, since: now };
}

export async function checkGatewayStable(deps: DnsDeps, input: RunRef): Promise<{ address: string }> {
  const gw = input.plan.target.gateway;
  const window = dnsOf(input).stabilityWindow;
  const t = tuning(deps);
  // A resumed attempt keeps the observation window it had reached.
  let state = resumedDetails<StableProgress>((d) => typeof (d as StableProgress).since === 'number');
  const started = nowMs(deps);
  return pollUntil<{ address: string }, StableProgress>({
    intervalMs: Math.min(t.pollMs, Math.max(100, Math.floor(window / 3))),
    deadline: started + t.gatewayAddressTimeoutMs + window,
    now: () => nowMs(deps),
    details: (p) => ({ ...p, stableForMs: p ? nowMs(deps) - p.since : 0, windowMs: window }),
    onTimeout: (p) =>
      ApplicationFailure.create({
        type: DnsCutoverFailure.noAddress,
        nonRetryable: true,
        message: p?.address
          ? `the target gateway ${gw.namespace}/${gw.service}'s external address kept changing (last ${p.address}, stable for ${Math.round((nowMs(deps) - p.since) / 1000)}s, needed ${Math.round(window / 1000)}s)`
          : `the target gateway Service ${gw.namespace}/${gw.service} has no external address (${EXTERNAL_ADDRESS_SOURCES}): check its type (LoadBalancer) and the cloud load balancer, or set spec.externalIPs`,
      }),
    check: async () => {
      const now = nowMs(deps);
      state = observeAddress(state, externalAddress(await readGatewayService(deps, gw)), now);
      if (state.address !== null && now - state.since >= window) return { done: true, value: { address: state.address } };
      return { done: false, progress: state };
    },
  });
}

export function recordChanges(input: RunRef, address: string): DnsRecordChange[] {
  const dns = dnsOf(input);
  const ttl = Math.round(dns.ttl / 1000);
  return dns.records.map((r) => ({ name: r.name, type: r.type, address, ttl }));
}

async function gatewayAddress(deps: ClusterDeps, gw: GatewayRef): Promise<string> {
  const address = externalAddress(await readGatewayService(deps, gw));
  if (address === undefined) {
    throw ApplicationFailure.create({
      type: DnsCutoverFailure.noAddress,
      nonRetryable: true,
      message: `gateway Service ${gw.namespace}/${gw.service} has no external address to point the records at (${EXTERNAL_ADDRESS_SOURCES})`,
    });
  }
  return address;
}

export async function switchDns(deps: DnsDeps, input: RunRef & { to: 'target' | 'source' }): Promise<DnsChange> {
  const gw = input.to === 'target' ? input.plan.target.gateway : input.plan.source.gateway;
  const address = await gatewayAddress(deps, gw);
  const records = recordChanges(input, address);
  const p = provider(deps, input);
  const r = await p.apply(records, address, { migrationId: input.migrationId, requestId: dnsRequestId(input.migrationId, records) });
  deps.logger?.info(
    { migrationId: input.migrationId, to: input.to, address, records: records.map((x) => x.name), provider: p.type, changed: r.changed },
    'dns records switched',
  );
  return { provider: p.type, address, records: records.map((x) => x.name), changed: r.changed };
}

export interface ResolverAnswer {
  resolver: string;
  name: string;
  /** The A answers, or the error code (ENOTFOUND, ECONNREFUSED, ETIMEOUT, ...). */
  answers: string[] | { error: string };
}

/** Pure: every record answers exactly the address through every resolver. */
export function dnsSettled(answers: readonly ResolverAnswer[], address: string): boolean {
  return (
    answers.length > 0 && answers.every((a) => Array.isArray(a.answers) && a.answers.length > 0 && a.answers.every((x) => x === address))
  );
}

export function describeAnswers(answers: readonly ResolverAnswer[], address: string): string[] {
  return answers
    .filter((a) => !(Array.isArray(a.answers) && a.answers.length > 0 && a.answers.every((x) => x === address)))
    .map((a) => `${a.name} via ${a.resolver}: ${Array.isArray(a.answers) ? a.answers.join(', ') || 'no answer' : a.answers.error}`);
}

async function resolveAll(resolvers: readonly string[], names: readonly string[], timeoutMs: number): Promise<ResolverAnswer[]> {
  const out: ResolverAnswer[] = [];
  await Promise.all(
    resolvers.map(async (server) => {
      const r = new Resolver({ timeout: timeoutMs, tries: 1 });
      r.setServers([server]);
      for (const name of names) {
        try {
          out.push({ resolver: server, name, answers: await r.resolve4(name) });
        } catch (err) {
          out.push({ resolver: server, name, answers: { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message } });
        }
      }
    }),
  );
  return out;
}

export async function verifyDns(deps: DnsDeps, input: RunRef & { address: string }): Promise<{ resolved: string[] }> {
  const t = tuning(deps);
  const dns = dnsOf(input);
  const names = dns.records.map((r) => r.name);
  const resumed = resumedDetails<{ address: string; startedAt: number }>(
    (d) => typeof (d as { startedAt?: unknown }).startedAt === 'number',
  );
  const startedAt = resumed && resumed.address === input.address ? resumed.startedAt : nowMs(deps);
  return pollUntil<{ resolved: string[] }, string[]>({
    intervalMs: t.pollMs,
    // Caches may hold the old answer for one TTL after the change, then propagation takes a while.
    deadline: startedAt + dns.ttl + t.dnsVerifyTimeoutMs,
    now: () => nowMs(deps),
    details: (pending) => ({ address: input.address, startedAt, pending }),
    onTimeout: (pending) =>
      ApplicationFailure.create({
        type: DnsCutoverFailure.notResolved,
        nonRetryable: true,
        message: `the records do not answer ${input.address} yet: ${(pending ?? []).join('; ')}. Check the change at the DNS provider, then retry`,
      }),
    check: async () => {
      const answers = await resolveAll(dns.resolvers, names, Math.min(t.httpTimeoutMs, 5_000));
      if (dnsSettled(answers, input.address)) return { done: true, value: { resolved: names } };
      return { done: false, progress: describeAnswers(answers, input.address) };
    },
  });
}
