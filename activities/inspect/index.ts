// `meshmove inspect namespace NS`: everything that decides where a namespace's pods get their
// sidecar and config, in one read-only view: its labels; which webhook(s) inject new pods now and
// after the plan's relabel (all matches, conflicts); which control planes discover it; the root in
// its istio-ca-root-cert and whose it is (each control plane's root read where it is its own: the
// caBundle istiod patches into its injector, not the copy in its namespace, which may be another
// control plane's); per pod the sidecar revision and SYNCED/STALE in the syncz of that revision's
// istiod. Works without a plan: control planes are found by their istiod Deployments (label app=istiod).
import type { Plan } from '../../plan/schema.js';
import type { KubeAccess } from '../kube/types.js';
import { injectingRevision, type InjectionDecision, type MutatingWebhookConfigurationLike } from '../../mesh/injection.js';
import { discovers } from '../../mesh/discovery.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import {
  CA_ROOT_CERT_KEY,
  CA_ROOT_CONFIGMAP,
  IstioLabel,
  MESH_CONFIG_KEY,
  meshConfigMapName,
  revisionOfIstiodService,
} from '../../mesh/naming.js';
import { findProxy, sidecarRevision, type SynczEntry } from '../../mesh/syncz.js';
import { mustExist } from '../kube/errors.js';
import { labelsAfterRelabel } from '../preflight/relabel.js';
import { readSyncz } from '../preflight/proxy-status.js';
import { describeSelectors } from '../preflight/discovery.js';
import { compareRoots, describeRoot, rootOwner } from '../shared/ca-roots.js';
import { readOwnRoot, type ControlPlaneRef } from '../shared/own-root.js';
import type { SelectorLike } from '../../mesh/injection.js';

export interface InspectReport {
  namespace: string;
  labels: Record<string, string>;
  injection: {
    now: InjectionDecision;
    /** With a plan: after its relabel (the labels it would have are listed too). */
    afterRelabel?: InjectionDecision & { labels: Record<string, string> };
  };
  discovery: {
    revision: string;
    namespace: string;
    selectors: string;
    discoversNow: boolean;
    discoversAfterRelabel?: boolean;
    error?: string;
  }[];
  /** The namespace's root, whose it is, and where each control plane's own root was read. */
  caRoot: { root: string; owner: string; roots: { revision: string; namespace: string; root: string; from: string }[] } | null;
  pods: { name: string; sidecarRevision: string | null; sync: string; istiod?: string }[];
  notes: string[];
}

/** Control planes in the cluster: Deployments labeled app=istiod; revision from istio.io/rev or the name. */
export async function findControlPlanes(kube: KubeAccess): Promise<ControlPlaneRef[]> {
  const deps = await kube.listWorkloads('Deployment', undefined, { labelSelector: 'app=istiod' });
  const out: ControlPlaneRef[] = [];
  for (const d of deps) {
    const revision = d.metadata?.labels?.[IstioLabel.rev] ?? revisionOfIstiodService(d.metadata?.name ?? '');
    if (revision && d.metadata?.namespace) out.push({ revision, namespace: d.metadata.namespace });
  }
  return out.sort((a, b) => `${a.namespace}/${a.revision}`.localeCompare(`${b.namespace}/${b.revision}`));
}

