// An instant-query client for Prometheus's HTTP API (GET /api/v1/query), the one door through
// which analysis reads metrics. Every failure is a PrometheusQueryError whose reason comes from one
// catalog with its retryability, and whose message names the query and what Prometheus answered
// (its errorType and error), so a person reading a workflow history sees why a gate could not decide.
// The Authorization header is a credential: it is sent, never shown (messages and answers are
// scrubbed of it, in case a proxy echoes request headers back).

export interface PrometheusEndpoint {
  /** Base URL, e.g. http://prometheus.monitoring:9090 (a path prefix such as /prom is kept). */
  url: string;
  /** Sent as the Authorization header, e.g. "Bearer <token>". */
  authHeader?: string;
  timeoutMs: number;
}

export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

export type PromAnswer = { resultType: 'vector'; samples: PromSample[] } | { resultType: 'scalar'; value: number };

/** Why a query failed, and whether asking again may help. */
export const PromFailure = {
  /** No connection: refused, reset, DNS. Prometheus may be restarting. */
  unreachable: { retryable: true },
  /** No complete answer within timeoutMs. */
  timeout: { retryable: true },
  /** A non-2xx status other than 400/422; retryable for 5xx (503: Prometheus's own query timeout), 429 and 408. */
  http: { retryable: undefined },
  /** 400/422: the PromQL does not parse or cannot be executed, or gives a type analysis cannot use. */
  'bad-query': { retryable: false },
  /** 2xx that is not Prometheus's JSON: a wrong URL, a login page, an incompatible server. */
  'bad-answer': { retryable: false },
} as const satisfies Record<string, { retryable: boolean | undefined }>;
export type PromFailureReason = keyof typeof PromFailure;

/** Whether a failure is worth retrying (pure; `status` only matters for 'http'). */
export function isRetryable(reason: PromFailureReason, status?: number): boolean {
  const fixed = PromFailure[reason].retryable;
  if (fixed !== undefined) return fixed;
  return status !== undefined && (status >= 500 || status === 429 || status === 408);
}

const ANSWER_CHARS = 300;

export class PrometheusQueryError extends Error {
  override readonly name = 'PrometheusQueryError';
  readonly query: string;
  readonly reason: PromFailureReason;
  readonly status?: number;
  /** The first 300 characters of what the server answered, if it answered. */
  readonly answer?: string;
  readonly retryable: boolean;

  constructor(init: { message: string; query: string; reason: PromFailureReason; status?: number; answer?: string; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.query = init.query;
    this.reason = init.reason;
    if (init.status !== undefined) this.status = init.status;
    if (init.answer !== undefined) this.answer = init.answer;
    this.retryable = isRetryable(init.reason, init.status);
  }
}

/** The URL as it may be shown: no user:password, no query string. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid URL)';
  }
}

/** Removes the credential (and its token part, "Bearer xyz" → "xyz") from text that may be shown. */
function scrub(text: string, authHeader: string | undefined): string {
  if (!authHeader) return text;
  let out = text.split(authHeader).join('[redacted]');
  const token = authHeader.split(' ').slice(1).join(' ');
  if (token.length >= 4) out = out.split(token).join('[redacted]');
  return out;
}

/** Prometheus sends sample values as strings: "1.5", "NaN", "+Inf", "-Inf". */
export function parseSampleValue(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  const n = Number(v);
  return v.trim() === '' || Number.isNaN(n) ? undefined : n;
}

type Parsed = { ok: true; answer: PromAnswer } | { ok: false; reason: 'bad-answer' | 'bad-query'; detail: string };

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function pairValue(pair: unknown): number | undefined {
  return Array.isArray(pair) && pair.length === 2 ? parseSampleValue(pair[1]) : undefined;
}

/** Reads a 2xx body of /api/v1/query (pure). */
export function parseQueryAnswer(body: unknown): Parsed {
  if (!isRecord(body) || body.status !== 'success' || !isRecord(body.data)) {
    return { ok: false, reason: 'bad-answer', detail: 'not a Prometheus API answer ({"status":"success","data":{...}})' };
  }
  const { resultType, result } = body.data;
  if (resultType === 'scalar') {
    const value = pairValue(result);
    if (value === undefined) return { ok: false, reason: 'bad-answer', detail: 'a scalar without a [time, "value"] pair' };
    return { ok: true, answer: { resultType: 'scalar', value } };
  }
  if (resultType === 'vector') {
    if (!Array.isArray(result)) return { ok: false, reason: 'bad-answer', detail: 'a vector whose result is not a list' };
    const samples: PromSample[] = [];
    for (const s of result) {
      const value = isRecord(s) ? pairValue(s.value) : undefined;
      if (!isRecord(s) || value === undefined)
        return { ok: false, reason: 'bad-answer', detail: 'a vector sample without metric and [time, "value"]' };
      const labels: Record<string, string> = {};
      if (isRecord(s.metric)) for (const [k, v] of Object.entries(s.metric)) if (typeof v === 'string') labels[k] = v;
      samples.push({ labels, value });
    }
    return { ok: true, answer: { resultType: 'vector', samples } };
  }
  if (resultType === 'matrix' || resultType === 'string') {
    // A range selector (`x[5m]`) or a string literal: the query is wrong for an instant decision.
    return { ok: false, reason: 'bad-query', detail: `the result type is ${resultType}; analysis needs an instant vector or a scalar` };
  }
  return { ok: false, reason: 'bad-answer', detail: `unknown result type ${JSON.stringify(resultType)}` };
}

/** "bad_data: 1:5: parse error: ..." from Prometheus's error JSON; undefined for any other body. */
function prometheusError(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (isRecord(body) && body.status === 'error') return `${String(body.errorType ?? 'error')}: ${String(body.error ?? '')}`;
  } catch {
    // not JSON
  }
  return undefined;
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; isRecord(e) || e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (depth > 4) break;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || networkCode(err) === 'UND_ERR_CONNECT_TIMEOUT');
}

