// The contract between the workflows (which decide what happens when) and the activities (which
// act on or check the cluster). Workflows import this file type-only. Every input carries what the
// activity needs to be idempotent (run id, step key); every output is a small summary: big data
// (backups, pod lists) stays in the cluster or on disk and is referred to by location and digest.
import type { NotifyEventKind, NotifyWebhook, Plan, WaveResolution } from '../plan/schema.js';

export type CheckStatus = 'pass' | 'warn' | 'block';

export interface Finding {
  /** Stable id of the check, e.g. `outbound-policy`, `injection/demo-a`. */
  check: string;
  status: CheckStatus;
  /** What was seen, in one or two sentences. */
  reason: string;
  /** What to do about a warn or block. */
  fix?: string;
}

export interface PreflightReport {
  findings: Finding[];
  blocking: number;
  warnings: number;
  /**
   * The two control planes' own roots: `same` lets each namespace's CA wait skip the stability
   * window (an overwrite between identical roots changes nothing). Absent when not read.
   */
  rootRelation?: 'same' | 'overlap' | 'different' | 'unknown';
}

/** Where a backup lives and how to check it; the objects themselves stay on disk or in the cluster. */
export interface BackupRef {
  /** A directory of the worker that wrote it, or `cluster:<namespace>/<backup id>` (ConfigMaps any worker can read). */
  location: string;
  /** sha256 of the manifest, which holds one sha256 per object. */
  manifestDigest: string;
  objects: number;
}

/** Common input: the run and the step an activity acts for. Used as idempotency key. */
export interface RunRef {
  plan: Plan;
  /** The migration's workflow id (stable across continue-as-new). */
  migrationId: string;
}

export interface NamespaceRef extends RunRef {
  namespace: string;
}

export interface RelabelResult {
  /** The namespace's labels before this run first changed them (the compensation restores these). */
  previousLabels: Record<string, string>;
  /** False when the labels were already as planned (a retry or a re-run after a crash). */
  changed: boolean;
}

export interface GatewayRelabel {
  /** Where the gateway's pods take their revision from: istio.io/rev on their namespace or on their pod template. */
  where: 'namespace' | 'template';
  /** The revision before this run moved it (what the compensation moves it back to). */
  previous: string;
  /** False when it already had the revision asked for. */
  changed: boolean;
}

export interface RestartResult {
  /** `Kind/name` of each workload restarted (a namespace has tens, not thousands). */
  workloads: string[];
  /** How many of them were already restarted for this key before this attempt (a resumed attempt). */
  alreadyRestarted: number;
}

export interface ProxyReport {
  revision: string;
  pods: number;
  synced: number;
  /** `pod: reason` for each pod not on the revision or not SYNCED (at most 20 listed). */
  problems: string[];
}

export interface ProbeReport {
  probes: number;
  failed: number;
  /** `probe: got X, expected Y` for each failure (at most 20 listed). */
  failures: string[];
}

export interface DnsChange {
  provider: 'manual' | 'webhook';
  /** The address the records now point (or must be pointed) at. */
  address: string;
  records: string[];
  /** False when the provider reported the records already pointed there. */
  changed: boolean;
}

export interface MeshVerification {
  /** Planned namespaces checked. */
  namespaces: number;
  /** Proxies (sidecars) of the planned namespaces connected to the target / still on the source. */
  onTarget: number;
  onSource: number;
  /** e.g. `pilot_xds_pushes{type="cds_senderr"} 3 -> 5`. Empty when nothing increased. */
  errorIncreases: string[];
  notes: string[];
}

/** Requests per second and 5xx ratio of one namespace, from Prometheus. */
export interface TrafficRates {
  requestRate: number;
  /** 0..1; undefined when the namespace had no requests in the window (0/0). */
  errorRatio?: number;
}

/** Traffic before the first relabel: what each namespace's and gateway's later figures are compared with. */
export interface TrafficBaseline {
  at: string;
  window: string;
  /** Planned namespaces with requests in the window. */
  namespaces: Record<string, TrafficRates>;
  /** Planned namespaces with no series in the window (their later checks compare against 0% errors). */
  quiet: string[];
  /** Requests per second through each gateway; absent when Prometheus had no series for it. */
  sourceGateway?: number;
  targetGateway?: number;
  /** The queries asked, for the audit trail. */
  queries: string[];
}

export interface NamespaceTrafficCheck {
  namespace: string;
  errorRatio: number;
  requestRate: number;
  summary: string;
}

export interface GatewayTraffic {
  /** Requests per second through the new and the old gateway at the end of the wait. */
  target?: number;
  source?: number;
  summary: string;
}

export interface DecommissionResult {
  deleted: string[];
  /** Shared objects repointed to the target instead of deleted (istiod-default-validator). */
  moved?: string[];
  backup: BackupRef;
}

/** The concrete namespaces of each wave (`select` waves resolved against the cluster). */
export interface WaveSelection extends WaveResolution {
  /**
   * Namespaces the source revision injects that no wave takes (they would lose their injector at
   * the decommission): at most 20 names, `count` all of them. Absent when there are none.
   */
  unmatched?: { count: number; names: string[] };
}

