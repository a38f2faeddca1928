// How the Istio layer talks to the cluster: only the Kubernetes API through @kubernetes/client-node,
// exactly as it would against a real kube-apiserver. Calls retry what a controller retries
// (throttling, server errors, dropped connections) and writers re-run on a conflict, so the twin's
// own components survive the fault injection the API server applies to everyone.
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parseRetryAfterHeader, resendableStatus, retryOnConflict, withRetries } from '../../kube-retry/retry.js';

export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeClients {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly admission: AdmissionregistrationV1Api;
  readonly custom: CustomObjectsApi;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  static fromKubeconfigYaml(yaml: string): KubeClients {
    const kc = new KubeConfig();
    kc.loadFromString(yaml);
    return new KubeClients(kc);
  }
}

/** The HTTP status of a failed client-node call, if the server answered. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  return statusOf(err) === 409 && /AlreadyExists|already exists/.test(String((err as { body?: unknown }).body ?? (err as Error).message));
}

/** A 409 Conflict (not AlreadyExists): another writer changed the object since it was read. */
function isConflict(err: unknown): boolean {
  return statusOf(err) === 409 && !isAlreadyExists(err);
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  /** Stop retrying when this returns true (the component is closing). */
  stopped?: () => boolean;
}

/** The longest Retry-After a twin component waits for: a controller keeps trying, it does not give up. */
const MAX_RETRY_AFTER_MS = 2_000;

/**
 * One request with the retries a controller makes, by kube-retry's rules (the product's transport
 * uses the same): what is safe to send again unchanged (no answer, 408, 429, 5xx). A conflict is
 * the caller's (`onConflict`).
 */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  return withRetries(fn, {
    attempts: opts.attempts ?? 10,
    baseDelayMs: opts.baseDelayMs ?? 25,
    maxBackoffMs: 1_000,
    classify: (err) => {
      const status = statusOf(err);
      const retryAfterMs = err instanceof ApiException ? parseRetryAfterHeader(err.headers['retry-after']) : undefined;
      return {
        resend: status === undefined || resendableStatus(status),
        retryAfterMs: retryAfterMs ? Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) : undefined,
      };
    },
    ...(opts.stopped ? { stopped: opts.stopped } : {}),
  });
}

/**
 * A write that another writer may race: `readAndWrite` reads what its body depends on (nothing, for
 * a merge patch of absolute values or a create) and writes; a conflict runs it again.
 */
export function onConflict<T>(readAndWrite: (attempt: number) => Promise<T>): Promise<T> {
  return retryOnConflict(readAndWrite, isConflict);
}

/** Create, or leave alone what already exists (for objects the twin seeds once). */
export async function createIfMissing(create: () => Promise<unknown>, opts: RetryOptions = {}): Promise<'created' | 'existed'> {
  try {
    await onConflict(() => retrying(create, opts));
    return 'created';
  } catch (err) {
    if (isAlreadyExists(err)) return 'existed';
    throw err;
  }
}
