// Injected faults: API request faults (status, dropped connection, lost response, delay) chosen by a
// seeded PRNG so runs are reproducible, and workload faults (rollouts whose new pods never become Ready).
// `drop` closes the connection before the request is carried out; `lose-response` carries it out and
// then closes the connection before the answer, so the client cannot tell whether its write happened
// (the case that proves a retried write is not applied twice).
import { z } from 'zod';

export const FaultRuleSchema = z
  .object({
    verb: z.string().optional(),
    /** `pods`, `apps/deployments`, `pods/status` or `deployments` (any group). */
    resource: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    kind: z.enum(['status', 'drop', 'lose-response', 'delay']),
    status: z.union([z.literal(429), z.literal(500), z.literal(409), z.literal(503)]).optional(),
    retryAfterSeconds: z.number().int().min(0).optional(),
    delayMs: z.number().int().min(0).optional(),
    rate: z.number().min(0).max(1).optional(),
    count: z.number().int().min(0).optional(),
    seed: z.number().int().optional(),
  })
  .refine((r) => r.kind !== 'status' || r.status !== undefined, { message: 'status rules need a status code' })
  .refine((r) => r.rate !== undefined || r.count !== undefined, { message: 'a rule needs rate or count' });

export type FaultRule = z.infer<typeof FaultRuleSchema>;

export const WorkloadRefSchema = z.object({ namespace: z.string(), name: z.string() });
export type WorkloadRef = z.infer<typeof WorkloadRefSchema>;

export const FaultConfigSchema = z.object({
  rules: z.array(FaultRuleSchema).default([]),
  stuckRollouts: z.array(WorkloadRefSchema).default([]),
});
export type FaultConfig = z.infer<typeof FaultConfigSchema>;

export interface RequestFacts {
  verb: string;
  group: string;
  resource: string;
  subresource?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
}

export type FaultDecision =
  | { kind: 'status'; status: number; retryAfterSeconds?: number | undefined }
  | { kind: 'drop' }
  | { kind: 'lose-response' }
  | { kind: 'delay'; delayMs: number };

/** mulberry32: small, fast, good enough for reproducible fault draws. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ActiveRule {
  rule: FaultRule;
  remaining: number | undefined;
  random: () => number;
}

export function ruleMatches(rule: FaultRule, f: RequestFacts): boolean {
  if (rule.verb !== undefined && rule.verb !== f.verb) return false;
  if (rule.namespace !== undefined && rule.namespace !== (f.namespace ?? '')) return false;
  if (rule.name !== undefined && rule.name !== (f.name ?? '')) return false;
  if (rule.resource !== undefined) {
    const plain = f.subresource ? `${f.resource}/${f.subresource}` : f.resource;
    const grouped = f.group ? `${f.group}/${plain}` : plain;
    if (
      rule.resource !== plain &&
      rule.resource !== grouped &&
      rule.resource !== f.resource &&
      rule.resource !== (f.group ? `${f.group}/${f.resource}` : f.resource)
    )
      return false;
  }
  return true;
}

export class FaultController {
  private active: ActiveRule[] = [];
  private stuck: WorkloadRef[] = [];
  private readonly listeners = new Set<() => void>();

  /** Replaces every rule and workload fault. */
  set(config: Partial<FaultConfig>): void {
    const parsed = FaultConfigSchema.parse(config);
    this.active = parsed.rules.map((rule, i) => ({ rule, remaining: rule.count, random: prng(rule.seed ?? 1 + i) }));
    this.stuck = parsed.stuckRollouts;
    this.changed();
  }

  addRule(rule: FaultRule): void {
    const r = FaultRuleSchema.parse(rule);
    this.active.push({ rule: r, remaining: r.count, random: prng(r.seed ?? this.active.length + 1) });
  }

  setStuckRollouts(refs: WorkloadRef[]): void {
    this.stuck = refs.map((r) => WorkloadRefSchema.parse(r));
    this.changed();
  }

  clear(): void {
    this.active = [];
    this.stuck = [];
    this.changed();
  }

  get(): FaultConfig {
    return {
      // count shows what is left of a count rule.
      rules: this.active.map((a) => (a.remaining === undefined ? a.rule : { ...a.rule, count: a.remaining })),
      stuckRollouts: [...this.stuck],
    };
  }

  isStuck(namespace: string, workload: string): boolean {
    return this.stuck.some((s) => s.namespace === namespace && s.name === workload);
  }

  /** Workload faults changed: the kubelet re-evaluates readiness. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The first matching rule that fires for this request, consuming a count or a draw. */
  decide(f: RequestFacts): FaultDecision | undefined {
    for (const a of this.active) {
      if (!ruleMatches(a.rule, f)) continue;
      let fires: boolean;
      if (a.remaining !== undefined) {
        fires = a.remaining > 0;
        if (fires) a.remaining--;
      } else {
        fires = a.random() < (a.rule.rate ?? 0);
      }
      if (!fires) continue;
      switch (a.rule.kind) {
        case 'status':
          return { kind: 'status', status: a.rule.status!, retryAfterSeconds: a.rule.retryAfterSeconds };
        case 'drop':
          return { kind: 'drop' };
        case 'lose-response':
          return { kind: 'lose-response' };
        case 'delay':
          return { kind: 'delay', delayMs: a.rule.delayMs ?? 1000 };
      }
    }
    return undefined;
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }
}
