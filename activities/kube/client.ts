// The real KubeAccess: @kubernetes/client-node 1.4 behind one `call` that rate-limits, times out,
// retries what is transient (a few times, in-process, so the CLI is as robust as an activity) and
// turns everything else into a classified ApplicationFailure. Nothing here shells out to kubectl.
import http from 'node:http';
import https from 'node:https';
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
  type V1ConfigMap,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { keepConnections } from './agents.js';
import { resendableStatus, withRetries, type FailedAttempt } from '../../kube-retry/retry.js';
import {
  classifyKubeError,
  describeTarget,
  isKubeFailure,
  kubeFailure,
  KubeErrorType,
  type KubeCallTarget,
  type KubeErrorClass,
} from './errors.js';
import { PortForwarder, type OpenForward } from './port-forward.js';
import { DEFAULT_RATE_LIMIT, TokenBucket, type RateLimitOptions } from './rate-limit.js';
import type {
  CustomResourceRef,
  DeleteOutcome,
  HttpResult,
  KubeAccess,
  KubeObject,
  KubeWatch,
  ListOptions,
  PatchType,
  PodRef,
  WatchEventType,
  WorkloadByKind,
  WorkloadKind,
} from './types.js';
import { ApplicationFailure } from '@temporalio/common';

export interface KubeAccessOptions {
  /** Path of a kubeconfig file; absent = the default ($KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Context to use; absent = the kubeconfig's current context. */
  context?: string;
  rateLimit?: RateLimitOptions;
  /** Client-side timeout of one request (ms). */
  requestTimeoutMs?: number;
  /** Attempts per call for retryable errors before the failure goes to Temporal (1 = no in-process retry). */
  attempts?: number;
  /** Longest in-process wait between attempts; a longer Retry-After is left to Temporal's nextRetryDelay. */
  maxInProcessDelayMs?: number;
  /** Page size of list calls (the apiserver's `limit`/`continue`). */
  pageSize?: number;
  logger?: Logger;
}

/**
 * What one API request came to: an HTTP status when the server answered, else the error type
 * (KubeNetwork, KubeTimeout...). A watch is reported when it is opened.
 */
export interface KubeRequestOutcome {
  verb: string;
  /** The request succeeded (2xx; for a watch: it was opened). */
  ok: boolean;
  status?: number;
  errorType?: string;
}
let kubeRequestObserver: ((outcome: KubeRequestOutcome) => void) | undefined;
/** One process-wide observer of every API request (the worker's metrics); undefined removes it. Keep it cheap: it runs per request. */
export function observeKubeRequests(observer: ((outcome: KubeRequestOutcome) => void) | undefined): void {
  kubeRequestObserver = observer;
}
function reportKubeRequest(outcome: KubeRequestOutcome): void {
  try {
    kubeRequestObserver?.(outcome);
  } catch {
    // an observer's bug must not fail a request
  }
}

/** Istio's debug/monitoring port on istiod (facts §6). */
export const ISTIOD_DEBUG_PORT = 15014;
/** How long an unused port-forward to istiod stays open. */
const ISTIOD_FORWARD_IDLE_MS = 30_000;
/** How long a list of a revision's istiod pods is reused. */
const ISTIOD_POD_CACHE_MS = 5_000;

interface DebugForward {
  forward: Promise<OpenForward>;
  agent: http.Agent;
  idle?: NodeJS.Timeout;
}

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: PatchStrategy.MergePatch,
  strategic: PatchStrategy.StrategicMergePatch,
  json: PatchStrategy.JsonPatch,
};

/** Load a kubeconfig and pick the context; a missing context is bad input, not a transient error. */
export function loadKubeConfig(opts: Pick<KubeAccessOptions, 'kubeconfig' | 'context'>): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw ApplicationFailure.create({
      type: KubeErrorType.config,
      nonRetryable: true,
      message: `cannot load the kubeconfig ${opts.kubeconfig ?? '(default)'}: ${(err as Error).message}`,
      cause: err as Error,
    });
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw ApplicationFailure.create({
        type: KubeErrorType.config,
        nonRetryable: true,
        message: `context "${opts.context}" is not in the kubeconfig ${opts.kubeconfig ?? '(default)'}; it has: ${known.join(', ') || 'none'}`,
      });
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) {
    throw ApplicationFailure.create({
      type: KubeErrorType.config,
      nonRetryable: true,
      message: `the kubeconfig ${opts.kubeconfig ?? '(default)'} has no cluster for context "${kc.getCurrentContext()}"`,
    });
  }
  return keepConnections(kc);
}

