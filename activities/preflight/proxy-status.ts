// Check 7: the target istiod's syncz shows no STALE proxy (the field report's "proxy-status has no
// STALE"). Read as istioctl proxy-status does: port-forward to each Running istiod pod of the
// revision and GET /debug/syncz on 15014 (the debug endpoints refuse non-local callers, so the
// service proxy would not do on a real cluster). Each pod lists only the proxies connected to it.
import type { Finding } from '../contract.js';
import { parseSyncz, proxySyncStatus, SyncStatus, type SynczEntry } from '../../mesh/syncz.js';
import type { KubeAccess } from '../kube/types.js';
import type { PreflightContext, Side } from './context.js';

export const SYNCZ_PATH = '/debug/syncz';

/** Every proxy connected to any istiod pod of the revision. */
export async function readSyncz(kube: KubeAccess, revision: string, namespace: string): Promise<SynczEntry[]> {
  const bodies = await kube.readIstiodDebugAll(revision, namespace, SYNCZ_PATH);
  return bodies.flatMap((b) => {
    try {
      return parseSyncz(JSON.parse(b.body));
    } catch (err) {
      throw new Error(`istiod pod ${namespace}/${b.pod} returned an unreadable ${SYNCZ_PATH}: ${(err as Error).message}`, { cause: err });
    }
  });
}

export type SynczRead = { ok: true; entries: SynczEntry[] } | { ok: false; error: string };

export function decideProxyStatus(side: Side, revision: string, read: SynczRead): Finding {
  const check = `proxy-status/${side}`;
  // A STALE proxy on the target blocks; on the source it is the old mesh already unhealthy: warn.
  const severity = side === 'target' ? 'block' : 'warn';
  if (!read.ok) {
    return {
      check,
      status: severity,
      reason: `cannot read the ${side} istiod's ${SYNCZ_PATH} (revision ${revision}): ${read.error}`,
      fix:
        side === 'target'
          ? 'the target istiod must be Running and reachable by port-forward (RBAC: get and create pods/portforward in its namespace)'
          : 'check the source istiod pods',
    };
  }
  const stale = read.entries.map(proxySyncStatus).filter((p) => p.overall === SyncStatus.stale);
  if (stale.length > 0) {
    const listed = stale.slice(0, 20).map(
      (p) =>
        `${p.proxy} (${Object.entries(p.perType)
          .filter(([, s]) => s === SyncStatus.stale)
          .map(([t]) => t)
          .join(',')}${p.neverAcknowledged.length ? ', never acknowledged' : ''})`,
    );
    return {
      check,
      status: severity,
      reason: `${stale.length} of ${read.entries.length} proxies connected to the ${side} istiod (revision ${revision}) are STALE: ${listed.join('; ')}${stale.length > 20 ? '; ...' : ''}`,
      fix: 'find why those proxies do not acknowledge config (their istio-proxy logs: rejected config, version skew) before moving more pods to this control plane',
    };
  }
  return {
    check,
    status: 'pass',
    reason: `no STALE proxy among the ${read.entries.length} connected to the ${side} istiod (revision ${revision})`,
  };
}

export async function checkProxyStatus(ctx: PreflightContext): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const side of ['target', 'source'] as const) {
    const cp = ctx.plan[side];
    let read: SynczRead;
    try {
      read = { ok: true, entries: await readSyncz(ctx.kube, cp.revision, cp.istiodNamespace) };
    } catch (err) {
      read = { ok: false, error: (err as Error).message };
    }
    out.push(decideProxyStatus(side, cp.revision, read));
  }
  return out;
}
