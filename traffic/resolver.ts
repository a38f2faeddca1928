// Names resolved the way a well-behaved client does during a DNS cutover: ask the given servers,
// keep the answer for its TTL, ask again once it expires. A failed resolution is not cached (the
// next request asks again), as a stub resolver without negative caching; queries for the same
// name already under way are shared so a burst of requests does not become a burst of queries.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { loopbackLiteral } from './loopback.js';

export interface ARecordAnswer {
  address: string;
  /** Seconds, as served. */
  ttl: number;
}

export type Resolution =
  { ok: true; address: string; addresses: readonly string[]; ttlSeconds: number; cached: boolean } | { ok: false; reason: string };

export interface TtlResolver {
  resolve(name: string): Promise<Resolution>;
  /** Queries sent to the servers so far (cache hits and IP literals excluded). */
  queries(): number;
}

export interface TtlResolverOptions {
  /** `host:port` (or `[v6]:port`) of each DNS server, asked in order. */
  servers: readonly string[];
  /** Time for one query before the resolver gives up (default 2000 ms). */
  timeoutMs?: number;
  /** Monotonic milliseconds; injectable so tests can expire TTLs without waiting. */
  now?: () => number;
  /** Replaces the DNS query (tests); default: node's Resolver against `servers`. */
  query?: (name: string) => Promise<ARecordAnswer[]>;
}

interface CacheEntry {
  addresses: string[];
  ttlSeconds: number;
  expiresAt: number;
}

function dnsQuery(servers: readonly string[], timeoutMs: number): (name: string) => Promise<ARecordAnswer[]> {
  // One try per server: the load's own timeout bounds a request, and retrying here would hide a
  // resolver outage from the report.
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([...servers]);
  return (name) => resolver.resolve4(name, { ttl: true });
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

export function createTtlResolver(opts: TtlResolverOptions): TtlResolver {
  const now = opts.now ?? (() => performance.now());
  const query = opts.query ?? dnsQuery(opts.servers, opts.timeoutMs ?? 2000);
  const cache = new Map<string, CacheEntry>();
  const pending = new Map<string, Promise<Resolution>>();
  let queries = 0;

  async function ask(key: string): Promise<Resolution> {
    queries++;
    try {
      const answers = await query(key);
      if (answers.length === 0) return { ok: false, reason: `no A record for ${key}` };
      const ttlSeconds = Math.max(0, Math.min(...answers.map((a) => a.ttl)));
      const addresses = answers.map((a) => a.address);
      cache.set(key, { addresses, ttlSeconds, expiresAt: now() + ttlSeconds * 1000 });
      return { ok: true, address: addresses[0]!, addresses, ttlSeconds, cached: false };
    } catch (err) {
      cache.delete(key);
      return { ok: false, reason: `resolving ${key}: ${describeError(err)}` };
    }
  }

  return {
    queries: () => queries,
    async resolve(name) {
      const literal = loopbackLiteral(name) ?? (isIP(name) ? name : undefined);
      if (literal) return { ok: true, address: literal, addresses: [literal], ttlSeconds: 0, cached: true };
      const key = name.toLowerCase().replace(/\.$/, '');
      const hit = cache.get(key);
      if (hit && now() < hit.expiresAt) {
        return { ok: true, address: hit.addresses[0]!, addresses: hit.addresses, ttlSeconds: hit.ttlSeconds, cached: true };
      }
      const inFlight = pending.get(key);
      if (inFlight) return inFlight;
      const p = ask(key).finally(() => pending.delete(key));
      pending.set(key, p);
      return p;
    },
  };
}
