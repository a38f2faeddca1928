// Live traffic the way clients send it, for measuring "zero failed requests" while a rehearsal
// cuts over: each target gets evenly spaced requests, names are resolved through the given DNS
// servers and honoured for their TTL, and every request is counted by status, phase and the
// address that served it. Bounded on every axis (requests, duration, in-flight per target) and
// loopback-only unless told otherwise, so it cannot turn into a flood or reach a real service.
import { z } from 'zod';
import { isOkStatus, TrafficFailure } from './failures.js';
import { sendHttp, type HttpOutcome, type HttpSend } from './http.js';
import { LatencyHistogram, type LatencySummary } from './latency.js';
import { isLoopbackAddress } from './loopback.js';
import {
  parseLoadOptions,
  targetLabel,
  type HostTarget,
  type LoadOptions,
  type LoadOptionsInput,
  type LoadTarget,
  type MeshTarget,
} from './options.js';
import { createTtlResolver, type TtlResolver } from './resolver.js';

export { LoadOptionsError, LOAD_LIMITS, type LoadOptionsInput, type LoadTarget } from './options.js';

/** Failure samples kept in a report: enough to see what broke, small enough to log. */
export const MAX_FAILURE_SAMPLES = 20;
/** The phase recorded when the run has no `phase` function. */
export const DEFAULT_PHASE = 'run';
const MESH_ANSWER_BYTES = 64 * 1024;

export type StopReason = 'maxRequests' | 'maxDuration' | 'stopped';

export interface FailureSample {
  /** ISO time the request was sent. */
  at: string;
  target: string;
  /** HTTP status, 0 when there was no HTTP response. */
  status: number;
  kind: TrafficFailure;
  reason: string;
  phase: string;
  /** The address it was sent to (or refused), when resolution got that far. */
  address?: string;
}

export interface TargetCounts {
  sent: number;
  ok: number;
  failed: number;
  dropped: number;
}

export interface LoadReport {
  startedAt: string;
  elapsedMs: number;
  running: boolean;
  stopReason?: StopReason;
  /** Requests attempted (ok + failed + still in flight); dropped ones are not in it. */
  sent: number;
  ok: number;
  failed: number;
  /** Due requests skipped because the target already had maxInFlightPerTarget in flight. */
  dropped: number;
  /** Failed requests never sent because their address is not loopback (part of `failed`). */
  refused: number;
  inFlight: number;
  /** Completed requests by HTTP status; '0' when there was no HTTP response. */
  byStatus: Record<string, number>;
  byPhase: Record<string, { sent: number; failed: number }>;
  /** Host-target requests put on the wire, by resolved address (mesh calls are not counted). */
  byAddress: Record<string, number>;
  /** Of requests that got an HTTP status (timeouts and resets excluded), within 2%. */
  latencyMs: LatencySummary;
  failures: FailureSample[];
  perTarget: Record<string, TargetCounts>;
}

export interface LoadHandle {
  snapshot(): LoadReport;
  /** Sends nothing more, waits for requests in flight (each bounded by timeoutMs), reports. */
  stop(): Promise<LoadReport>;
  /** Settles when the run ends by a cap or stop(). */
  done: Promise<LoadReport>;
}

export interface LoadDeps {
  /** The HTTP exchange (tests wrap it to see what goes on the wire). */
  send?: HttpSend;
  resolver?: TtlResolver;
  /** Monotonic milliseconds. */
  now?: () => number;
}

interface Outcome {
  status: number;
  kind?: TrafficFailure;
  reason?: string;
  address?: string;
  /** An HTTP status was received (for latency). */
  answered: boolean;
}

const MeshAnswerSchema = z.object({ status: z.number().int().min(0).max(999), reason: z.string().optional() });

interface TargetState {
  target: LoadTarget;
  label: string;
  inFlight: number;
  counts: TargetCounts;
  timer?: NodeJS.Timeout;
}

