// Every failure type meshmove raises, in one place: whether Temporal may retry it, and what to tell
// the operator whose run paused on it. Activities throw these types, the workflows' retry policies
// list the ones never worth retrying, and `meshmove status` shows the hint next to a failed step.
// Pure constants: workflow code may import this file (the lint rule allows it); no other file spells
// a failure type as a literal (test/unit/failure-catalog.test.ts).

/** `always`: Temporal retries it; `never`: one attempt; `depends`: the raising site decides (status code, cause). */
export type Retry = 'always' | 'never' | 'depends';

export interface FailureSpec {
  retry: Retry;
  /** What to do about it, for the person deciding retry, skip, roll back or abort. */
  hint: string;
}

export const FAILURES = {
  // ---- the Kubernetes API (activities/kube/errors.ts classifies every response)
  KubeUnauthorized: {
    retry: 'never',
    hint: "the API server rejected the worker's credentials: renew the kubeconfig's token or certificate, then retry",
  },
  KubeForbidden: {
    retry: 'never',
    hint: "the worker's RBAC lacks the permission the message names: apply deploy/rbac.yaml adjusted to the plan, then retry",
  },
  KubeNotFound: {
    retry: 'never',
    hint: "an object the step needs is missing: check the plan's names against the cluster (meshmove preflight), then retry or skip",
  },
  KubeAlreadyExists: {
    retry: 'never',
    hint: "an object of that name already exists and is not this run's: remove or rename it, then retry",
  },
  KubeConflict: { retry: 'always', hint: 'the object changed while the step wrote it: the step re-reads and decides again' },
  KubeInvalid: {
    retry: 'never',
    hint: 'the API server refused the object or patch as invalid (422), often an admission policy: read the message, fix, then retry',
  },
  KubeBadRequest: { retry: 'never', hint: 'the API server will never accept this request (400/405/406/415): report it with the message' },
  KubeThrottled: { retry: 'always', hint: 'the API server asked to slow down (429): retried after its Retry-After' },
  KubeServerError: {
    retry: 'always',
    hint: 'the API server or something behind it failed (5xx): retried; if it lasts, check the control plane',
  },
  KubeNetwork: { retry: 'always', hint: "the API server could not be reached: retried; check the network and the kubeconfig's server" },
  KubeTimeout: { retry: 'always', hint: 'no answer within the client timeout: retried; a loaded API server answers slowly' },
  KubeConfigInvalid: {
    retry: 'never',
    hint: "the kubeconfig or the plan's cluster.context is unusable: fix --kubeconfig or cluster.context, then retry",
  },
  KubeClientError: { retry: 'never', hint: 'the client failed before sending (kubeconfig, TLS settings): fix the kubeconfig, then retry' },
  KubePortForward: {
    retry: 'depends',
    hint: "the port-forward to istiod failed (no Running pod, port 15014 closed): check istiod's pods, then retry",
  },

  // ---- a namespace's move (activities/namespace)
  CaRootNotReady: {
    retry: 'never',
    hint: "the target istiod did not write istio-ca-root-cert into the namespace: check that its discoverySelectors select the namespace's labels and that it runs, then retry",
  },
  TargetRootUnknown: {
    retry: 'always',
    hint: "the target's root CA could not be read yet (its istio-ca-root-cert or injector caBundle): retried",
  },
  CaRootContested: {
    retry: 'never',
    hint: 'two control planes with different roots keep rewriting istio-ca-root-cert: plug in one root CA (rootCA in the plan), or roll back',
  },
  RolloutStuck: {
    retry: 'never',
    hint: 'a rollout did not complete within plan.restart.timeout: look at the new pods (kubectl describe), fix, then retry or roll back',
  },
  RolloutBlocked: {
    retry: 'never',
    hint: 'a workload cannot be rolled (paused, OnDelete, partitioned): unblock it, or skip and restart it yourself',
  },
  WrongSidecarRevision: {
    retry: 'never',
    hint: "new pods got another revision's sidecar (or none): meshmove explains which webhook injected them; fix the labels or webhooks, then retry",
  },
  RestartSuperseded: {
    retry: 'never',
    hint: 'another restart (a newer step or a person) took over a workload meanwhile: check who restarts it, then retry',
  },
  BackupUnusable: {
    retry: 'never',
    hint: "this worker cannot read the run's backup (a directory on another worker?): keep backups in the cluster (backup.cluster), then retry",
  },
  UnknownRevision: { retry: 'never', hint: "istiod's syncz names a revision the plan does not know: check which istiod serves the pods" },
  SynczUnreadable: {
    retry: 'always',
    hint: "istiod's /debug/syncz answered something unreadable: retried; check istiod's logs if it lasts",
  },

  // ---- backups (activities/backup)
  BackupCorrupt: {
    retry: 'never',
    hint: 'the backup no longer matches its manifest (changed since): investigate before going on; meshmove backup verify shows what differs',
  },
  BackupStoreUnavailable: {
    retry: 'never',
    hint: "the backup's namespace is missing or the worker may not write there: create it and apply deploy/rbac.yaml's backup Role, then retry",
  },
  BackupWrittenMeanwhile: {
    retry: 'always',
    hint: 'another attempt finished the backup meanwhile: retried, and that backup is verified and reused',
  },

  // ---- DNS cutover (activities/dns)
  GatewayNoAddress: { retry: 'never', hint: "the new gateway's Service has no external address: check its LoadBalancer, then retry" },
  DnsNotResolved: {
    retry: 'never',
    hint: 'the resolvers did not answer the new address in time: check the records and the resolvers, then retry or roll back',
  },
  DnsSecretMissing: {
    retry: 'never',
    hint: "the DNS webhook's secret is not in the worker's environment (dns.provider.secretEnv): set it on every worker, then retry",
  },
  DnsWebhookRejected: { retry: 'depends', hint: 'the DNS webhook refused the change: read its answer, fix the provider, then retry' },
  DnsWebhookUnavailable: { retry: 'always', hint: 'the DNS webhook could not be reached: retried' },

  // ---- an in-place gateway move (activities/gateway)
  GatewayNotMovable: {
    retry: 'never',
    hint: "the gateway's pods do not take their revision from istio.io/rev (on their namespace or pod template): label one, or use a second gateway, then retry",
  },

  // ---- the revision-tag path (activities/tag)
  TagNotMovable: {
    retry: 'depends',
    hint: "the revision tag's webhook configuration cannot be pointed at the revision (missing, duplicated, or no injector to copy): fix it (istioctl tag list), then retry",
  },

  // ---- decommission (activities/decommission)
  DecommissionUnsafe: {
    retry: 'never',
    hint: 'decommission would delete something still in use (the message says what): resolve it, then retry',
  },
  DefaultValidatorNotMoved: {
    retry: 'depends',
    hint: 'istiod-default-validator still calls the source istiod: repoint it to the target (istioctl tag set default), then retry',
  },

  // ---- traffic analysis (activities/analysis)
  PrometheusUnavailable: {
    retry: 'depends',
    hint: 'Prometheus could not be asked (down, timeout, 5xx): check analysis.prometheus.url, then retry',
  },
  PrometheusBadQuery: {
    retry: 'never',
    hint: "Prometheus refused the query or answered something unreadable: check that it scrapes Istio's istio_requests_total",
  },
  ConfigError: { retry: 'never', hint: 'the plan or the worker lacks a setting the step needs (the message names it): fix it, then retry' },

  // ---- checks the workflows make on what activities report
  CheckFailed: {
    retry: 'never',
    hint: 'a verification did not pass (the message says what was seen): fix the cause and retry, or roll back',
  },
  Refused: { retry: 'never', hint: 'meshmove refused a request that does not fit the run (the message says why)' },

  // ---- notifications (activities/notify): never fail the run, only the notification
  NotifyConfig: { retry: 'never', hint: "the webhook's secret is not in the worker's environment (notify.webhooks[].secretEnv)" },
  NotifyRejected: { retry: 'never', hint: 'the webhook answered 4xx: check its URL and the receiver' },
  NotifyUnreachable: { retry: 'always', hint: 'the webhook could not be reached: retried' },
  NotifyFailed: { retry: 'always', hint: 'the webhook answered 5xx, 408 or 429: retried' },
} as const satisfies Record<string, FailureSpec>;

export type FailureTypeName = keyof typeof FAILURES;

/** The failure types by name, for `type:` fields: `FailureType.CheckFailed === 'CheckFailed'`. */
export const FailureType = Object.fromEntries(Object.keys(FAILURES).map((k) => [k, k])) as { readonly [K in FailureTypeName]: K };

/** The types never worth retrying: the activities' retry policies list them. */
export const NON_RETRYABLE: FailureTypeName[] = (Object.keys(FAILURES) as FailureTypeName[]).filter((k) => FAILURES[k].retry === 'never');

/** What to tell the operator about a failure type, when meshmove knows it. */
export function failureHint(type: string | undefined): string | undefined {
  return type !== undefined && Object.prototype.hasOwnProperty.call(FAILURES, type) ? FAILURES[type as FailureTypeName].hint : undefined;
}
