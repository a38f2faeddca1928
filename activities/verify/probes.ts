// verifyTraffic: the plan's calls from inside the namespace (a probe Job whose pod gets the
// namespace's sidecar, so the call goes through the mesh exactly as the workloads' calls do) and
// its hosts through the NEW gateway (real HTTP to the gateway Service's external address).
// The probe writes the HTTP status to its termination message, read from the pod status: no log
// access needed, and it works the same on a real cluster and on the twin.
import { createHash } from 'node:crypto';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { NamespaceRef, ProbeReport, RunRef } from '../contract.js';
import type { CrossNamespaceProbe, GatewayProbe, Plan } from '../../plan/schema.js';
import { mapLimit } from '../shared/concurrency.js';
import { nowMs, tuning, type ClusterDeps } from '../shared/deps.js';
import { externalAddress, httpGetWithHost, httpPort, readGatewayService } from '../shared/gateway.js';
import { describePod } from '../shared/pods.js';
import { pollUntil } from '../shared/waiting.js';
import { PROBE_LABEL } from './proxies.js';

export const PROBE_CONTAINER = 'probe';
/** Names the Job on its pods, so the pods are found by one list with a selector. */
export const PROBE_JOB_LABEL = 'meshmove.dev/probe-job';
const MAX_FAILURES = 20;
/** Probe Jobs run at once in one namespace. */
const PROBE_CONCURRENCY = 4;

/**
 * The probe's shell: wait (bounded) for the sidecar to be ready, since without
 * holdApplicationUntilProxyStarts the call could leave before Envoy has its config; curl prints
 * 000 when no HTTP answer came; the status goes to the termination message; then the sidecar is
 * told to exit (pilot-agent's /quitquitquit on 15020), or the pod of a Job would never complete
 * on a real cluster.
 */
export const PROBE_SCRIPT =
  'i=0; while [ $i -lt 15 ] && ! curl -fs -o /dev/null http://127.0.0.1:15021/healthz/ready; do i=$((i+1)); sleep 1; done; ' +
  'code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 10 "$URL" || true); ' +
  'printf "%s" "${code:-000}" > /dev/termination-log; ' +
  'curl -s -o /dev/null -X POST http://127.0.0.1:15020/quitquitquit || true; exit 0';

/** Istio starts the sidecar before the probe container when it honours this (1.7+). */
export const PROBE_PROXY_CONFIG = { 'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts": true}' };

/** Deterministic per run and probe: a rerun finds the same Job instead of creating another. */
export function probeJobName(migrationId: string, probe: CrossNamespaceProbe): string {
  const h = createHash('sha256').update(`${migrationId}\n${probe.from}\n${probe.url}`).digest('hex').slice(0, 12);
  return `meshmove-probe-${h}`;
}

export function probeJob(name: string, namespace: string, probe: CrossNamespaceProbe, image: string, deadlineSeconds: number): V1Job {
  const labels = { [PROBE_LABEL]: 'true', [PROBE_JOB_LABEL]: name };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: deadlineSeconds,
      // If meshmove dies before deleting it, Kubernetes cleans up.
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels, annotations: { ...PROBE_PROXY_CONFIG } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: PROBE_CONTAINER,
              image,
              command: ['sh', '-c', PROBE_SCRIPT],
              env: [{ name: 'URL', value: probe.url }],
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
            },
          ],
        },
      },
    },
  };
}

export type ProbeOutcome = { done: false; state: string } | { done: true; status: number | undefined; detail?: string };

/** Reads the probe container's result from a pod of the Job. */
export function probeOutcome(pod: V1Pod | undefined): ProbeOutcome {
  if (!pod) return { done: false, state: 'no pod yet' };
  const c = (pod.status?.containerStatuses ?? []).find((s) => s.name === PROBE_CONTAINER);
  const term = c?.state?.terminated;
  if (!term) return { done: false, state: describePod(pod) };
  const msg = (term.message ?? '').trim();
  const status = /^\d{3}$/.test(msg) ? Number(msg) : undefined;
  return status === undefined
    ? {
        done: true,
        status: undefined,
        detail: `probe exited ${term.exitCode}${term.reason ? ` (${term.reason})` : ''} without a status code${msg ? `: ${msg.slice(0, 100)}` : ''}`,
      }
    : { done: true, status };
}

export function describeFailure(label: string, got: number | undefined, expected: number, detail?: string): string {
  const what = got === undefined ? 'no status code' : got === 0 ? 'no HTTP answer' : String(got);
  return `${label}: got ${what}, expected ${expected}${detail ? ` (${detail})` : ''}`;
}

export function probesFor(plan: Pick<Plan, 'verification'>, namespace: string): { cross: CrossNamespaceProbe[]; gateway: GatewayProbe[] } {
  return {
    cross: plan.verification.crossNamespace.filter((p) => p.from === namespace),
    gateway: plan.verification.gateway.filter((p) => p.namespace === namespace),
  };
}