export async function inspectNamespace(kube: KubeAccess, namespace: string, plan?: Plan): Promise<InspectReport> {
  const ns = mustExist(await kube.getNamespace(namespace), { resource: 'namespaces', group: '', name: namespace });
  const labels = { ...(ns.metadata?.labels ?? {}) };
  const notes: string[] = [];
  const [mwcs, cps, caCm, pods] = await Promise.all([
    kube.listMutatingWebhookConfigurations(),
    plan
      ? Promise.resolve([
          { revision: plan.source.revision, namespace: plan.source.istiodNamespace },
          { revision: plan.target.revision, namespace: plan.target.istiodNamespace },
        ])
      : findControlPlanes(kube),
    kube.getConfigMap(namespace, CA_ROOT_CONFIGMAP),
    kube.listPods(namespace),
  ]);
  const configs = mwcs as MutatingWebhookConfigurationLike[];
  const after = plan ? labelsAfterRelabel(labels, plan) : undefined;
  const injection: InspectReport['injection'] = { now: injectingRevision(configs, labels, {}) };
  if (after) injection.afterRelabel = { ...injectingRevision(configs, after, {}), labels: after };
  if (IstioLabel.injection in labels && IstioLabel.rev in labels) {
    notes.push(
      `both istio-injection=${labels[IstioLabel.injection]} and istio.io/rev=${labels[IstioLabel.rev]} are set: istio-injection wins (docs/istio-facts.md §2, istioctl analyze IST0123)`,
    );
  }

  // Which control planes discover the namespace (and each one's root, for attribution).
  const discovery: InspectReport['discovery'] = [];
  const roots = new Map<string, string | undefined>();
  const rootsFrom: NonNullable<InspectReport['caRoot']>['roots'] = [];
  for (const cp of cps) {
    const others = cps.filter((o) => o !== cp);
    const [cm, own] = await Promise.all([
      kube.getConfigMap(cp.namespace, meshConfigMapName(cp.revision)),
      readOwnRoot(kube, cp, others, mwcs),
    ]);
    roots.set(`${cp.namespace}/${cp.revision}`, own.pem);
    rootsFrom.push({ revision: cp.revision, namespace: cp.namespace, root: describeRoot(own.pem), from: own.from });
    let selectors: SelectorLike[] = [];
    let error: string | undefined;
    try {
      selectors = parseMeshConfig(cm?.data?.[MESH_CONFIG_KEY]).discoverySelectors;
      if (!cm) error = `mesh config ${cp.namespace}/${meshConfigMapName(cp.revision)} not found`;
    } catch (err) {
      error = (err as Error).message;
    }
    discovery.push({
      revision: cp.revision,
      namespace: cp.namespace,
      selectors: describeSelectors(selectors),
      discoversNow: discovers(selectors, labels),
      ...(after ? { discoversAfterRelabel: discovers(selectors, after) } : {}),
      ...(error ? { error } : {}),
    });
  }

  // Whose root the namespace holds.
  const pem = caCm?.data?.[CA_ROOT_CERT_KEY];
  let caRoot: InspectReport['caRoot'] = null;
  if (pem) {
    const owners = cps.filter((cp) => compareRoots(pem, roots.get(`${cp.namespace}/${cp.revision}`)) === 'same');
    const owner = plan
      ? rootOwner(pem, {
          source: roots.get(`${plan.source.istiodNamespace}/${plan.source.revision}`),
          target: roots.get(`${plan.target.istiodNamespace}/${plan.target.revision}`),
          sourceRevision: plan.source.revision,
          targetRevision: plan.target.revision,
        })
      : owners.length > 0
        ? owners.map((o) => `${o.revision} (${o.namespace})`).join(', ')
        : 'no control plane found publishing it';
    caRoot = { root: describeRoot(pem), owner, roots: rootsFrom };
  }

  // Per pod: sidecar revision and its sync state in that revision's istiod.
  const syncz = new Map<string, SynczEntry[] | string>();
  const cpOf = (rev: string): ControlPlaneRef | undefined => cps.find((c) => c.revision === rev);
  const out: InspectReport['pods'] = [];
  for (const p of pods) {
    const name = p.metadata?.name ?? '';
    const rev = sidecarRevision(p);
    if (!rev) {
      out.push({ name, sidecarRevision: null, sync: 'no sidecar' });
      continue;
    }
    const cp = cpOf(rev);
    if (!cp) {
      out.push({ name, sidecarRevision: rev, sync: `no istiod of revision ${rev} found` });
      continue;
    }
    const key = `${cp.namespace}/${cp.revision}`;
    if (!syncz.has(key)) {
      try {
        syncz.set(key, await readSyncz(kube, cp.revision, cp.namespace));
      } catch (err) {
        syncz.set(key, (err as Error).message);
      }
    }
    const entries = syncz.get(key)!;
    if (typeof entries === 'string') {
      out.push({ name, sidecarRevision: rev, sync: `unknown (${entries})`, istiod: key });
      continue;
    }
    const found = findProxy(entries, name, namespace);
    out.push({ name, sidecarRevision: rev, sync: found ? found.overall : 'NOT CONNECTED', istiod: key });
  }
  return { namespace, labels, injection, discovery, caRoot, pods: out, notes };
}

function decisionText(d: InjectionDecision): string {
  if (d.matches.length === 0) return 'no webhook matches: new pods get no sidecar';
  const list = d.matches.map((m) => `${m.configName} / ${m.webhookName} → ${m.revision ?? '?'}`).join('\n      ');
  return `${d.conflict ? 'CONFLICT, ' : ''}revision ${d.revision ?? '?'}${d.conflict ? ' (last by name wins)' : ''}\n      ${list}`;
}

/** The human rendering of `meshmove inspect namespace`. */
export function renderInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`namespace ${r.namespace}`);
  lines.push(
    `  labels: ${
      Object.entries(r.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '(none)'
    }`,
  );
  lines.push(`  injection now: ${decisionText(r.injection.now)}`);
  if (r.injection.afterRelabel) {
    lines.push(
      `  after relabel (${Object.entries(r.injection.afterRelabel.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}):`,
    );
    lines.push(`    ${decisionText(r.injection.afterRelabel)}`);
  }
  lines.push('  discovered by:');
  for (const d of r.discovery) {
    lines.push(
      `    ${d.revision} (${d.namespace}): ${d.discoversNow ? 'yes' : 'no'}${d.discoversAfterRelabel !== undefined ? `, after relabel ${d.discoversAfterRelabel ? 'yes' : 'no'}` : ''}  [selectors: ${d.selectors}]${d.error ? `  (${d.error})` : ''}`,
    );
  }
  lines.push(`  istio-ca-root-cert: ${r.caRoot ? `${r.caRoot.root}, from ${r.caRoot.owner}` : 'absent'}`);
  for (const x of r.caRoot?.roots ?? []) lines.push(`    ${x.revision}'s own root: ${x.root} (read from ${x.from})`);
  lines.push(`  pods (${r.pods.length}):`);
  for (const p of r.pods) lines.push(`    ${p.name}: ${p.sidecarRevision ? `sidecar ${p.sidecarRevision}, ${p.sync}` : p.sync}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