export interface MigrationActivities {
  // Before migration
  /** The plan's `select` waves resolved against the namespaces now in the cluster; changes nothing. */
  resolveWaves(input: RunRef): Promise<WaveSelection>;
  preflight(input: RunRef): Promise<PreflightReport>;
  backup(input: RunRef): Promise<BackupRef>;

  // Each namespace
  driftCheck(input: NamespaceRef & { backup: BackupRef }): Promise<{ drifted: boolean; details: string[] }>;
  relabelNamespace(input: NamespaceRef): Promise<RelabelResult>;
  restoreNamespaceLabels(input: NamespaceRef & { labels: Record<string, string> }): Promise<{ changed: boolean }>;
  /** rootRelation: preflight's comparison of the two control planes' roots (`same`: no stability window). */
  waitCaReady(input: NamespaceRef & { rootRelation?: PreflightReport['rootRelation'] }): Promise<{ root: string }>;
  /**
   * `key` makes the restart idempotent: a workload already restarted for this key is not restarted
   * again. `only` (`Kind/name`) restarts just those workloads of the namespace (the gateway's).
   */
  restartWorkloads(input: NamespaceRef & { key: string; expectRevision: string; only?: string[] }): Promise<RestartResult>;
  /** `selector`: only the pods it matches (the gateway's); every pod of the namespace when absent. */
  verifyProxies(input: NamespaceRef & { revision: string; selector?: Record<string, string> }): Promise<ProxyReport>;
  verifyTraffic(input: NamespaceRef): Promise<ProbeReport>;
  /** After a namespace rollback: which control plane's webhook would inject its new pods. Never changes anything. */
  explainInjection(input: NamespaceRef): Promise<{ injectors: string[]; message: string }>;

  // DNS cutover
  checkGatewayStable(input: RunRef): Promise<{ address: string }>;
  switchDns(input: RunRef & { to: 'target' | 'source' }): Promise<DnsChange>;
  verifyDns(input: RunRef & { address: string }): Promise<{ resolved: string[] }>;

  // In-place gateway move (target.gateway: in-place)
  /** Set the gateway's istio.io/rev where its pods take it from (namespace or pod template); `key` rides along on the template. */
  relabelGateway(input: RunRef & { revision: string; key: string }): Promise<GatewayRelabel>;
  /** Every verification.gateway probe, through the gateway Service's external address. */
  verifyGateway(input: RunRef): Promise<ProbeReport>;

  // The revision-tag path (target.tag)
  /** Point the tag's injector webhooks at the target (or back at the source), as `istioctl tag set` does. */
  pointTag(input: RunRef & { to: 'target' | 'source' }): Promise<{ config: string; changed: boolean }>;
  /** After the tag points back: namespaces a rollback pinned to the source revision get the tag label again. */
  unpinTagNamespaces(input: RunRef): Promise<{ unpinned: number; sample: string[] }>;

  // Traffic analysis (plan.analysis): Prometheus answers, meshmove compares
  trafficBaseline(input: RunRef): Promise<TrafficBaseline>;
  /** After the namespace's move: waits one analysis window, then compares its error rate with its baseline. */
  checkNamespaceTraffic(input: NamespaceRef & { baseline?: TrafficRates }): Promise<NamespaceTrafficCheck>;
  /** After the DNS TTL: waits until the new gateway carries requests and the old one fewer than in the baseline. */
  awaitGatewayShift(input: RunRef & { sourceBaseline?: number }): Promise<GatewayTraffic>;
  /** Before the decommission gate: waits until the old gateway's request rate has been 0 for a whole window. */
  awaitGatewayDrained(input: RunRef): Promise<GatewayTraffic>;

  // After migration
  verifyMesh(input: RunRef): Promise<MeshVerification>;
  decommission(input: RunRef): Promise<DecommissionResult>;
}

/**
 * One notification (plan.notify): what happened, in words, with the digest a person approves and the
 * exact commands to approve, reject or decide. The activity formats it for the webhook (Slack or
 * plain JSON) and signs it; see activities/notify/index.ts for the signature.
 */
export interface NotifyEvent {
  event: NotifyEventKind;
  /** Stable across retries of the same notification: a receiver drops a repeated delivery by it. */
  deliveryId: string;
  at: string;
  /** The run (the migration's workflow id) and the workflow that waits (a namespace's child for its gate). */
  migrationId: string;
  workflowId: string;
  /** The Temporal namespace (commands name it when it is not "default"). */
  temporalNamespace: string;
  plan: string;
  cluster: string;
  /** The Kubernetes namespace, for a namespace's gate or failed step. */
  namespace?: string;
  phase: string;
  /** One line: what happened and what is asked. */
  summary: string;
  details: string[];
  gate?: string;
  /** The digest of the gate's summary (what an approval commits to), or of a paused step (signed runs). */
  digest?: string;
  expiresAt?: string;
  step?: string;
  error?: string;
  allowed?: string[];
  outcome?: string;
  /** The exact meshmove commands, as the CLI spells them. */
  commands: string[];
}

export interface NotifyResult {
  webhook: string;
  status: number;
  attempt: number;
}

/** Delivery of notifications: a signed HTTP POST per webhook and event; never touches the cluster. */
export interface NotifyActivities {
  notify(input: { webhook: NotifyWebhook; event: NotifyEvent }): Promise<NotifyResult>;
}

export type ActivityName = keyof MigrationActivities;
