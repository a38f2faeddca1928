// Error classification for every Kubernetes call meshmove makes. Temporal decides whether to retry
// an activity from the failure's `nonRetryable` flag and `type`, so each API error becomes an
// ApplicationFailure with a stable type a workflow (or a person reading the history) can act on.
// The classification itself is pure (`classifyKubeError`) and table-tested.
import { ApplicationFailure } from '@temporalio/common';
import { parseRetryAfterHeader, retryOnConflict } from '../../kube-retry/retry.js';
import { FailureType } from '../failures.js';

export const KubeErrorType = {
  /** 401: the kubeconfig's credentials were rejected. */
  unauthorized: FailureType.KubeUnauthorized,
  /** 403: RBAC denies the verb; the message names the missing permission. */
  forbidden: FailureType.KubeForbidden,
  /** 404 where the object must exist. */
  notFound: FailureType.KubeNotFound,
  /** 409 AlreadyExists on create: the caller decides whether that is fine. */
  alreadyExists: FailureType.KubeAlreadyExists,
  /** 409 Conflict (stale resourceVersion): the caller re-reads and tries again; the transport never resends it. */
  conflict: FailureType.KubeConflict,
  /** 422: the object or patch is invalid; retrying sends the same invalid thing. */
  invalid: FailureType.KubeInvalid,
  /** 400/405/406/415: a request the server will never accept (a bug here, not a transient state). */
  badRequest: FailureType.KubeBadRequest,
  /** 429: the server (or its priority-and-fairness) asked to slow down. */
  throttled: FailureType.KubeThrottled,
  /** 5xx: the apiserver or something behind it failed. */
  serverError: FailureType.KubeServerError,
  /** No answer: connection refused/reset, DNS, TLS handshake cut. */
  network: FailureType.KubeNetwork,
  /** The request did not finish within the client-side timeout. */
  timeout: FailureType.KubeTimeout,
  /** The kubeconfig or context is unusable. */
  config: FailureType.KubeConfigInvalid,
  /** The client failed before any request was sent (kubeconfig, TLS settings, a bug): not transient. */
  client: FailureType.KubeClientError,
  /** Port-forward to a pod failed (no pod, pod not Running, port closed). */
  portForward: FailureType.KubePortForward,
} as const;
export type KubeErrorType = (typeof KubeErrorType)[keyof typeof KubeErrorType];

/** What a call was trying to do; used in messages (and for the missing RBAC permission). */
export interface KubeCallTarget {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'portforward' | 'proxy' | 'log';
  /** Plural resource, e.g. `namespaces`, `mutatingwebhookconfigurations`, `virtualservices`. */
  resource: string;
  /** API group; '' for core. */
  group: string;
  namespace?: string;
  name?: string;
  /** Subresource (`log`, `portforward`, `proxy`). */
  subresource?: string;
}

export interface KubeErrorClass {
  type: KubeErrorType;
  retryable: boolean;
  /** HTTP status when there was an answer. */
  status?: number;
  /** How long to wait before retrying, from Retry-After (ms). */
  retryAfterMs?: number;
  message: string;
}

/** The Kubernetes `Status` object an apiserver sends with an error, as far as we read it. */
interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { retryAfterSeconds?: number; causes?: { field?: string; message?: string }[] };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function describeTarget(t: KubeCallTarget): string {
  const res = t.group ? `${t.resource}.${t.group}` : t.resource;
  const obj = t.name ? `${res}/${t.name}${t.subresource ? `/${t.subresource}` : ''}` : res;
  return t.namespace ? `${obj} in namespace ${t.namespace}` : obj;
}

/** The RBAC rule a 403 says is missing, as `kubectl auth can-i` would phrase the question. */
export function missingPermission(t: KubeCallTarget): string {
  const resource = t.subresource ? `${t.resource}/${t.subresource}` : t.resource;
  // client-node's port-forward is a WebSocket upgrade: a GET, which kube-apiserver >= 1.35 also
  // checks for create (KEP-4006). Service proxy and log reads are GETs.
  const verb = t.verb === 'portforward' ? 'get and create' : t.verb === 'proxy' || t.verb === 'log' ? 'get' : t.verb;
  return `${verb} ${resource} (apiGroup "${t.group}")${t.namespace ? ` in namespace ${t.namespace}` : ' cluster-wide'}`;
}

