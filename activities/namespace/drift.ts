// driftCheck: is the namespace still as the before-migration backup recorded it? Its labels (the
// relabel's own change, recognised by this run's record, is not drift) and its workloads (each
// still there, none added, and nothing changed that decides injection). The comparison is pure;
// the activity reads only this namespace's files of the backup, each checked against the manifest.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRef, NamespaceRef } from '../contract.js';
import type { Plan } from '../../plan/schema.js';
import { relabelFor } from '../../plan/schema.js';
import { readManifest, type ManifestEntry } from '../backup/store.js';
import type { KubeObject } from '../kube/types.js';
import { IstioAnnotation, IstioLabel } from '../../mesh/naming.js';
import type { ClusterDeps } from './deps.js';
import { readPreviousLabelsRecord, type Labels } from './labels.js';

/** Set by the apiserver on every namespace; never ours to compare. */
const AUTOMATIC_LABELS = new Set(['kubernetes.io/metadata.name']);
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

export const DriftFailure = { backupUnusable: 'BackupUnusable' } as const;

export interface WorkloadView {
  /** `Kind/name` */
  id: string;
  /** Pod template labels and annotations that decide injection (facts §2). */
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
  runId: string;
  plan: Pick<Plan, 'target'>;
}

export function compareWithBackup(i: DriftInput): { drifted: boolean; details: string[] } {
  const details: string[] = [];
  const backup = withoutAutomatic(i.backupLabels);
  const current = withoutAutomatic(i.currentLabels);
  let expected = backup;
  // This run relabeled already (a rerun of the namespace's steps): the planned change is ours.
  if (readPreviousLabelsRecord(i.currentAnnotations)[i.runId] !== undefined) {
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
      if (w.injection[k] !== n.injection[k]) details.push(`${id}: pod template ${k} changed from ${w.injection[k] ?? '(absent)'} to ${n.injection[k] ?? '(absent)'} since the backup`);
    }
  }
  for (const id of now.keys()) if (!before.has(id)) details.push(`${id} was created since the backup (it will be restarted like the others)`);
  return { drifted: details.length > 0, details: details.slice(0, 50) };
}

function unusable(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: DriftFailure.backupUnusable, nonRetryable: true, message });
}

/** This namespace's objects from the backup, each file checked against its manifest digest. */
export async function readNamespaceBackup(backup: BackupRef, namespace: string): Promise<{ ns?: KubeObject; workloads: { kind: string; object: KubeObject }[] }> {
  const dir = resolve(backup.location);
  const read = await readManifest(dir).catch((err: unknown) => {
    throw unusable(`the backup in ${dir} cannot be read: ${(err as Error).message}`);
  });
  if (!read) throw unusable(`no backup manifest in ${dir}`);
  if (read.digest !== backup.manifestDigest) throw unusable(`the backup manifest in ${dir} changed since the backup (sha256 ${read.digest}, recorded ${backup.manifestDigest})`);
  const load = async (e: ManifestEntry): Promise<KubeObject> => {
    const data = await readFile(join(dir, ...e.file.split('/'))).catch(() => {
      throw unusable(`${e.file} is missing from the backup in ${dir}`);
    });
    if (createHash('sha256').update(data).digest('hex') !== e.sha256) throw unusable(`${e.file} in the backup ${dir} does not match its manifest digest`);
    return JSON.parse(data.toString('utf8')) as KubeObject;
  };
  const nsEntry = read.manifest.objects.find((e) => e.kind === 'Namespace' && e.name === namespace && e.namespace === undefined);
  const wlEntries = read.manifest.objects.filter((e) => WORKLOAD_KINDS.has(e.kind) && e.namespace === namespace);
  return {
    ...(nsEntry ? { ns: await load(nsEntry) } : {}),
    workloads: await Promise.all(wlEntries.map(async (e) => ({ kind: e.kind, object: await load(e) }))),
  };
}

async function currentWorkloads(deps: ClusterDeps, namespace: string): Promise<WorkloadView[]> {
  const lists = await Promise.all(
    (['Deployment', 'StatefulSet', 'DaemonSet'] as const).map(async (kind) => (await deps.kube.listWorkloads(kind, namespace)).map((w) => workloadView(kind, w))),
  );
  return lists.flat();
}

export async function driftCheck(deps: ClusterDeps, input: NamespaceRef & { backup: BackupRef }): Promise<{ drifted: boolean; details: string[] }> {
  const { namespace } = input;
  const b = await readNamespaceBackup(input.backup, namespace);
  const [ns, workloads] = await Promise.all([deps.kube.getNamespace(namespace), currentWorkloads(deps, namespace)]);
  if (!b.ns) return { drifted: true, details: [`namespace ${namespace} is not in the backup ${input.backup.location}: take a new backup before migrating it`] };
  if (!ns) return { drifted: true, details: [`namespace ${namespace} no longer exists`] };
  return compareWithBackup({
    namespace,
    backupLabels: b.ns.metadata?.labels ?? {},
    currentLabels: ns.metadata?.labels ?? {},
    currentAnnotations: ns.metadata?.annotations ?? {},
    backupWorkloads: b.workloads.map((w) => workloadView(w.kind, w.object)),
    currentWorkloads: workloads,
    runId: input.runId,
    plan: input.plan,
  });
}