async function runCrossNamespaceProbe(
  deps: ClusterDeps,
  input: NamespaceRef,
  probe: CrossNamespaceProbe,
): Promise<{ status: number | undefined; detail?: string }> {
  const t = tuning(deps);
  const name = probeJobName(input.migrationId, probe);
  const ns = input.namespace;
  const { job } = await deps.kube.createJob(ns, probeJob(name, ns, probe, t.probeImage, Math.ceil(t.probeTimeoutMs / 1000)));
  const uid = job.metadata?.uid;
  const start = nowMs(deps);
  let outcome: { status: number | undefined; detail?: string };
  try {
    const done = await pollUntil<ProbeOutcome & { done: true }, string>({
      intervalMs: Math.min(t.pollMs, 1000),
      deadline: start + t.probeTimeoutMs,
      now: () => nowMs(deps),
      details: (state) => ({ namespace: ns, probe: probe.url, state }),
      onTimeout: (state) =>
        new ProbeTimeout(`probe pod did not finish within ${Math.round(t.probeTimeoutMs / 1000)}s: ${state ?? 'no pod'}`),
      check: async () => {
        const pods = await deps.kube.listPods(ns, { labelSelector: `${PROBE_JOB_LABEL}=${name}` });
        // A Job of the same name deleted a moment ago may still have a pod around: only this Job's count.
        const mine = pods.filter(
          (p) =>
            uid === undefined ||
            (p.metadata?.ownerReferences ?? []).length === 0 ||
            p.metadata?.ownerReferences?.some((o) => o.uid === uid),
        );
        const results = mine.map(probeOutcome);
        const finished = results.find((r): r is ProbeOutcome & { done: true } => r.done);
        if (finished) return { done: true, value: finished };
        const waiting = results[0];
        return { done: false, progress: waiting && !waiting.done ? waiting.state : 'no pod yet' };
      },
    });
    outcome = { status: done.status, ...(done.detail !== undefined ? { detail: done.detail } : {}) };
  } catch (err) {
    // A probe that cannot run (image not pullable, pod unschedulable) is a failed probe with its
    // reason, for the operator to judge; retrying the activity would only wait as long again.
    if (!(err instanceof ProbeTimeout)) throw err;
    outcome = { status: undefined, detail: err.message };
  }
  // Read, then clean up; a crash before this leaves the Job to its TTL and a rerun reads it again.
  await deps.kube.deleteJob(ns, name);
  return outcome;
}

class ProbeTimeout extends Error {}

async function runGatewayProbe(
  deps: ClusterDeps,
  plan: Plan,
  probe: GatewayProbe,
): Promise<{ status: number | undefined; detail?: string }> {
  const svc = await readGatewayService(deps, plan.target.gateway);
  const address = externalAddress(svc);
  const port = httpPort(svc);
  if (address === undefined || port === undefined) {
    return {
      status: undefined,
      detail: `the target gateway Service ${plan.target.gateway.namespace}/${plan.target.gateway.service} has no external address${port === undefined ? ' or port' : ''}`,
    };
  }
  const r = await httpGetWithHost(address, port, probe.host, probe.path, tuning(deps).httpTimeoutMs);
  return { status: r.status, ...(r.error !== undefined ? { detail: `${address}:${port}: ${r.error}` } : {}) };
}

/** Every gateway probe of the plan (after the gateway itself moved): through the target gateway's address. */
export async function verifyGatewayProbes(deps: ClusterDeps, input: RunRef): Promise<ProbeReport> {
  const probes = input.plan.verification.gateway;
  const results = await mapLimit(probes, PROBE_CONCURRENCY, (p) => runGatewayProbe(deps, input.plan, p));
  const failures = probes.flatMap((p, i) =>
    results[i]!.status === p.expectStatus
      ? []
      : [describeFailure(`gateway ${p.host}${p.path}`, results[i]!.status, p.expectStatus, results[i]!.detail)],
  );
  const listed = failures.slice(0, MAX_FAILURES);
  if (failures.length > MAX_FAILURES) listed.push(`... and ${failures.length - MAX_FAILURES} more`);
  return { probes: probes.length, failed: failures.length, failures: listed };
}

export async function verifyTraffic(deps: ClusterDeps, input: NamespaceRef): Promise<ProbeReport> {
  const { cross, gateway } = probesFor(input.plan, input.namespace);
  const failures: string[] = [];
  // The gateway probes need no pod: they run while the probe pods start.
  const [crossResults, gatewayResults] = await Promise.all([
    mapLimit(cross, PROBE_CONCURRENCY, (p) => runCrossNamespaceProbe(deps, input, p)),
    mapLimit(gateway, PROBE_CONCURRENCY, (p) => runGatewayProbe(deps, input.plan, p)),
  ]);
  cross.forEach((p, i) => {
    const r = crossResults[i]!;
    if (r.status !== p.expectStatus) failures.push(describeFailure(`${input.namespace} -> ${p.url}`, r.status, p.expectStatus, r.detail));
  });
  gateway.forEach((p, i) => {
    const r = gatewayResults[i]!;
    if (r.status !== p.expectStatus) failures.push(describeFailure(`gateway ${p.host}${p.path}`, r.status, p.expectStatus, r.detail));
  });
  const listed = failures.slice(0, MAX_FAILURES);
  if (failures.length > MAX_FAILURES) listed.push(`... and ${failures.length - MAX_FAILURES} more`);
  return { probes: cross.length + gateway.length, failed: failures.length, failures: listed };
}