function parseStatus(body: unknown): StatusBody | undefined {
  if (body && typeof body === 'object') return body as StatusBody;
  if (typeof body !== 'string' || body === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed && typeof parsed === 'object' ? (parsed as StatusBody) : undefined;
  } catch {
    return { message: body.slice(0, 300) };
  }
}

/** Retry-After is seconds (or an HTTP date); the Status body may carry retryAfterSeconds too. */
export function parseRetryAfter(header: string | undefined, status: StatusBody | undefined, now = Date.now()): number | undefined {
  const fromHeader = parseRetryAfterHeader(header, now);
  if (fromHeader !== undefined) return fromHeader;
  const fromBody = status?.details?.retryAfterSeconds;
  return typeof fromBody === 'number' && fromBody >= 0 ? fromBody * 1000 : undefined;
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? String(v[0]) : String(v);
  }
  return undefined;
}

/**
 * Classify whatever a call threw: a client-node `ApiException` (has `code`, `body`, `headers`),
 * a fetch/socket error (has `code` like ECONNRESET, or `type: 'system'`), an abort (timeout), or a
 * WebSocket handshake failure: the error event of a refused upgrade, whose `error` carries the
 * apiserver's answer (port-forward.ts keeps it), or only "Unexpected server response: 403".
 */
export function classifyKubeError(err: unknown, target: KubeCallTarget): KubeErrorClass {
  // A WebSocket (port-forward) fails with an error *event*; what failed is its `error`.
  const inner = (err as { type?: unknown; error?: unknown } | null)?.error;
  if ((err as { type?: unknown } | null)?.type === 'error' && inner !== undefined && inner !== null)
    return classifyKubeError(inner, target);
  const what = `${target.verb} ${describeTarget(target)}`;
  const e = (err ?? {}) as {
    code?: unknown;
    body?: unknown;
    headers?: unknown;
    name?: unknown;
    message?: unknown;
    type?: unknown;
    cause?: unknown;
  };
  let status = typeof e.code === 'number' ? e.code : undefined;
  const text = typeof e.message === 'string' ? e.message : String(err);
  // The WebSocket library reports a refused upgrade only in its message.
  const ws = /Unexpected server response: (\d{3})/.exec(text);
  if (status === undefined && ws) status = Number(ws[1]);

  if (status === undefined) {
    if (e.name === 'AbortError' || e.name === 'TimeoutError' || /aborted|timed? ?out/i.test(text)) {
      return { type: KubeErrorType.timeout, retryable: true, message: `${what}: no answer within the client timeout` };
    }
    const code =
      typeof e.code === 'string'
        ? e.code
        : typeof (e.cause as { code?: unknown } | undefined)?.code === 'string'
          ? String((e.cause as { code: string }).code)
          : undefined;
    if ((code && NETWORK_CODES.has(code)) || e.type === 'system' || /socket hang up|network|ECONN|EPIPE/i.test(text)) {
      return {
        type: KubeErrorType.network,
        retryable: true,
        message: `${what}: the API server could not be reached (${code ?? text.split('\n')[0]})`,
      };
    }
    // Anything else without a status failed inside the client (e.g. "HTTP protocol is not allowed
    // when skipTLSVerify is not set", an unreadable certificate): repeating it repeats it.
    return { type: KubeErrorType.client, retryable: false, message: `${what}: ${text.split('\n')[0]}` };
  }

  const body = parseStatus(e.body);
  const serverMsg = body?.message ? `: ${body.message}` : '';
  const reason = body?.reason;
  if (status === 401) {
    return {
      type: KubeErrorType.unauthorized,
      retryable: false,
      status,
      message: `${what}: the API server rejected the credentials (401); check the kubeconfig user and that its token or certificate is still valid`,
    };
  }
  if (status === 403) {
    return {
      type: KubeErrorType.forbidden,
      retryable: false,
      status,
      message: `${what} is forbidden (403); missing permission: ${missingPermission(target)}${serverMsg}`,
    };
  }
  if (status === 404) {
    return { type: KubeErrorType.notFound, retryable: false, status, message: `${describeTarget(target)} not found${serverMsg}` };
  }
  if (status === 409) {
    if (reason === 'AlreadyExists')
      return { type: KubeErrorType.alreadyExists, retryable: false, status, message: `${describeTarget(target)} already exists` };
    return {
      type: KubeErrorType.conflict,
      retryable: true,
      status,
      message: `${what}: conflict (409), the object changed meanwhile; re-read and retry${serverMsg}`,
    };
  }
  if (status === 422) {
    const causes = body?.details?.causes?.map((c) => `${c.field ?? ''} ${c.message ?? ''}`.trim()).join('; ');
    return {
      type: KubeErrorType.invalid,
      retryable: false,
      status,
      message: `${what} was rejected as invalid (422)${serverMsg}${causes ? ` [${causes}]` : ''}`,
    };
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headerValue(e.headers, 'retry-after'), body);
    return {
      type: KubeErrorType.throttled,
      retryable: true,
      status,
      retryAfterMs,
      message: `${what}: throttled by the API server (429)${retryAfterMs !== undefined ? `, retry after ${Math.ceil(retryAfterMs / 1000)}s` : ''}`,
    };
  }
  if (status >= 500) {
    const retryAfterMs = parseRetryAfter(headerValue(e.headers, 'retry-after'), body);
    return {
      type: KubeErrorType.serverError,
      retryable: true,
      status,
      retryAfterMs,
      message: `${what}: server error ${status}${serverMsg}`,
    };
  }
  if (status === 408) return { type: KubeErrorType.timeout, retryable: true, status, message: `${what}: server-side timeout (408)` };
  return { type: KubeErrorType.badRequest, retryable: false, status, message: `${what}: rejected (${status})${serverMsg}` };
}

