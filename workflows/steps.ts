// The ids of the steps and gates the workflows open, as `meshmove status` shows them and as people
// type them (`meshmove approve RUN dns-cutover`, `meshmove decide RUN restart retry`). One definition
// each: the workflows, the CLI's checklist and the demo's narrator all read them from here. An id is
// part of the recorded histories and the audit trail, so a value never changes once released.

/** The migration workflow's steps, in the order they run. */
export const MigrationStep = {
  resolveWaves: 'resolve-waves',
  preflight: 'preflight',
  backup: 'backup',
  trafficBaseline: 'traffic-baseline',
  /** The revision-tag path (target.tag): the tag pointed at the target once, before the waves. */
  tagSwitch: 'tag-switch',
  failureBudget: 'failure-budget',
  gatewayStable: 'gateway-stable',
  dnsSwitch: 'dns-switch',
  dnsVerify: 'dns-verify',
  dnsTtl: 'dns-ttl',
  /** The gateway moved in place (target.gateway: in-place): its revision label, its rollout, its check. */
  gatewayRelabel: 'gateway-relabel',
  gatewayRestart: 'gateway-restart',
  gatewayVerify: 'gateway-verify',
  trafficShift: 'traffic-shift',
  verifyMesh: 'verify-mesh',
  gatewayDrained: 'gateway-drained',
  decommission: 'decommission',
} as const;
export type MigrationStepId = (typeof MigrationStep)[keyof typeof MigrationStep];

/** The migration workflow's gates. */
export const MigrationGate = {
  start: 'start',
  dnsCutover: 'dns-cutover',
  /** Manual DNS provider: a person changes the records, then approves. */
  dnsConfirm: 'dns-confirm',
  /** Manual DNS provider, during a rollback: a person points the records back. */
  dnsRevert: 'dns-revert',
  /** Before the gateway moves in place (target.gateway: in-place). */
  gatewayMove: 'gateway-move',
  decommission: 'decommission',
} as const;
export type MigrationGateId = (typeof MigrationGate)[keyof typeof MigrationGate];

/** A namespace workflow's steps, in the order they run (the undo steps are named after them). */
export const NamespaceStep = {
  driftCheck: 'drift-check',
  relabel: 'relabel',
  caReady: 'ca-ready',
  restart: 'restart',
  verifyProxies: 'verify-proxies',
  verifyTraffic: 'verify-traffic',
  verifyMetrics: 'verify-metrics',
  /** Inverses a relabel registers (run newest first: restore labels, restart back, verify on the source). */
  restoreLabels: 'restore-labels',
  restartBack: 'restart-back',
  verifySource: 'verify-source',
} as const;
export type NamespaceStepId = (typeof NamespaceStep)[keyof typeof NamespaceStep];

/** The kind of gate a namespace workflow opens, and what an approver's `gates` list names to cover all of them. */
export const NAMESPACE_GATE = 'namespace';

/** The gate a namespace workflow opens before its move: `namespace:NS`. */
export function namespaceGateId(namespace: string): string {
  return `${NAMESPACE_GATE}:${namespace}`;
}

export function isNamespaceGate(gate: string): boolean {
  return gate.startsWith(`${NAMESPACE_GATE}:`);
}

const UNDO_PREFIX = 'undo:';

/** The step that runs a compensation: `undo:` and the id it was registered under. */
export function undoStepId(compensationId: string): string {
  return `${UNDO_PREFIX}${compensationId}`;
}

export function isUndoStep(step: string): boolean {
  return step.startsWith(UNDO_PREFIX);
}
