// The per-namespace activities (a namespace migration's steps and their compensation), for
// createActivities(deps). Each takes (deps, input) as the contract's input and returns its summary.
export {
  driftCheck,
  compareWithBackup,
  readNamespaceBackup,
  workloadView,
  DriftFailure,
  type WorkloadView,
  type DriftInput,
} from './drift.js';
export { relabelNamespace, restoreNamespaceLabels } from './relabel.js';
export { waitCaReady, CaFailure } from './ca-ready.js';
export { restartWorkloads, RestartFailure } from './restart.js';
export {
  decideRelabel,
  decideRestore,
  labelsAsPlanned,
  readPreviousLabelsRecord,
  PREVIOUS_LABELS_ANNOTATION,
  type NamespaceState,
} from './labels.js';
export {
  decideRestart,
  kubectlRolloutStatus,
  rolloutState,
  restartBlocker,
  restartPatch,
  podsOf,
  RESTART_KEY_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
} from './rollout.js';
export { explainCaTimeout } from './ca-wait.js';
// The verification activities a namespace migration also calls live in ../verify.
export { verifyProxies, verifyTraffic, explainInjection } from '../verify/index.js';
