// Verification activities (per namespace and after migration), for createActivities(deps).
export { verifyProxies, judgeProxies, podsToVerify, istiodNamespaceOf, readSyncz, PROBE_LABEL } from './proxies.js';
export {
  verifyTraffic,
  probeJob,
  probeJobName,
  probeOutcome,
  probesFor,
  describeFailure,
  PROBE_CONTAINER,
  PROBE_JOB_LABEL,
  PROBE_SCRIPT,
} from './probes.js';
export { explainInjection, explain, explainSelector, podLabelVariants, type InjectionExplanation } from './injection.js';
export { verifyMesh, censusNamespace, PUSH_ERRORS_NOTE } from './mesh.js';
export {
  parsePrometheusText,
  errorCounters,
  compareCounters,
  isErrorSeries,
  seriesKey,
  NONEXISTENT_PUSH_ERRORS_METRIC,
  type Sample,
  type CounterComparison,
} from './metrics.js';