export function startLoad(input: LoadOptionsInput, deps: LoadDeps = {}): LoadHandle {
  const opts: LoadOptions = parseLoadOptions(input);
  const now = deps.now ?? (() => performance.now());
  const send = deps.send ?? sendHttp;
  const resolver = deps.resolver ?? createTtlResolver({ servers: opts.resolvers, timeoutMs: opts.timeoutMs, now });
  const startedAt = new Date().toISOString();
  const t0 = now();
  const intervalMs = 1000 / opts.ratePerSecond;

  let sent = 0,
    ok = 0,
    failed = 0,
    dropped = 0,
    refused = 0;
  const byStatus: Record<string, number> = {};
  const byPhase: Record<string, { sent: number; failed: number }> = {};
  const byAddress: Record<string, number> = {};
  const failures: FailureSample[] = [];
  const latency = new LatencyHistogram();
  const inFlight = new Set<Promise<void>>();
  const states: TargetState[] = opts.targets.map((target) => ({
    target,
    label: targetLabel(target),
    inFlight: 0,
    counts: { sent: 0, ok: 0, failed: 0, dropped: 0 },
  }));

  let stopping = false;
  let stopReason: StopReason | undefined;
  let endedAt: number | undefined;
  let resolveDone!: (r: LoadReport) => void;
  const done = new Promise<LoadReport>((r) => (resolveDone = r));

  function snapshot(): LoadReport {
    return {
      startedAt,
      elapsedMs: Math.round((endedAt ?? now()) - t0),
      running: endedAt === undefined,
      ...(stopReason ? { stopReason } : {}),
      sent,
      ok,
      failed,
      dropped,
      refused,
      inFlight: inFlight.size,
      byStatus: { ...byStatus },
      byPhase: Object.fromEntries(Object.entries(byPhase).map(([k, v]) => [k, { ...v }])),
      byAddress: { ...byAddress },
      latencyMs: latency.summary(),
      failures: failures.map((f) => ({ ...f })),
      perTarget: Object.fromEntries(states.map((s) => [s.label, { ...s.counts }])),
    };
  }

  function finish(reason: StopReason): Promise<LoadReport> {
    if (stopping) return done;
    stopping = true;
    stopReason = reason;
    clearTimeout(durationTimer);
    for (const s of states) clearTimeout(s.timer);
    void Promise.all([...inFlight]).then(() => {
      endedAt = now();
      resolveDone(snapshot());
    });
    return done;
  }

  function currentPhase(): string {
    try {
      return opts.phase?.() ?? DEFAULT_PHASE;
    } catch {
      return '(phase unavailable)';
    }
  }

  function deadlineLeft(started: number): number {
    return Math.max(1, Math.round(opts.timeoutMs - (now() - started)));
  }

  /** The target's address, resolved and checked; or the failure that stops the request here. */
  async function addressFor(host: string): Promise<{ ok: true; address: string } | { ok: false; outcome: Outcome }> {
    const r = await resolver.resolve(host.startsWith('[') ? host.slice(1, -1) : host);
    if (!r.ok) return { ok: false, outcome: { status: 0, kind: TrafficFailure.Resolve, reason: r.reason, answered: false } };
    if (!opts.allowNonLoopback && !isLoopbackAddress(r.address)) {
      return {
        ok: false,
        outcome: {
          status: 0,
          kind: TrafficFailure.Refused,
          address: r.address,
          answered: false,
          reason: `refused: ${host} is ${r.address}, outside loopback (127.0.0.0/8, ::1), and allowNonLoopback is false; nothing sent`,
        },
      };
    }
    return { ok: true, address: r.address };
  }

  function fromTransport(o: HttpOutcome, address: string): Outcome {
    if (o.kind !== 'response') return { status: 0, kind: o.kind, reason: o.reason, address, answered: false };
    if (isOkStatus(o.status)) return { status: o.status, address, answered: true };
    return {
      status: o.status,
      kind: TrafficFailure.HttpStatus,
      reason: `HTTP ${o.status}${o.reason ? `: ${o.reason}` : ''}`,
      address,
      answered: true,
    };
  }

  async function requestHost(t: HostTarget, started: number): Promise<Outcome> {
    const a = await addressFor(t.host);
    if (!a.ok) return a.outcome;
    byAddress[a.address] = (byAddress[a.address] ?? 0) + 1;
    const bare = t.host.includes(':') && !t.host.startsWith('[') ? `[${t.host}]` : t.host;
    const o = await send({
      address: a.address,
      port: t.port,
      method: 'GET',
      path: t.path,
      host: t.port === 80 ? bare : `${bare}:${t.port}`,
      timeoutMs: deadlineLeft(started),
      ...(opts.reasonHeader ? { reasonHeader: opts.reasonHeader } : {}),
    });
    return fromTransport(o, a.address);
  }

  async function requestMesh(t: MeshTarget, started: number): Promise<Outcome> {
    const call = new URL(t.callUrl);
    const a = await addressFor(call.hostname);
    if (!a.ok) return a.outcome;
    const o = await send({
      address: a.address,
      port: Number(call.port || 80),
      method: 'POST',
      path: `${call.pathname}${call.search}`,
      host: call.host,
      body: JSON.stringify({ from: t.from, url: t.url }),
      timeoutMs: deadlineLeft(started),
      keepBodyBytes: MESH_ANSWER_BYTES,
    });
    if (o.kind !== 'response') return { status: 0, kind: o.kind, reason: `call endpoint: ${o.reason}`, answered: false };
    if (o.status !== 200) {
      return {
        status: 0,
        kind: TrafficFailure.CallEndpoint,
        reason: `call endpoint answered HTTP ${o.status}${o.body ? `: ${o.body.slice(0, 200)}` : ''}`,
        answered: false,
      };
    }
    let answer: z.infer<typeof MeshAnswerSchema>;
    try {
      answer = MeshAnswerSchema.parse(JSON.parse(o.body));
    } catch {
      return {
        status: 0,
        kind: TrafficFailure.CallEndpoint,
        reason: `call endpoint answer is not {"status": number}: ${o.body.slice(0, 200)}`,
        answered: false,
      };
    }
    if (answer.status === 0)
      return { status: 0, kind: TrafficFailure.MeshNoResponse, reason: answer.reason ?? 'no HTTP response', answered: false };
    if (isOkStatus(answer.status)) return { status: answer.status, answered: true };
    return {
      status: answer.status,
      kind: TrafficFailure.HttpStatus,
      reason: `HTTP ${answer.status}${answer.reason ? `: ${answer.reason}` : ''}`,
      answered: true,
    };
  }

  function launch(s: TargetState): void {
    sent++;
    s.counts.sent++;
    s.inFlight++;
    const phase = currentPhase();
    const phaseCounts = (byPhase[phase] ??= { sent: 0, failed: 0 });
    phaseCounts.sent++;
    const started = now();
    const at = new Date().toISOString();
    const work = (s.target.kind === 'host' ? requestHost(s.target, started) : requestMesh(s.target, started)).catch(
      (err: unknown): Outcome => ({ status: 0, kind: TrafficFailure.Connection, reason: `unexpected: ${String(err)}`, answered: false }),
    );
    const p = work
      .then((o) => {
        s.inFlight--;
        byStatus[String(o.status)] = (byStatus[String(o.status)] ?? 0) + 1;
        if (o.answered) latency.record(now() - started);
        if (!o.kind) {
          ok++;
          s.counts.ok++;
          return;
        }
        failed++;
        s.counts.failed++;
        phaseCounts.failed++;
        if (o.kind === TrafficFailure.Refused) refused++;
        if (failures.length < MAX_FAILURE_SAMPLES) {
          failures.push({
            at,
            target: s.label,
            status: o.status,
            kind: o.kind,
            reason: o.reason ?? '',
            phase,
            ...(o.address ? { address: o.address } : {}),
          });
        }
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  function schedule(s: TargetState, due: number): void {
    s.timer = setTimeout(() => fire(s, due), Math.max(0, due - now()));
  }

  function fire(s: TargetState, due: number): void {
    if (stopping) return;
    if (s.inFlight >= opts.maxInFlightPerTarget) {
      dropped++;
      s.counts.dropped++;
    } else {
      launch(s);
      if (sent >= opts.maxRequests) {
        void finish('maxRequests');
        return;
      }
    }
    // Evenly spaced from the start; after a stall (a blocked event loop), resume spacing from now
    // instead of sending the missed requests in a burst.
    let next = due + intervalMs;
    const t = now();
    if (t - next > intervalMs) next = t;
    schedule(s, next);
  }

  const durationTimer = setTimeout(() => void finish('maxDuration'), opts.maxDurationMs);
  // Targets start staggered across one interval so their requests interleave instead of coinciding.
  states.forEach((s, i) => schedule(s, t0 + (i * intervalMs) / states.length));

  return { snapshot, stop: () => finish('stopped'), done };
}
