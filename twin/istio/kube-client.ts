// How the Istio layer talks to the cluster: only the Kubernetes API through @kubernetes/client-node,
// exactly as it would against a real kube-apiserver. Calls retry what a controller retries
// (throttling, server errors, dropped connections), so the twin's own components survive the fault
// injection the API server applies to everyone.
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

/** Worth retrying: throttling, conflicts on optimistic updates, server errors, no answer at all. */
export function isTransient(err: unknown): boolean {
  const s = statusOf(err);
  if (s === undefined) return true;
  return s === 429 || s === 409 || s >= 500;
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  /** Stop retrying when this returns true (the component is closing). */
  stopped?: () => boolean;
  retryIf?: (err: unknown) => boolean;
}

export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 10;
  const base = opts.baseDelayMs ?? 25;
  const retryIf = opts.retryIf ?? isTransient;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !retryIf(err) || opts.stopped?.()) throw err;
      const retryAfter = err instanceof ApiException ? Number(err.headers['retry-after']) : NaN;
      const delay = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 2000) : Math.min(base * 2 ** (i - 1), 1000);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Create, or leave alone what already exists (for objects the twin seeds once). */
export async function createIfMissing(create: () => Promise<unknown>, opts: RetryOptions = {}): Promise<'created' | 'existed'> {
  try {
    await retrying(create, { ...opts, retryIf: (e) => !isAlreadyExists(e) && (opts.retryIf ?? isTransient)(e) });
    return 'created';
  } catch (err) {
    if (isAlreadyExists(err)) return 'existed';
    throw err;
  }
}
