// driftCheck: is the namespace still as the before-migration backup recorded it? Its labels (the
// relabel's own change, recognised by this run's record, is not drift) and its workloads (each
// still there, none added, and nothing changed that decides injection). The comparison is pure;
// the activity reads only this namespace's objects of the backup, each checked against the manifest,
// from wherever the backup is (a directory, or ConfigMaps in the cluster that any worker can read).
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef, NamespaceRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { relabelFor } from '../../plan/schema.js';
import { openBackupStore } from '../backup/index.js';
import { readBackupObjects } from '../backup/store.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import { IstioAnnotation, IstioLabel } from '../../mesh/naming.js';
import type { ClusterDeps } from '../shared/deps.js';
import { readPreviousLabelsRecord, type Labels } from './labels.js';
import { FailureType } from '../failures.js';

/** Set by the apiserver on every namespace; never ours to compare. */
const AUTOMATIC_LABELS = new Set(['kubernetes.io/metadata.name']);
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

export const DriftFailure = { backupUnusable: FailureType.BackupUnusable } as const;

export interface WorkloadView {
  /** `Kind/name` */
  id: string;
  /** Pod template labels and annotations that decide injection (docs/istio-facts.md §2). */
  injection: Record<string, string>;
}

export function workloadView(kind: string, o: { metadata?: { name?: string }; spec?: unknown }): WorkloadView {
  const tpl = (o.spec as { template?: { metadata?: { labels?: Labels; annotations?: Labels } } } | undefined)?.template?.metadata;
  const injection: Record<string, string> = {};
  for (const k of [IstioLabel.inject, IstioLabel.rev]) if (tpl?.labels?.[k] !== undefined) injection[`label ${k}`] = tpl.labels[k];
  const ann = tpl?.annotations?.[IstioAnnotation.inject];
  if (ann !== undefined) injection[`annotation ${IstioAnnotation.inject}`] = ann;
  return { id: `${kind}/${o.metadata?.name ?? ''}`, injection };
}

function withoutAutomatic(l: Labels): Labels {
  return Object.fromEntries(Object.entries(l).filter(([k]) => !AUTOMATIC_LABELS.has(k)));
}

function labelDiff(want: Labels, have: Labels): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(want), ...Object.keys(have)])].sort()) {
    if (want[k] === have[k]) continue;
    if (have[k] === undefined) out.push(`label ${k}=${want[k]} was removed`);
    else if (want[k] === undefined) out.push(`label ${k}=${have[k]} was added`);
    else out.push(`label ${k} changed from ${want[k]} to ${have[k]}`);
  }
  return out;
}

export interface DriftInput {
  namespace: string;
  backupLabels: Labels;
  currentLabels: Labels;
  currentAnnotations: Record<string, string>;
  backupWorkloads: WorkloadView[];
  currentWorkloads: WorkloadView[];
  migrationId: string;
  plan: Pick<Plan, 'target'>;
}

export function compareWithBackup(i: DriftInput): { drifted: boolean; details: string[] } {
  const details: string[] = [];
  const backup = withoutAutomatic(i.backupLabels);
  const current = withoutAutomatic(i.currentLabels);
  let expected = backup;
  // This run relabeled already (a rerun of the namespace's steps): the planned change is ours.
  if (readPreviousLabelsRecord(i.currentAnnotations)[i.migrationId] !== undefined) {
    const change = relabelFor(i.plan);
    expected = { ...backup, ...change.set };
    for (const k of change.remove) delete expected[k];
  }
  details.push(...labelDiff(expected, current).map((d) => `namespace ${i.namespace}: ${d} since the backup`));

  const before = new Map(i.backupWorkloads.map((w) => [w.id, w]));
  const now = new Map(i.currentWorkloads.map((w) => [w.id, w]));
  for (const [id, w] of before) {
    const n = now.get(id);
    if (!n) {
      details.push(`${id} was deleted since the backup`);
      continue;
    }
    for (const k of [...new Set([...Object.keys(w.injection), ...Object.keys(n.injection)])].sort()) {
      if (w.injection[k] !== n.injection[k])
        details.push(
          `${id}: pod template ${k} changed from ${w.injection[k] ?? '(absent)'} to ${n.injection[k] ?? '(absent)'} since the backup`,
        );
    }
  }
  for (const id of now.keys())
    if (!before.has(id)) details.push(`${id} was created since the backup (it will be restarted like the others)`);
  return { drifted: details.length > 0, details: details.slice(0, 50) };
}

function unusable(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: DriftFailure.backupUnusable, nonRetryable: true, message });
}

/** This namespace's objects from the backup (a directory or the cluster), each checked against its manifest digest. */
export async function readNamespaceBackup(
  backup: BackupRef,
  namespace: string,
  kube?: KubeAccess,
): Promise<{ ns?: KubeObject; workloads: { kind: string; object: KubeObject }[] }> {
  let read;
  try {
    const store = openBackupStore(backup.location, kube && (() => kube));
    read = await readBackupObjects(
      store,
      (e) =>
        (e.kind === 'Namespace' && e.name === namespace && e.namespace === undefined) ||
        (WORKLOAD_KINDS.has(e.kind) && e.namespace === namespace),
      backup.manifestDigest,
    );
  } catch (err) {
    // The cluster did not answer: retryable as classified. Anything else is the backup itself.
    if (err instanceof ApplicationFailure) throw err;
    throw unusable(`the backup ${backup.location} cannot be used: ${(err as Error).message}`);
  }
  const ns = read.find((r) => r.entry.kind === 'Namespace');
  return {
    ...(ns ? { ns: ns.object } : {}),
    workloads: read.filter((r) => r.entry.kind !== 'Namespace').map((r) => ({ kind: r.entry.kind, object: r.object })),
  };
}

async function currentWorkloads(deps: ClusterDeps, namespace: string): Promise<WorkloadView[]> {
  const lists = await Promise.all(
    (['Deployment', 'StatefulSet', 'DaemonSet'] as const).map(async (kind) =>
      (await deps.kube.listWorkloads(kind, namespace)).map((w) => workloadView(kind, w)),
    ),
  );
  return lists.flat();
}

export async function driftCheck(
  deps: ClusterDeps,
  input: NamespaceRef & { backup: BackupRef },
): Promise<{ drifted: boolean; details: string[] }> {
  const { namespace } = input;
  const b = await readNamespaceBackup(input.backup, namespace, deps.kube);
  const [ns, workloads] = await Promise.all([deps.kube.getNamespace(namespace), currentWorkloads(deps, namespace)]);
  if (!b.ns)
    return {
      drifted: true,
      details: [`namespace ${namespace} is not in the backup ${input.backup.location}: take a new backup before migrating it`],
    };
  if (!ns) return { drifted: true, details: [`namespace ${namespace} no longer exists`] };
  return compareWithBackup({
    namespace,
    backupLabels: b.ns.metadata?.labels ?? {},
    currentLabels: ns.metadata?.labels ?? {},
    currentAnnotations: ns.metadata?.annotations ?? {},
    backupWorkloads: b.workloads.map((w) => workloadView(w.kind, w.object)),
    currentWorkloads: workloads,
    migrationId: input.migrationId,
    plan: input.plan,
  });
}
