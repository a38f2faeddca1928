// The Kubernetes access the activities depend on. Activities take a `KubeAccess`, never a raw
// client, so unit tests inject a fake and every real call goes through one place that rate-limits,
// times out, retries what is transient and classifies what is not (see errors.ts).
import type {
  V1ConfigMap,
  V1CustomResourceDefinition,
  V1DaemonSet,
  V1Deployment,
  V1Job,
  V1MutatingWebhookConfiguration,
  V1Namespace,
  V1Pod,
  V1Service,
  V1StatefulSet,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';

export interface ListOptions {
  /** `?labelSelector=` string form, e.g. `app=istiod,istio.io/rev=istio-1-16-5` (see mesh/labels selectorToString). */
  labelSelector?: string;
  /** `?fieldSelector=`, e.g. `status.phase=Running`. */
  fieldSelector?: string;
}

/** merge = RFC 7386 JSON merge patch (null deletes a key); strategic = Kubernetes strategic merge; json = RFC 6902. */
export type PatchType = 'merge' | 'strategic' | 'json';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
export interface WorkloadByKind {
  Deployment: V1Deployment;
  StatefulSet: V1StatefulSet;
  DaemonSet: V1DaemonSet;
}
export type Workload = V1Deployment | V1StatefulSet | V1DaemonSet;

/** A custom resource type, e.g. `{ group: 'networking.istio.io', version: 'v1beta1', plural: 'virtualservices' }`. */
export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
}

/** Any Kubernetes object as JSON (custom resources have no generated type). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface PodRef {
  namespace: string;
  name: string;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** A watch event's type (BOOKMARK and ERROR are handled inside the watch). */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** An open watch. `ended` resolves when it ends for any reason: undefined when the server closed it normally, else the (classified) error. */
export interface KubeWatch {
  stop(): void;
  readonly ended: Promise<Error | undefined>;
}

/** What a delete found: `absent` when the object was already gone (a rerun is not an error). */
export type DeleteOutcome = 'deleted' | 'absent';

export interface KubeAccess {
  /** The kubeconfig context in use, for messages and to key caches. */
  readonly contextName: string;
  /** The API server URL, for messages. */
  readonly server: string;

  // ---- core/v1
  /** undefined when absent (404); every other error is thrown, classified. */
  getNamespace(name: string): Promise<V1Namespace | undefined>;
  listNamespaces(opts?: ListOptions): Promise<V1Namespace[]>;
  patchNamespace(name: string, patch: object, type?: PatchType): Promise<V1Namespace>;
  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  /** namespace undefined = all namespaces. */
  listConfigMaps(namespace: string | undefined, opts?: ListOptions): Promise<V1ConfigMap[]>;
  /** created=false when a ConfigMap of that name already exists (it is left as it is and returned). */
  createConfigMap(namespace: string, cm: V1ConfigMap): Promise<{ configMap: V1ConfigMap; created: boolean }>;
  /** PUT: the whole object; without metadata.resourceVersion it overwrites whatever is there. */
  replaceConfigMap(namespace: string, name: string, cm: V1ConfigMap): Promise<V1ConfigMap>;
  deleteConfigMap(namespace: string, name: string): Promise<DeleteOutcome>;
  /**
   * Watch one namespace's ConfigMaps (e.g. fieldSelector `metadata.name=X`) for changes after
   * `resourceVersion` (a GET's). Every write arrives as an event with its new resourceVersion.
   * Resolves once the request is sent; a server-side end (timeout, 410 Gone) resolves `ended`:
   * read again and watch anew.
   */
  watchConfigMaps(
    namespace: string,
    opts: ListOptions & { resourceVersion?: string },
    onEvent: (type: WatchEventType, cm: V1ConfigMap) => void,
  ): Promise<KubeWatch>;
  getPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  /** namespace undefined = all namespaces. */
  listPods(namespace: string | undefined, opts?: ListOptions): Promise<V1Pod[]>;
  readPodLog(namespace: string, name: string, container?: string): Promise<string>;
  getService(namespace: string, name: string): Promise<V1Service | undefined>;
  listServices(namespace: string | undefined, opts?: ListOptions): Promise<V1Service[]>;
  deleteService(namespace: string, name: string): Promise<DeleteOutcome>;
  /** GET through the apiserver's service proxy: `/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH`. */
  proxyServiceGet(namespace: string, service: string, port: number | string, path: string): Promise<HttpResult>;

