// `meshmove twin snapshot`: a cluster's shape exported as a twin scenario. Fetching (read.ts) is apart
// from deciding (scenario.ts, anonymize.ts) and from writing (render.ts).
export { readClusterShape, type ClusterShape, type WorkloadShape, type ServiceShape } from './read.js';
export { scenarioFromCluster, decideRootCa, isIngressGateway, type SnapshotResult } from './scenario.js';
export { anonymizeScenario, Pseudonyms } from './anonymize.js';
export { renderSnapshot, NEVER_EXPORTED, NOT_EXPRESSIBLE, type SnapshotHeader } from './render.js';
export { snapshotSummary, type SnapshotSummary } from './summary.js';