/**
 * Evaluates `query` at `at` (default: now, as Prometheus sees it). Resolves with a vector or a
 * scalar; rejects with a PrometheusQueryError.
 */
export async function queryInstant(ep: PrometheusEndpoint, query: string, at?: Date): Promise<PromAnswer> {
  const where = shownUrl(ep.url);
  // fetch refuses a URL with user:password; it means Basic auth (unless a header is given).
  let authHeader = ep.authHeader;
  let url = ep.url;
  try {
    const u = new URL(ep.url);
    if (u.username || u.password) {
      authHeader ??= `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
      u.username = '';
      u.password = '';
      url = u.toString();
    }
  } catch {
    // not a URL: reported below
  }
  const fail = (reason: PromFailureReason, detail: string, extra: { status?: number; answer?: string; cause?: unknown } = {}): never => {
    const answer = extra.answer === undefined ? undefined : scrub(extra.answer, authHeader).slice(0, ANSWER_CHARS);
    throw new PrometheusQueryError({
      message: scrub(`Prometheus query ${JSON.stringify(query)} at ${where} failed (${reason}): ${detail}`, authHeader),
      query,
      reason,
      ...(extra.status !== undefined ? { status: extra.status } : {}),
      ...(answer !== undefined ? { answer } : {}),
      ...(extra.cause !== undefined ? { cause: extra.cause } : {}),
    });
  };

  let target: URL;
  try {
    target = new URL(`${url.replace(/\/+$/, '')}/api/v1/query`);
  } catch (err) {
    return fail('unreachable', `the endpoint URL ${JSON.stringify(where)} is not a URL`, { cause: err });
  }
  target.searchParams.set('query', query);
  if (at) target.searchParams.set('time', (at.getTime() / 1000).toFixed(3));
  // Prometheus gives up on its side too (503 errorType "timeout") instead of working on for nobody.
  target.searchParams.set('timeout', `${Math.max(1, ep.timeoutMs)}ms`);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (authHeader) headers.Authorization = authHeader;

  const signal = AbortSignal.timeout(ep.timeoutMs);
  let status: number;
  let text: string;
  try {
    const res = await fetch(target, { headers, signal, redirect: 'follow' });
    status = res.status;
    text = await res.text();
  } catch (err) {
    if (isTimeout(err)) return fail('timeout', `no complete answer within ${ep.timeoutMs} ms`, { cause: err });
    const code = networkCode(err);
    return fail('unreachable', `no connection (${code ?? (err as Error).message})`, { cause: err });
  }

  if (status < 200 || status > 299) {
    const promError = prometheusError(text);
    const said = promError ?? `${JSON.stringify(text.slice(0, 200))}${text.length > 200 ? '...' : ''}`;
    if (status === 400 || status === 422) return fail('bad-query', `HTTP ${status}: ${said}`, { status, answer: text });
    return fail('http', `HTTP ${status}: ${said}`, { status, answer: text });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail('bad-answer', `HTTP ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 200))}`, {
      status,
      answer: text,
    });
  }
  const parsed = parseQueryAnswer(body);
  if (!parsed.ok) return fail(parsed.reason, `HTTP ${status}: ${parsed.detail}`, { status, answer: text });
  return parsed.answer;
}

/** The single number of an aggregated answer (a scalar, or a vector's first sample); undefined for an empty vector. */
export function singleValue(answer: PromAnswer): number | undefined {
  return answer.resultType === 'scalar' ? answer.value : answer.samples[0]?.value;
}
