// Deciding, from every write of istio-ca-root-cert seen while waiting (ca-ready.ts), whether the
// target's root has arrived to stay or two writers are fighting over it; and the likely cause when
// it never arrives. Pure.
import { holdsRoot, pemCertificates, rootFingerprint } from '../shared/ca-roots.js';

/** One state of istio-ca-root-cert as seen by the watch (or a GET): each write has a new resourceVersion. */
export interface CaObservation {
  /** When it was seen (epoch ms). */
  at: number;
  resourceVersion: string;
  /** root-cert.pem; undefined when the ConfigMap (or the key) is absent. */
  pem: string | undefined;
}

/** How many changes from one root to another while waiting mean two writers (one is the expected source → target). */
export const CA_CONTESTED_CHANGES = 3;

export type CaWaitDecision =
  | { state: 'ready' }
  | { state: 'contested'; changes: number; roots: string[]; lastChangeGapMs: number | undefined }
  | { state: 'waiting'; progress: string; changes: number };

/** Changes from one root to a different one, in order (a delete and re-create of the same root is none). */
export function rootChanges(history: readonly CaObservation[]): number {
  let changes = 0;
  let last: string | undefined;
  for (const o of history) {
    if (o.pem === undefined) continue;
    const fp = [...new Set(pemCertificates(o.pem))].sort().join('|');
    if (last !== undefined && fp !== last) changes++;
    last = fp;
  }
  return changes;
}

/**
 * Ready when the last state holds the target's root and no write has changed the root for
 * `stableMs`; contested when the root changed `contestedChanges` times or more: besides the one
 * expected change (to the target's root), someone put another root back, and the target put its
 * own back again — two namespace controllers with different roots, which never stop.
 */
export function decideCaWait(
  history: readonly CaObservation[],
  targetRoot: string,
  now: number,
  opts: { stableMs: number; contestedChanges?: number },
): CaWaitDecision {
  const changes = rootChanges(history);
  if (changes >= (opts.contestedChanges ?? CA_CONTESTED_CHANGES)) {
    const seen = history.filter((o) => o.pem !== undefined);
    const roots = [...new Set(seen.map((o) => rootFingerprint(o.pem)))];
    const times = seen.map((o) => o.at);
    const gap = times.length >= 2 ? times[times.length - 1]! - times[times.length - 2]! : undefined;
    return { state: 'contested', changes, roots, lastChangeGapMs: gap };
  }
  const last = history[history.length - 1];
  if (!last || !holdsRoot(last.pem, targetRoot)) return { state: 'waiting', progress: rootFingerprint(last?.pem), changes };
  // Since when the target's root is there: the start of the trailing run of states holding it.
  let since = last.at;
  for (let i = history.length - 1; i >= 0 && holdsRoot(history[i]!.pem, targetRoot); i--) since = history[i]!.at;
  if (now - since >= opts.stableMs) return { state: 'ready' };
  return { state: 'waiting', progress: `${rootFingerprint(last.pem)} (target root, held ${Math.round((now - since) / 1000)}s)`, changes };
}

export interface CaWaitView {
  namespace: string;
  /** root-cert.pem now in the namespace, undefined when the ConfigMap (or key) is missing. */
  current: string | undefined;
  targetRoot: string;
  /** The source control plane's root, when it could be read. */
  sourceRoot?: string;
  targetRevision: string;
  sourceRevision: string;
  /** Whether the target's discoverySelectors select the namespace now. */
  targetDiscovers?: boolean;
  /** How many times the ConfigMap's root changed while waiting. */
  changes?: number;
}

/** The likely cause of a CA that never arrives (docs/istio-facts.md §4), for the failure message. */
export function explainCaTimeout(v: CaWaitView): string {
  const seen = `istio-ca-root-cert in ${v.namespace} holds ${rootFingerprint(v.current)}, the target ${v.targetRevision}'s root is ${rootFingerprint(v.targetRoot)}`;
  if (v.targetDiscovers === false) {
    return `${seen}. The target istiod does not discover ${v.namespace} (its discoverySelectors do not match the namespace labels), so its namespace controller may not write there: check the discovery labels of the relabel.`;
  }
  if ((v.changes ?? 0) >= 2) {
    return `${seen}; it changed ${v.changes} times while waiting: two namespace controllers with different roots keep overwriting it (each writes istio-ca-root-cert into the namespaces its discoverySelectors select, or every namespace before Istio 1.22). Pods restarted now could mount either root and fail to verify their istiod. Plug the same root CA into both control planes (cacerts), then retry.`;
  }
  if (
    v.current !== undefined &&
    v.sourceRoot !== undefined &&
    holdsRoot(v.current, v.sourceRoot) &&
    !holdsRoot(v.sourceRoot, v.targetRoot)
  ) {
    return `${seen}, which is the source ${v.sourceRevision}'s root. The two control planes have different root CAs and the source's namespace controller keeps overwriting it with its own root (it writes every namespace its discoverySelectors select, or every namespace before Istio 1.22): pods restarted now could not verify the target istiod. Plug the same root CA into both control planes (cacerts), then retry.`;
  }
  if (v.current === undefined) {
    return `${seen}. The ConfigMap is missing: the target istiod's namespace controller has not written it; check that istiod-${v.targetRevision} is running and its logs.`;
  }
  return `${seen}. Another writer keeps a different root there, or the target istiod is not running: check the ConfigMap's managedFields and istiod-${v.targetRevision}'s logs.`;
}
