// What a load run may be asked to do, checked before anything starts: every cap required and
// bounded, so a typo can neither run forever nor flood a service; errors name the field.
import { isIP } from 'node:net';
import { z } from 'zod';
import { isLoopbackAddress, loopbackLiteral, parseHostPort } from './loopback.js';

export const LOAD_LIMITS = {
  maxTargets: 64,
  maxRatePerSecond: 1000,
  maxRequests: 1_000_000,
  maxDurationMs: 24 * 60 * 60 * 1000,
  maxTimeoutMs: 60_000,
  maxInFlightPerTarget: 1000,
} as const;

const HostTargetSchema = z
  .object({
    kind: z.literal('host'),
    /** Shown in the report instead of `host:port/path`. */
    label: z.string().min(1).max(200).optional(),
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9._:[\]-]+$/, 'must be a DNS name or an IP address'),
    port: z.number().int().min(1).max(65535),
    path: z.string().startsWith('/', 'must start with "/"').max(2000),
  })
  .strict();

const MeshTargetSchema = z
  .object({
    kind: z.literal('mesh'),
    label: z.string().min(1).max(200).optional(),
    /** The calling workload, e.g. `frontend/frontend`, as the call endpoint names it. */
    from: z.string().min(1).max(500),
    /** The URL called from inside the mesh (a cluster name; the call endpoint makes the call). */
    url: z.url(),
    /** The endpoint that makes the call (e.g. the twin's control route); it must be http. */
    callUrl: z.url().refine((u) => new URL(u).protocol === 'http:', 'must be an http:// URL'),
  })
  .strict();

export const LoadTargetSchema = z.discriminatedUnion('kind', [HostTargetSchema, MeshTargetSchema]);
export type HostTarget = z.infer<typeof HostTargetSchema>;
export type MeshTarget = z.infer<typeof MeshTargetSchema>;
export type LoadTarget = z.infer<typeof LoadTargetSchema>;

const ResolverSchema = z.string().refine((s) => {
  const hp = parseHostPort(s);
  return hp !== undefined && isIP(hp.host) !== 0;
}, 'must be "ip:port" (IPv6 as "[::1]:53")');

export const LoadOptionsSchema = z
  .object({
    targets: z.array(LoadTargetSchema).min(1).max(LOAD_LIMITS.maxTargets),
    /** Requests per second for each target, evenly spaced. */
    ratePerSecond: z.number().positive().max(LOAD_LIMITS.maxRatePerSecond),
    /** Requests attempted over all targets, then the run ends. */
    maxRequests: z.number().int().min(1).max(LOAD_LIMITS.maxRequests),
    /** No request is started after this; requests in flight finish within timeoutMs. */
    maxDurationMs: z.number().int().min(1).max(LOAD_LIMITS.maxDurationMs),
    timeoutMs: z.number().int().min(1).max(LOAD_LIMITS.maxTimeoutMs).default(2000),
    /** Beyond this many requests in flight for one target, a due request is dropped, not queued. */
    maxInFlightPerTarget: z.number().int().min(1).max(LOAD_LIMITS.maxInFlightPerTarget).default(64),
    /** DNS servers (`ip:port`) for target names; never the system resolver. */
    resolvers: z.array(ResolverSchema).max(8).default([]),
    /** The run's current phase (e.g. the workflow step), sampled when each request is sent. */
    phase: z.custom<() => string>((v) => typeof v === 'function', 'must be a function returning the current phase').optional(),
    /** Lets requests reach addresses outside 127.0.0.0/8 and ::1. Off: such requests fail unsent. */
    allowNonLoopback: z.boolean().default(false),
    /** A response header explaining a failure, kept in failure samples (the twin: x-twin-reason). */
    reasonHeader: z.string().min(1).max(100).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const hostsNeedingDns =
      o.targets.some((t) => t.kind === 'host' && !loopbackLiteral(t.host)) ||
      o.targets.some((t) => t.kind === 'mesh' && !loopbackLiteral(new URL(t.callUrl).hostname));
    if (hostsNeedingDns && o.resolvers.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['resolvers'],
        message: 'required when a target names a host by DNS name (the system resolver is never used)',
      });
    }
    if (!o.allowNonLoopback) {
      o.resolvers.forEach((r, i) => {
        const hp = parseHostPort(r);
        if (hp && !isLoopbackAddress(hp.host)) {
          ctx.addIssue({
            code: 'custom',
            path: ['resolvers', i],
            message: `${r} is not a loopback address (set allowNonLoopback to use it)`,
          });
        }
      });
    }
    const seen = new Set<string>();
    o.targets.forEach((t, i) => {
      const label = targetLabel(t);
      if (seen.has(label))
        ctx.addIssue({ code: 'custom', path: ['targets', i, 'label'], message: `duplicate target "${label}" (give one a label)` });
      seen.add(label);
    });
  });

export type LoadOptionsInput = z.input<typeof LoadOptionsSchema>;
export type LoadOptions = z.output<typeof LoadOptionsSchema>;

export function targetLabel(t: LoadTarget): string {
  if (t.label) return t.label;
  return t.kind === 'host' ? `${t.host}:${t.port}${t.path}` : `${t.from} -> ${t.url}`;
}

export class LoadOptionsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid load options: ${problems.join('; ')}`);
    this.name = 'LoadOptionsError';
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(options)';
}

export function parseLoadOptions(input: unknown): LoadOptions {
  const r = LoadOptionsSchema.safeParse(input);
  if (!r.success) throw new LoadOptionsError(r.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`));
  return r.data;
}