/** Marks an error already turned into an ApplicationFailure by this layer (so nobody wraps twice). */
export function isKubeFailure(err: unknown): err is ApplicationFailure {
  return err instanceof ApplicationFailure && typeof err.type === 'string' && err.type.startsWith('Kube');
}

/** A 409 Conflict as the access layer reports it: the object changed since it was read. */
export function isKubeConflict(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.type === KubeErrorType.conflict;
}

/** Reads, then writes what the read decides, at most this many times when another writer came first. */
const CONFLICT_ATTEMPTS = 5;

/**
 * Runs `readAndWrite` again after a 409 Conflict (someone changed the object between its read and
 * its write): it re-reads and decides again, up to five times in all.
 */
export function retryOnKubeConflict<T>(readAndWrite: () => Promise<T>): Promise<T> {
  return retryOnConflict(readAndWrite, isKubeConflict, CONFLICT_ATTEMPTS);
}

export function kubeFailure(c: KubeErrorClass, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: c.type,
    message: c.message,
    nonRetryable: !c.retryable,
    // Temporal uses this instead of its backoff for this attempt: honours the server's Retry-After.
    nextRetryDelay: c.retryable && c.retryAfterMs !== undefined ? Math.max(c.retryAfterMs, 100) : undefined,
    details: [{ status: c.status ?? null }],
    cause: cause instanceof Error ? cause : undefined,
  });
}

/** For objects the activity cannot do without: absent → a non-retryable KubeNotFound. */
export function mustExist<T>(value: T | undefined, target: Omit<KubeCallTarget, 'verb'>, hint?: string): T {
  if (value !== undefined) return value;
  throw ApplicationFailure.create({
    type: KubeErrorType.notFound,
    message: `${describeTarget({ ...target, verb: 'get' })} not found${hint ? `: ${hint}` : ''}`,
    nonRetryable: true,
  });
}