  // ---- apps/v1
  getWorkload<K extends WorkloadKind>(kind: K, namespace: string, name: string): Promise<WorkloadByKind[K] | undefined>;
  listWorkloads<K extends WorkloadKind>(kind: K, namespace: string | undefined, opts?: ListOptions): Promise<WorkloadByKind[K][]>;
  patchWorkload<K extends WorkloadKind>(
    kind: K,
    namespace: string,
    name: string,
    patch: object,
    type?: PatchType,
  ): Promise<WorkloadByKind[K]>;
  /**
   * Watch one namespace's workloads of a kind. Without `resourceVersion` the server first sends
   * every existing one as ADDED, then each change; `ended` resolves when the watch ends: watch anew.
   */
  watchWorkloads<K extends WorkloadKind>(
    kind: K,
    namespace: string,
    opts: ListOptions & { resourceVersion?: string },
    onEvent: (type: WatchEventType, w: WorkloadByKind[K]) => void,
  ): Promise<KubeWatch>;
  deleteWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<DeleteOutcome>;

  // ---- batch/v1
  /** created=false when a Job of that name already exists (the existing one is returned). */
  createJob(namespace: string, job: V1Job): Promise<{ job: V1Job; created: boolean }>;
  getJob(namespace: string, name: string): Promise<V1Job | undefined>;
  deleteJob(namespace: string, name: string): Promise<DeleteOutcome>;

  // ---- admissionregistration.k8s.io/v1
  listMutatingWebhookConfigurations(opts?: ListOptions): Promise<V1MutatingWebhookConfiguration[]>;
  getMutatingWebhookConfiguration(name: string): Promise<V1MutatingWebhookConfiguration | undefined>;
  deleteMutatingWebhookConfiguration(name: string): Promise<DeleteOutcome>;
  patchMutatingWebhookConfiguration(name: string, patch: object, type?: PatchType): Promise<V1MutatingWebhookConfiguration>;
  listValidatingWebhookConfigurations(opts?: ListOptions): Promise<V1ValidatingWebhookConfiguration[]>;
  patchValidatingWebhookConfiguration(name: string, patch: object, type?: PatchType): Promise<V1ValidatingWebhookConfiguration>;

  // ---- apiextensions.k8s.io/v1
  listCustomResourceDefinitions(opts?: ListOptions): Promise<V1CustomResourceDefinition[]>;

  // ---- custom objects (networking.istio.io, security.istio.io, ...)
  /** namespace undefined = all namespaces (or a cluster-scoped resource). A 404 for the type (CRD not installed) gives []. */
  listCustomObjects(ref: CustomResourceRef, namespace: string | undefined, opts?: ListOptions): Promise<KubeObject[]>;
  getCustomObject(ref: CustomResourceRef, namespace: string, name: string): Promise<KubeObject | undefined>;

  // ---- istiod debug endpoints, as istioctl reaches them
  /**
   * Forward a local loopback port to `port` of the pod for the duration of `fn` (kubectl
   * port-forward through the apiserver). The listener is closed when `fn` settles.
   */
  withPortForward<T>(pod: PodRef, port: number, fn: (localPort: number) => Promise<T>): Promise<T>;
  /** GET `path` on port 15014 of one Running `app=istiod,istio.io/rev=<rev>` pod in `namespace`; the body. */
  readIstiodDebug(revision: string, namespace: string, path: string): Promise<string>;
  /** The same from every Running istiod pod of the revision (syncz is per pod: proxies connect to one). */
  readIstiodDebugAll(revision: string, namespace: string, path: string): Promise<{ pod: string; body: string }[]>;
}
