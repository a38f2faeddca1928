// The Kubernetes access layer the activities use. Import from here, not from the files inside.
export type {
  CustomResourceRef,
  DeleteOutcome,
  HttpResult,
  KubeAccess,
  KubeObject,
  KubeWatch,
  ListOptions,
  PatchType,
  PodRef,
  Workload,
  WorkloadByKind,
  WatchEventType,
  WorkloadKind,
} from './types.js';
export { createKubeAccess, loadKubeConfig, ClientKubeAccess, ISTIOD_DEBUG_PORT, localGet, type KubeAccessOptions } from './client.js';
export {
  classifyKubeError,
  describeTarget,
  isKubeConflict,
  isKubeFailure,
  kubeFailure,
  missingPermission,
  mustExist,
  parseRetryAfter,
  retryOnKubeConflict,
  KubeErrorType,
  type KubeCallTarget,
  type KubeErrorClass,
} from './errors.js';
export { TokenBucket, DEFAULT_RATE_LIMIT, type RateLimitOptions } from './rate-limit.js';
export { partialKubeAccess } from './fake.js';
export { ISTIO_RESOURCES, type IstioResource } from './istio-resources.js';