export function createKubeAccess(opts: KubeAccessOptions = {}): KubeAccess {
  return new ClientKubeAccess(loadKubeConfig(opts), opts);
}

/**
 * One failed request as call() sees it: an ApplicationFailure a nested call already classified
 * passes through as it is (kube undefined); anything else is classified here, once.
 */
function failedRequest(err: unknown, target: KubeCallTarget): FailedAttempt & { kube?: KubeErrorClass } {
  if (isKubeFailure(err)) return { resend: false };
  const kube = classifyKubeError(err, target);
  // With an answer, HTTP's rule decides (a 409 is retryable for Temporal, whose retry re-reads,
  // but never resent here); without one, the classification does (a timeout yes, a client bug no).
  const resend = kube.status !== undefined ? resendableStatus(kube.status) : kube.retryable;
  return { resend, retryAfterMs: kube.retryAfterMs, kube };
}

interface Page<T> {
  items: T[];
  metadata?: { _continue?: string; continue?: string };
}

export class ClientKubeAccess implements KubeAccess {
  readonly contextName: string;
  readonly server: string;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly apiext: ApiextensionsV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly bucket: TokenBucket;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxDelayMs: number;
  private readonly pageSize: number;
  private readonly forwarder: PortForwarder;
  private readonly debugForwards = new Map<string, DebugForward>();
  private readonly istiodPodCache = new Map<string, { at: number; pods: Promise<V1Pod[]> }>();
  /** Requests sent, by verb: lets tests and benchmarks show the API is used economically. */
  readonly requestCounts: Record<string, number> = {};

  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly opts: KubeAccessOptions = {},
  ) {
    this.contextName = kubeConfig.getCurrentContext();
    this.server = kubeConfig.getCurrentCluster()?.server ?? '';
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.batch = kubeConfig.makeApiClient(BatchV1Api);
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.apiext = kubeConfig.makeApiClient(ApiextensionsV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.bucket = new TokenBucket(opts.rateLimit ?? DEFAULT_RATE_LIMIT);
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.attempts = Math.max(1, opts.attempts ?? 4);
    this.maxDelayMs = opts.maxInProcessDelayMs ?? 5_000;
    this.pageSize = opts.pageSize ?? 500;
    this.forwarder = new PortForwarder(kubeConfig, (t, fn) => this.call(t, () => fn()));
  }

  /** Per-request options: a client-side timeout (an AbortSignal set in a middleware) plus `extra`. */
  private requestOptions(extra?: ConfigurationOptions): ConfigurationOptions {
    const timeoutMs = this.timeoutMs;
    const timeout = {
      pre: (ctx: RequestContext) => {
        ctx.setSignal(AbortSignal.timeout(timeoutMs));
        return new Observable(Promise.resolve(ctx));
      },
      post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
    };
    return { ...extra, middleware: [...(extra?.middleware ?? []), timeout], middlewareMergeStrategy: 'append' };
  }

  /**
   * Every request goes through here. What is safe to send again unchanged (kube-retry's rules: no
   * answer, 408, 429, 5xx) is retried in-process up to `attempts` times with backoff (Retry-After
   * when the server gave one, if short); then, like every other failure, it leaves as an
   * ApplicationFailure whose type and retryability Temporal acts on. A 409 Conflict is not resent:
   * the object changed since the caller read it, so the caller re-reads and decides again. Safe
   * for mutations because every mutation meshmove makes is idempotent: merge patches set absolute
   * values and deletes treat "already gone" as done.
   */
  async call<T>(target: KubeCallTarget, fn: () => Promise<T>): Promise<T> {
    return withRetries(
      async () => {
        await this.bucket.acquire();
        this.requestCounts[target.verb] = (this.requestCounts[target.verb] ?? 0) + 1;
        const result = await fn();
        reportKubeRequest({ verb: target.verb, ok: true });
        return result;
      },
      {
        attempts: this.attempts,
        baseDelayMs: 200,
        maxBackoffMs: 2_000,
        maxDelayMs: this.maxDelayMs,
        classify: (err) => failedRequest(err, target),
        onFailure: (err, { kube }, attempt, retryInMs) => {
          reportKubeRequest(
            kube
              ? { verb: target.verb, ok: false, ...(kube.status !== undefined ? { status: kube.status } : {}), errorType: kube.type }
              : { verb: target.verb, ok: false, errorType: (err as ApplicationFailure).type ?? undefined },
          );
          if (kube && retryInMs !== undefined)
            this.opts.logger?.warn(
              { target: describeTarget(target), verb: target.verb, errorType: kube.type, status: kube.status, attempt, delayMs: retryInMs },
              'kube call failed, retrying',
            );
        },
        giveUp: (err, { kube }) => (kube ? kubeFailure(kube, err) : err),
      },
    );
  }

  /** A create where "already exists" returns the object that is there (created=false) instead of failing. */
  private async createOrExisting<T>(
    target: KubeCallTarget,
    create: () => Promise<T>,
    get: () => Promise<T | undefined>,
  ): Promise<{ object: T; created: boolean }> {
    try {
      return { object: await this.call(target, create), created: true };
    } catch (err) {
      if (isKubeFailure(err) && err.type === KubeErrorType.alreadyExists && target.name) {
        const existing = await get();
        if (existing) return { object: existing, created: false };
      }
      throw err;
    }
  }

  /** A GET where absence is an answer, not an error. */
  private async getOrUndefined<T>(target: KubeCallTarget, fn: (o: ConfigurationOptions) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(target, () => fn(this.requestOptions()));
    } catch (err) {
      if (isKubeFailure(err) && err.type === KubeErrorType.notFound) return undefined;
      throw err;
    }
  }

  private async deleteIdempotent(target: KubeCallTarget, fn: (o: ConfigurationOptions) => Promise<unknown>): Promise<DeleteOutcome> {
    try {
      await this.call(target, () => fn(this.requestOptions()));
      return 'deleted';
    } catch (err) {
      if (isKubeFailure(err) && err.type === KubeErrorType.notFound) return 'absent';
      throw err;
    }
  }

  /** Lists in pages (`limit`/`continue`) so a 10,000-pod cluster is not one giant response. */
  private async listAll<T>(
    target: KubeCallTarget,
    page: (cont: string | undefined, limit: number, o: ConfigurationOptions) => Promise<Page<T>>,
  ): Promise<T[]> {
    const out: T[] = [];
    let cont: string | undefined;
    do {
      const res = await this.call(target, () => page(cont, this.pageSize, this.requestOptions()));
      out.push(...(res.items ?? []));
      cont = res.metadata?._continue ?? res.metadata?.continue ?? undefined;
      if (cont === '') cont = undefined;
    } while (cont);
    return out;
  }

  private patchOptions(type: PatchType): ConfigurationOptions {
    return this.requestOptions(setHeaderOptions('Content-Type', PATCH_CONTENT_TYPE[type]));
  }

  // ---- core/v1

  getNamespace(name: string) {
    return this.getOrUndefined({ verb: 'get', resource: 'namespaces', group: '', name }, (o) => this.core.readNamespace({ name }, o));
  }

  listNamespaces(opts: ListOptions = {}) {
    return this.listAll({ verb: 'list', resource: 'namespaces', group: '' }, (_continue, limit, o) =>
      this.core.listNamespace({ ...opts, _continue, limit }, o),
    );
  }

  patchNamespace(name: string, patch: object, type: PatchType = 'merge') {
    return this.call({ verb: 'patch', resource: 'namespaces', group: '', name }, () =>
      this.core.patchNamespace({ name, body: patch }, this.patchOptions(type)),
    );
  }

  getConfigMap(namespace: string, name: string) {
    return this.getOrUndefined({ verb: 'get', resource: 'configmaps', group: '', namespace, name }, (o) =>
      this.core.readNamespacedConfigMap({ namespace, name }, o),
    );
  }

  listConfigMaps(namespace: string | undefined, opts: ListOptions = {}) {
    return this.listAll({ verb: 'list', resource: 'configmaps', group: '', namespace }, (_continue, limit, o) =>
      namespace
        ? this.core.listNamespacedConfigMap({ namespace, ...opts, _continue, limit }, o)
        : this.core.listConfigMapForAllNamespaces({ ...opts, _continue, limit }, o),
    );
  }

  async createConfigMap(namespace: string, cm: V1ConfigMap): Promise<{ configMap: V1ConfigMap; created: boolean }> {
    const name = cm.metadata?.name;
    // A retried create whose first attempt did land, or an object of that name from before: the caller decides.
    const r = await this.createOrExisting(
      { verb: 'create', resource: 'configmaps', group: '', namespace, name },
      () => this.core.createNamespacedConfigMap({ namespace, body: cm }, this.requestOptions()),
      () => this.getConfigMap(namespace, name!),
    );
    return { configMap: r.object, created: r.created };
  }

  replaceConfigMap(namespace: string, name: string, cm: V1ConfigMap) {
    return this.call({ verb: 'update', resource: 'configmaps', group: '', namespace, name }, () =>
      this.core.replaceNamespacedConfigMap({ namespace, name, body: cm }, this.requestOptions()),
    );
  }

  deleteConfigMap(namespace: string, name: string) {
    return this.deleteIdempotent({ verb: 'delete', resource: 'configmaps', group: '', namespace, name }, (o) =>
      this.core.deleteNamespacedConfigMap({ namespace, name }, o),
    );
  }

  watchConfigMaps(
    namespace: string,
    opts: ListOptions & { resourceVersion?: string },
    onEvent: (type: WatchEventType, cm: V1ConfigMap) => void,
  ): Promise<KubeWatch> {
    return this.watch(
      { verb: 'watch', resource: 'configmaps', group: '', namespace },
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
      opts,
      onEvent,
    );
  }

  watchWorkloads<K extends WorkloadKind>(
    kind: K,
    namespace: string,
    opts: ListOptions & { resourceVersion?: string },
    onEvent: (type: WatchEventType, w: WorkloadByKind[K]) => void,
  ): Promise<KubeWatch> {
    const resource = workloadResource(kind);
    return this.watch(
      { verb: 'watch', resource, group: 'apps', namespace },
      `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`,
      opts,
      onEvent,
    );
  }

  private async watch<T>(
    target: KubeCallTarget,
    path: string,
    opts: ListOptions & { resourceVersion?: string },
    onEvent: (type: WatchEventType, obj: T) => void,
  ): Promise<KubeWatch> {
    await this.bucket.acquire();
    this.requestCounts.watch = (this.requestCounts.watch ?? 0) + 1;
    const params: Record<string, string | boolean> = { allowWatchBookmarks: true };
    if (opts.labelSelector) params.labelSelector = opts.labelSelector;
    if (opts.fieldSelector) params.fieldSelector = opts.fieldSelector;
    if (opts.resourceVersion) params.resourceVersion = opts.resourceVersion;
    let settle!: (err: Error | undefined) => void;
    const ended = new Promise<Error | undefined>((r) => {
      settle = r;
    });
    let status: { code?: number; message?: string } | undefined;
    const controller = await new Watch(this.kubeConfig).watch(
      path,
      params,
      (type: string, obj: unknown) => {
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') onEvent(type, obj as T);
        else if (type === 'ERROR') status = obj as typeof status;
      },
      (err: unknown) => {
        // client-node reports a refused watch as an Error with statusCode; an ERROR event carries a Status.
        const code = (err as { statusCode?: unknown } | null)?.statusCode ?? status?.code;
        if (err || status) {
          const e = err as { message?: string } | null;
          const c = classifyKubeError({ code, message: status?.message ?? e?.message ?? String(err) }, target);
          reportKubeRequest({ verb: target.verb, ok: false, ...(c.status !== undefined ? { status: c.status } : {}), errorType: c.type });
          settle(kubeFailure(c, err));
        } else settle(undefined);
      },
    );
    reportKubeRequest({ verb: target.verb, ok: true });
    return { stop: () => controller.abort(), ended };
  }

  getPod(namespace: string, name: string) {
    return this.getOrUndefined({ verb: 'get', resource: 'pods', group: '', namespace, name }, (o) =>
      this.core.readNamespacedPod({ namespace, name }, o),
    );
  }

  listPods(namespace: string | undefined, opts: ListOptions = {}) {
    return this.listAll({ verb: 'list', resource: 'pods', group: '', namespace }, (_continue, limit, o) =>
      namespace
        ? this.core.listNamespacedPod({ namespace, ...opts, _continue, limit }, o)
        : this.core.listPodForAllNamespaces({ ...opts, _continue, limit }, o),
    );
  }

  readPodLog(namespace: string, name: string, container?: string) {
    return this.call({ verb: 'log', resource: 'pods', group: '', namespace, name, subresource: 'log' }, () =>
      this.core.readNamespacedPodLog({ namespace, name, container }, this.requestOptions()),
    );
  }

  getService(namespace: string, name: string) {
    return this.getOrUndefined({ verb: 'get', resource: 'services', group: '', namespace, name }, (o) =>
      this.core.readNamespacedService({ namespace, name }, o),
    );
  }

  listServices(namespace: string | undefined, opts: ListOptions = {}) {
    return this.listAll({ verb: 'list', resource: 'services', group: '', namespace }, (_continue, limit, o) =>
      namespace
        ? this.core.listNamespacedService({ namespace, ...opts, _continue, limit }, o)
        : this.core.listServiceForAllNamespaces({ ...opts, _continue, limit }, o),
    );
  }

  deleteService(namespace: string, name: string) {
    return this.deleteIdempotent({ verb: 'delete', resource: 'services', group: '', namespace, name }, (o) =>
      this.core.deleteNamespacedService({ namespace, name }, o),
    );
  }

  async proxyServiceGet(namespace: string, service: string, port: number | string, path: string): Promise<HttpResult> {
    const rel = path.startsWith('/') ? path : `/${path}`;
    const url = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(`${service}:${port}`)}/proxy${rel}`;
    const target: KubeCallTarget = {
      verb: 'proxy',
      resource: 'services',
      group: '',
      namespace,
      name: `${service}:${port}`,
      subresource: 'proxy',
    };
    // The proxied service's own status (e.g. a 503 from the app) is the answer, not an API error:
    // only a failure to reach the apiserver is classified.
    return this.call(target, () => this.rawGet(url));
  }

  /** GET a raw API path with the kubeconfig's credentials and TLS, returning status and body. */
  private async rawGet(path: string): Promise<HttpResult> {
    const base = new URL(this.server);
    const opts: https.RequestOptions = { method: 'GET', headers: { accept: '*/*' }, timeout: this.timeoutMs };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const lib = base.protocol === 'https:' ? https : http;
    const basePath = base.pathname.replace(/\/$/, '');
    return new Promise<HttpResult>((resolve, reject) => {
      const req = lib.request(
        { ...opts, protocol: base.protocol, hostname: base.hostname, port: base.port, path: `${basePath}${path}` },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { name: 'TimeoutError' })));
      req.on('error', reject);
      req.end();
    });
  }

  // ---- apps/v1

  getWorkload<K extends WorkloadKind>(kind: K, namespace: string, name: string): Promise<WorkloadByKind[K] | undefined> {
    const t: KubeCallTarget = { verb: 'get', resource: workloadResource(kind), group: 'apps', namespace, name };
    return this.getOrUndefined(t, (o) => {
      switch (kind) {
        case 'Deployment':
          return this.apps.readNamespacedDeployment({ namespace, name }, o);
        case 'StatefulSet':
          return this.apps.readNamespacedStatefulSet({ namespace, name }, o);
        default:
          return this.apps.readNamespacedDaemonSet({ namespace, name }, o);
      }
    }) as Promise<WorkloadByKind[K] | undefined>;
  }

  listWorkloads<K extends WorkloadKind>(kind: K, namespace: string | undefined, opts: ListOptions = {}): Promise<WorkloadByKind[K][]> {
    const t: KubeCallTarget = { verb: 'list', resource: workloadResource(kind), group: 'apps', namespace };
    return this.listAll(t, (_continue, limit, o): Promise<Page<WorkloadByKind[K]>> => {
      const q = { ...opts, _continue, limit };
      switch (kind) {
        case 'Deployment':
          return (
            namespace ? this.apps.listNamespacedDeployment({ namespace, ...q }, o) : this.apps.listDeploymentForAllNamespaces(q, o)
          ) as Promise<Page<WorkloadByKind[K]>>;
        case 'StatefulSet':
          return (
            namespace ? this.apps.listNamespacedStatefulSet({ namespace, ...q }, o) : this.apps.listStatefulSetForAllNamespaces(q, o)
          ) as Promise<Page<WorkloadByKind[K]>>;
        default:
          return (
            namespace ? this.apps.listNamespacedDaemonSet({ namespace, ...q }, o) : this.apps.listDaemonSetForAllNamespaces(q, o)
          ) as Promise<Page<WorkloadByKind[K]>>;
      }
    });
  }

  patchWorkload<K extends WorkloadKind>(
    kind: K,
    namespace: string,
    name: string,
    patch: object,
    type: PatchType = 'strategic',
  ): Promise<WorkloadByKind[K]> {
    const t: KubeCallTarget = { verb: 'patch', resource: workloadResource(kind), group: 'apps', namespace, name };
    return this.call(t, () => {
      const o = this.patchOptions(type);
      switch (kind) {
        case 'Deployment':
          return this.apps.patchNamespacedDeployment({ namespace, name, body: patch }, o);
        case 'StatefulSet':
          return this.apps.patchNamespacedStatefulSet({ namespace, name, body: patch }, o);
        default:
          return this.apps.patchNamespacedDaemonSet({ namespace, name, body: patch }, o);
      }
    }) as Promise<WorkloadByKind[K]>;
  }

  deleteWorkload(kind: WorkloadKind, namespace: string, name: string) {
    const t: KubeCallTarget = { verb: 'delete', resource: workloadResource(kind), group: 'apps', namespace, name };
    return this.deleteIdempotent(t, (o) => {
      switch (kind) {
        case 'Deployment':
          return this.apps.deleteNamespacedDeployment({ namespace, name }, o);
        case 'StatefulSet':
          return this.apps.deleteNamespacedStatefulSet({ namespace, name }, o);
        default:
          return this.apps.deleteNamespacedDaemonSet({ namespace, name }, o);
      }
    });
  }

  // ---- batch/v1

  async createJob(namespace: string, job: V1Job): Promise<{ job: V1Job; created: boolean }> {
    const name = job.metadata?.name;
    // A retried create whose first attempt did land: the Job is there, which is what we wanted.
    const r = await this.createOrExisting(
      { verb: 'create', resource: 'jobs', group: 'batch', namespace, name },
      () => this.batch.createNamespacedJob({ namespace, body: job }, this.requestOptions()),
      () => this.getJob(namespace, name!),
    );
    return { job: r.object, created: r.created };
  }

  getJob(namespace: string, name: string) {
    return this.getOrUndefined({ verb: 'get', resource: 'jobs', group: 'batch', namespace, name }, (o) =>
      this.batch.readNamespacedJob({ namespace, name }, o),
    );
  }

  deleteJob(namespace: string, name: string) {
    // Background propagation removes the Job's pods too (the default for Jobs orphans them).
    return this.deleteIdempotent({ verb: 'delete', resource: 'jobs', group: 'batch', namespace, name }, (o) =>
      this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }, o),
    );
  }

  // ---- admissionregistration.k8s.io/v1

  listMutatingWebhookConfigurations(opts: ListOptions = {}) {
    return this.listAll(
      { verb: 'list', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io' },
      (_continue, limit, o) => this.admission.listMutatingWebhookConfiguration({ ...opts, _continue, limit }, o),
    );
  }

  getMutatingWebhookConfiguration(name: string) {
    return this.getOrUndefined(
      { verb: 'get', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name },
      (o) => this.admission.readMutatingWebhookConfiguration({ name }, o),
    );
  }

  deleteMutatingWebhookConfiguration(name: string) {
    return this.deleteIdempotent(
      { verb: 'delete', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name },
      (o) => this.admission.deleteMutatingWebhookConfiguration({ name }, o),
    );
  }

  patchMutatingWebhookConfiguration(name: string, patch: object, type: PatchType = 'merge') {
    return this.call({ verb: 'patch', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name }, () =>
      this.admission.patchMutatingWebhookConfiguration({ name, body: patch }, this.patchOptions(type)),
    );
  }

  listValidatingWebhookConfigurations(opts: ListOptions = {}) {
    return this.listAll(
      { verb: 'list', resource: 'validatingwebhookconfigurations', group: 'admissionregistration.k8s.io' },
      (_continue, limit, o) => this.admission.listValidatingWebhookConfiguration({ ...opts, _continue, limit }, o),
    );
  }

  patchValidatingWebhookConfiguration(name: string, patch: object, type: PatchType = 'merge') {
    return this.call({ verb: 'patch', resource: 'validatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name }, () =>
      this.admission.patchValidatingWebhookConfiguration({ name, body: patch }, this.patchOptions(type)),
    );
  }

  // ---- apiextensions.k8s.io/v1

  listCustomResourceDefinitions(opts: ListOptions = {}) {
    return this.listAll({ verb: 'list', resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io' }, (_continue, limit, o) =>
      this.apiext.listCustomResourceDefinition({ ...opts, _continue, limit }, o),
    );
  }

  // ---- custom objects

  async listCustomObjects(ref: CustomResourceRef, namespace: string | undefined, opts: ListOptions = {}): Promise<KubeObject[]> {
    const t: KubeCallTarget = { verb: 'list', resource: ref.plural, group: ref.group, namespace };
    try {
      return await this.listAll<KubeObject>(t, (_continue, limit, o) => {
        const q = { group: ref.group, version: ref.version, plural: ref.plural, ...opts, _continue, limit };
        return (
          namespace ? this.custom.listNamespacedCustomObject({ ...q, namespace }, o) : this.custom.listCustomObjectForAllNamespaces(q, o)
        ) as Promise<Page<KubeObject>>;
      });
    } catch (err) {
      // The type is not served (its CRD is not installed): there are none of it.
      if (isKubeFailure(err) && err.type === KubeErrorType.notFound) return [];
      throw err;
    }
  }

  getCustomObject(ref: CustomResourceRef, namespace: string, name: string) {
    return this.getOrUndefined(
      { verb: 'get', resource: ref.plural, group: ref.group, namespace, name },
      (o) =>
        this.custom.getNamespacedCustomObject(
          { group: ref.group, version: ref.version, plural: ref.plural, namespace, name },
          o,
        ) as Promise<KubeObject>,
    );
  }

  // ---- istiod debug

  withPortForward<T>(pod: PodRef, port: number, fn: (localPort: number) => Promise<T>): Promise<T> {
    return this.forwarder.withPortForward(pod, port, fn);
  }

  /** Running istiod pods of a revision, by name (istioctl's selection: app=istiod + istio.io/rev). */
  async istiodPods(revision: string, namespace: string): Promise<V1Pod[]> {
    // Shared for a few seconds by the namespaces verified at the same time; dropped when a
    // port-forward to one of them fails (istiod restarted).
    const key = `${namespace}/${revision}`;
    const cached = this.istiodPodCache.get(key);
    if (cached && Date.now() - cached.at < ISTIOD_POD_CACHE_MS) return cached.pods;
    const pods = this.listIstiodPods(revision, namespace);
    this.istiodPodCache.set(key, { at: Date.now(), pods });
    pods.catch(() => this.istiodPodCache.delete(key));
    return pods;
  }

  private async listIstiodPods(revision: string, namespace: string): Promise<V1Pod[]> {
    const pods = await this.listPods(namespace, {
      labelSelector: `app=istiod,istio.io/rev=${revision}`,
      fieldSelector: 'status.phase=Running',
    });
    return (
      pods
        // A pod being deleted still reports Running for its grace period; it may not answer.
        .filter((p) => !p.metadata?.deletionTimestamp)
        .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    );
  }

  async readIstiodDebug(revision: string, namespace: string, path: string): Promise<string> {
    const pods = await this.istiodPods(revision, namespace);
    const pod = pods[0];
    if (!pod?.metadata?.name) throw noIstiod(revision, namespace);
    return this.debugGet({ namespace, name: pod.metadata.name }, path);
  }

  async readIstiodDebugAll(revision: string, namespace: string, path: string): Promise<{ pod: string; body: string }[]> {
    const pods = await this.istiodPods(revision, namespace);
    if (pods.length === 0) throw noIstiod(revision, namespace);
    const out: { pod: string; body: string }[] = [];
    for (const p of pods) {
      const name = p.metadata?.name ?? '';
      out.push({ pod: name, body: await this.debugGet({ namespace, name }, path) });
    }
    return out;
  }

  /**
   * One port-forward per istiod pod, kept while it is used (closed after ISTIOD_FORWARD_IDLE_MS
   * without a request) and shared by every namespace this worker verifies: requests go over
   * keep-alive connections, each connection being one tunnel.
   */
  private debugForward(pod: PodRef): { key: string; entry: DebugForward; reused: boolean } {
    const key = `${pod.namespace}/${pod.name}`;
    let entry = this.debugForwards.get(key);
    const reused = entry !== undefined;
    if (!entry) {
      const e: DebugForward = {
        forward: this.forwarder.open(pod, ISTIOD_DEBUG_PORT),
        agent: new http.Agent({ keepAlive: true, maxSockets: 4 }),
      };
      e.forward.catch(() => this.dropDebugForward(key, e));
      this.debugForwards.set(key, e);
      entry = e;
    }
    if (entry.idle) clearTimeout(entry.idle);
    const e = entry;
    entry.idle = setTimeout(() => this.dropDebugForward(key, e), ISTIOD_FORWARD_IDLE_MS);
    entry.idle.unref();
    return { key, entry, reused };
  }

  private dropDebugForward(key: string, entry: DebugForward): void {
    if (this.debugForwards.get(key) === entry) this.debugForwards.delete(key);
    if (entry.idle) clearTimeout(entry.idle);
    entry.agent.destroy();
    entry.forward.then(
      (f) => f.close(),
      () => undefined,
    );
  }

  private async debugGet(pod: PodRef, path: string): Promise<string> {
    let res: HttpResult;
    for (let attempt = 1; ; attempt++) {
      const { key, entry, reused } = this.debugForward(pod);
      try {
        const f = await entry.forward;
        res = await localGet(f.localPort, path, this.timeoutMs, entry.agent).catch((err: unknown) => Promise.reject(f.error() ?? err));
        break;
      } catch (err) {
        this.dropDebugForward(key, entry);
        this.istiodPodCache.clear();
        // A forward kept from earlier requests may have gone stale: one more try on a fresh one.
        if (reused && attempt === 1) continue;
        throw err;
      }
    }
    if (res.status !== 200) {
      // istiod answering non-200 (e.g. 404 for an unknown debug path) will not change on retry.
      throw ApplicationFailure.create({
        type: KubeErrorType.portForward,
        nonRetryable: res.status >= 400 && res.status < 500,
        message: `GET ${path} on istiod pod ${pod.namespace}/${pod.name}:${ISTIOD_DEBUG_PORT} answered ${res.status}: ${res.body.slice(0, 200)}`,
      });
    }
    return res.body;
  }
}

function workloadResource(kind: WorkloadKind): string {
  return kind === 'Deployment' ? 'deployments' : kind === 'StatefulSet' ? 'statefulsets' : 'daemonsets';
}

function noIstiod(revision: string, namespace: string): ApplicationFailure {
  // Retryable: istiod may be restarting; Temporal's policy bounds how long we wait for it.
  return ApplicationFailure.create({
    type: KubeErrorType.portForward,
    nonRetryable: false,
    message: `no Running istiod pod with labels app=istiod,istio.io/rev=${revision} in namespace ${namespace}`,
  });
}

/** One HTTP GET to a forwarded loopback port; one connection (no keep-alive), so one stream. */
/** GET on a local port (a port-forward): one connection per request, or the keep-alive `agent`'s. */
export function localGet(port: number, path: string, timeoutMs: number, agent?: http.Agent): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        ...(agent ? { agent } : { agent: false, headers: { connection: 'close' } }),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`GET ${path} through port-forward timed out`), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end();
  });
}
