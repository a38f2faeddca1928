// The deciding half of `meshmove twin snapshot`: a cluster's shape (read.ts) becomes a twin scenario.
// Pure, so every choice (which Deployment is an istiod or a gateway, which webhook configuration is a
// control plane's own, which roots are the same, where a DNS record points) is testable without a
// cluster. What the scenario format cannot say is collected in `lost`, which the file's header lists.
import { digest, istiodRevisions, type ClusterShape, type ServiceShape, type WorkloadShape } from './read.js';
import { webhookRevision } from '../../mesh/injection.js';
import { isDns1123Label } from '../../mesh/k8s-names.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import { IstioLabel, injectorWebhookConfigName, istiodServiceName, meshConfigMapName } from '../../mesh/naming.js';
import type { Plan } from '../../plan/schema.js';
import type { ScenarioInput } from '../../twin/scenario.js';
import { gatewayDeploymentName } from '../../plan/model.js';

type ControlPlaneInput = ScenarioInput['controlPlanes'][number];
type GatewayInput = NonNullable<ScenarioInput['gateways']>[number];
type NamespaceInput = NonNullable<ScenarioInput['namespaces']>[number];
type WorkloadInput = NonNullable<NamespaceInput['workloads']>[number];
type DnsRecordInput = NonNullable<NonNullable<ScenarioInput['dns']>['records']>[number];
type KubeObjectInput = NonNullable<ScenarioInput['istioConfig']>[number];

/** Namespaces Kubernetes itself owns: never part of a snapshot. */
export const KUBERNETES_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease']);
/** The pod template labels that decide injection: the only workload labels a snapshot keeps. */
export const INJECTION_LABELS: readonly string[] = [IstioLabel.inject, IstioLabel.rev];
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
const TEMPLATES_ANNOTATION = 'inject.istio.io/templates';
const LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const VERSION = /^\d+\.\d+/;
/** Labels that make no sense to carry over to the twin's gateway pods. */
const GATEWAY_LABELS_DROPPED: ReadonlySet<string> = new Set([IstioLabel.rev, IstioLabel.inject, 'pod-template-hash']);

export interface SnapshotOptions {
  plan?: Plan | undefined;
}

export interface SnapshotResult {
  scenario: ScenarioInput;
  /** What the cluster has and the scenario cannot express (or the snapshot left out), one line each. */
  lost: string[];
}

function sortedBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  return [...items].sort((a, b) => key(a).localeCompare(key(b)));
}

const clamp = (n: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, n));

function subsetOf(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

function isIstiod(w: WorkloadShape): boolean {
  return w.kind === 'Deployment' && (w.labels.app === 'istiod' || w.podLabels.app === 'istiod');
}

/** An ingress gateway: injected with the gateway template, or labelled istio=*ingressgateway as the charts do. */
export function isIngressGateway(w: WorkloadShape, templates: string | undefined): boolean {
  if (w.kind !== 'Deployment' || isIstiod(w)) return false;
  const istio = w.podLabels.istio ?? '';
  if (/egressgateway$/.test(istio)) return false;
  return (
    (templates ?? '')
      .split(',')
      .map((t) => t.trim())
      .includes('gateway') || /ingressgateway$/.test(istio)
  );
}

function isEgressGateway(w: WorkloadShape): boolean {
  return /egressgateway$/.test(w.podLabels.istio ?? '');
}

/** Whose injector a webhook calls: `<namespace>/<service>`. */
function webhookService(w: { clientConfig?: { service?: { name?: string; namespace?: string } } }): string | undefined {
  const s = w.clientConfig?.service;
  return s?.name && s.namespace ? `${s.namespace}/${s.name}` : undefined;
}

/**
 * A control plane's own webhook configuration: its injector, or a revision tag calling its istiod.
 * The Service it calls names the istiod; an injector called by URL (an external or remote istiod,
 * `istiodRemote.injectionURL`) is told by its revision the way the product tells it (webhookRevision).
 */
function ownerOf(
  mwc: ClusterShape['mutatingWebhooks'][number],
  istiods: ReadonlyMap<string, { namespace: string; revision: string }>,
): { namespace: string; revision: string } | undefined {
  for (const w of mwc.webhooks ?? []) {
    const owner = istiods.get(webhookService(w) ?? '');
    if (owner) return owner;
  }
  const byRevision = [...istiods.values()];
  for (const w of mwc.webhooks ?? []) {
    if (webhookService(w)) continue;
    const rev = webhookRevision(mwc, w);
    const owner = byRevision.find((i) => i.revision === rev);
    if (owner) return owner;
  }
  return undefined;
}

/** Gives ids to equal roots: all equal → sameRootCA true; all different → false; unknown or mixed → per control plane. */
export function decideRootCa(roots: ReadonlyArray<{ revision: string; root: string | null }>): {
  sameRootCA?: boolean;
  ids: Map<string, string>;
} {
  const ids = new Map<string, string>();
  const byRoot = new Map<string, string>();
  for (const { revision, root } of roots) {
    if (root === null) continue;
    if (!byRoot.has(root)) byRoot.set(root, `root-${byRoot.size + 1}`);
    ids.set(revision, byRoot.get(root)!);
  }
  if (ids.size !== roots.length || roots.length === 0) return { ids };
  if (byRoot.size === 1) return { sameRootCA: true, ids };
  if (byRoot.size === roots.length) return { sameRootCA: false, ids };
  return { ids };
}

function cleanSelector(s: unknown): {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
} {
  const sel = s as {
    matchLabels?: Record<string, string>;
    matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
  };
  return {
    ...(sel.matchLabels && Object.keys(sel.matchLabels).length ? { matchLabels: { ...sel.matchLabels } } : {}),
    ...(sel.matchExpressions?.length
      ? {
          matchExpressions: sel.matchExpressions.map((e) => ({
            key: e.key,
            operator: e.operator,
            ...(e.values ? { values: [...e.values] } : {}),
          })),
        }
      : {}),
  };
}

/** A Kubernetes object as the scenario applies it: identity, labels and content; never annotations, status or server fields. */
export function cleanObject(o: Record<string, unknown>): KubeObjectInput {
  const meta = (o.metadata ?? {}) as { name?: string; namespace?: string; labels?: Record<string, string> };
  const { apiVersion, kind, metadata: _m, status: _s, ...content } = o as Record<string, unknown> & { apiVersion: string; kind: string };
  return {
    apiVersion,
    kind,
    metadata: {
      name: meta.name ?? '',
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      ...(meta.labels && Object.keys(meta.labels).length ? { labels: { ...meta.labels } } : {}),
    },
    ...content,
  };
}

/** Where the twin serves a privileged gateway port: 80 → 18080, 443 → 18443 (the field report's convention). */
export const UNPRIVILEGED_OFFSET = 18_000;

/**
 * The gateway's HTTP port, as the twin can listen on it (unprivileged, on loopback). Gateways that
 * share a port in the cluster keep sharing one: clients resolve a host to a gateway's address and
 * keep the port, so a DNS cutover between gateways on different ports would break their requests.
 */
export function gatewayPort(s: ServiceShape): { port: number; from?: number } {
  const p = s.ports.find((x) => x.name === 'http2' || x.name === 'http') ?? s.ports.find((x) => x.port === 80) ?? s.ports[0];
  if (!p) return { port: 0 };
  return p.port >= 1024 ? { port: p.port } : { port: UNPRIVILEGED_OFFSET + p.port, from: p.port };
}

function loopbackFromUrl(url: string): number | undefined {
  try {
    const u = new URL(url);
    return LOOPBACK.test(u.hostname) && u.port ? Number(u.port) : undefined;
  } catch {
    return undefined;
  }
}

function loopbackResolverPort(resolvers: readonly string[]): number | undefined {
  for (const r of resolvers) {
    const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(r);
    if (m) return Number(m[2]);
  }
  return undefined;
}

export function scenarioFromCluster(shape: ClusterShape, opts: SnapshotOptions = {}): SnapshotResult {
  const lost: string[] = [];
  const note = (line: string): void => {
    if (!lost.includes(line)) lost.push(line);
  };
  const plan = opts.plan;

  // ---- control planes
  const istiodWorkloads = sortedBy(shape.workloads.filter(isIstiod), (w) => `${w.namespace}/${w.name}`);
  const istiodByService = new Map<string, { namespace: string; revision: string }>();
  const revs = istiodRevisions(istiodWorkloads);
  revs.forEach((r) => istiodByService.set(`${r.namespace}/${istiodServiceName(r.revision)}`, r));
  const ownMwcs = new Set<string>();
  const tagsOf = new Map<string, string[]>();
  const rootOf = new Map<string, string | null>();
  const defaults = new Set<string>();
  for (const mwc of sortedBy(shape.mutatingWebhooks, (m) => m.metadata?.name ?? '')) {
    const name = mwc.metadata?.name ?? '';
    const owner = ownerOf(mwc, istiodByService);
    if (!owner) continue;
    ownMwcs.add(name);
    const tag = mwc.metadata?.labels?.[IstioLabel.tag];
    if (tag !== undefined) {
      if (isDns1123Label(tag)) tagsOf.set(owner.revision, [...(tagsOf.get(owner.revision) ?? []), tag]);
      else note(`revision tag "${tag}" (not a DNS label)`);
      continue;
    }
    if (name === injectorWebhookConfigName(owner.revision, owner.namespace)) {
      const bundle = mwc.webhooks?.find((w) => w.clientConfig?.caBundle)?.clientConfig?.caBundle;
      if (bundle) rootOf.set(owner.revision, digest(Buffer.from(bundle, 'base64').toString('utf8')));
    }
    // The injector without a revision suffix is the default revision's (its legacy webhooks).
    if (name === injectorWebhookConfigName('default', owner.namespace)) defaults.add(owner.revision);
  }
  const controlPlanes: ControlPlaneInput[] = [];
  const seenRevisions = new Set<string>();
  for (const [i, w] of istiodWorkloads.entries()) {
    const { namespace, revision } = revs[i]!;
    if (seenRevisions.has(revision)) {
      note(`a second istiod Deployment of revision "${revision}" (${w.namespace}/${w.name}): one control plane per revision`);
      continue;
    }
    seenRevisions.add(revision);
    const meshKey = `${namespace}/${meshConfigMapName(revision)}`;
    let mesh = parseMeshConfig(null);
    try {
      mesh = parseMeshConfig(shape.meshConfigs.get(meshKey));
    } catch (err) {
      note(`the mesh config of ${meshKey} (${(err as Error).message}): Istio's defaults used`);
    }
    const version = w.imageTags.find((t) => VERSION.test(t));
    if (!version) note(`istiod ${namespace}/${w.name}'s version (image tag ${w.imageTags.join(', ') || 'none'}): the twin's default used`);
    const replicas = w.replicas ?? 1;
    if (replicas < 1 || replicas > 5) note(`istiod ${namespace}/${w.name} replicas ${replicas} (the twin runs 1-5)`);
    controlPlanes.push({
      revision,
      namespace,
      isDefault: revision === 'default' || defaults.has(revision),
      ...(version ? { version } : {}),
      ...(w.enhancedScoping !== undefined ? { enhancedResourceScoping: w.enhancedScoping === 'true' } : {}),
      discoverySelectors: mesh.discoverySelectors.map(cleanSelector),
      outboundTrafficPolicy: mesh.outboundTrafficPolicyMode,
      tags: (tagsOf.get(revision) ?? []).sort(),
      replicas: clamp(replicas, 1, 5),
    });
  }
  const defaultCps = controlPlanes.filter((c) => c.isDefault);
  if (defaultCps.length > 1) {
    // The default revision proper wins; the others are written as non-default.
    const keep = defaultCps.find((c) => c.revision === 'default') ?? defaultCps[0]!;
    for (const c of defaultCps) if (c !== keep) c.isDefault = false;
    note(`more than one control plane with the default injector: only "${keep.revision}" is the default in the scenario`);
  }
  const roots = decideRootCa(
    controlPlanes.map((c) => ({
      revision: c.revision,
      root: rootOf.get(c.revision) ?? shape.caRootDigests.get(c.namespace) ?? null,
    })),
  );
  if (roots.ids.size < controlPlanes.length)
    note(
      'the root CA of some control planes (no caBundle in their injector, no istio-ca-root-cert in their namespace): sameRootCA left unset, their rootCA is "shared"',
    );
  for (const c of controlPlanes) {
    const id = roots.ids.get(c.revision);
    if (id !== undefined && roots.sameRootCA === undefined) c.rootCA = id;
  }
  if (!controlPlanes.length) note('no istiod Deployment (app=istiod) was found: the scenario is not valid without a control plane');
  const revisionSet = new Set(controlPlanes.map((c) => c.revision));
  const tagToRevision = new Map(controlPlanes.flatMap((c) => (c.tags ?? []).map((t) => [t, c.revision] as const)));
  const defaultRevision = controlPlanes.find((c) => c.isDefault)?.revision;

  // ---- ingress gateways
  const gatewayWorkloads = new Set<WorkloadShape>();
  const gateways: GatewayInput[] = [];
  const gatewayByAddress = new Map<string, string>();
  const usedLoopbacks = new Set<string>();
  const pendingAddress: Array<{ g: GatewayInput; original: string | undefined }> = [];
  for (const w of sortedBy(shape.workloads, (x) => `${x.namespace}/${x.name}`)) {
    if (isEgressGateway(w) && !isIstiod(w)) {
      gatewayWorkloads.add(w);
      note(`egress gateway ${w.namespace}/${w.name} (the twin has ingress gateways only)`);
      continue;
    }
    const templates = w.podAnnotationKeys.includes(TEMPLATES_ANNOTATION) ? 'gateway' : undefined;
    if (!isIngressGateway(w, templates)) continue;
    gatewayWorkloads.add(w);
    const rev = w.podLabels[IstioLabel.rev];
    const revision = rev === undefined ? defaultRevision : revisionSet.has(rev) ? rev : tagToRevision.get(rev);
    if (revision === undefined) {
      note(`gateway ${w.namespace}/${w.name}: no control plane has its revision "${rev ?? 'default'}"`);
      continue;
    }
    const labels = Object.fromEntries(Object.entries(w.podLabels).filter(([k]) => !GATEWAY_LABELS_DROPPED.has(k)));
    if (!Object.keys(labels).length) {
      note(`gateway ${w.namespace}/${w.name}: no pod labels besides Istio's`);
      continue;
    }
    const services = sortedBy(
      shape.services.filter((s) => s.namespace === w.namespace && subsetOf(s.selector, w.podLabels)),
      (s) => `${s.type === 'LoadBalancer' ? 0 : 1}${s.name}`,
    );
    const svc = services[0];
    if (svc && svc.name !== w.name)
      note(`gateway ${w.namespace}/${w.name}'s Service name "${svc.name}" (the twin names it after the Deployment)`);
    const replicas = w.replicas ?? 1;
    const port = svc ? gatewayPort(svc) : { port: 0 };
    if (port.from !== undefined)
      note(`gateway ${w.namespace}/${w.name}'s port ${port.from}: the twin serves it on ${port.port} (unprivileged)`);
    const g: GatewayInput = {
      name: w.name,
      namespace: w.namespace,
      revision,
      labels,
      address: '',
      port: port.port,
      replicas: clamp(replicas, 1, 5),
    };
    const original = svc?.externalAddress;
    if (original && LOOPBACK.test(original) && !usedLoopbacks.has(original)) {
      g.address = original;
      usedLoopbacks.add(original);
    } else {
      pendingAddress.push({ g, original });
      note(`gateway ${w.namespace}/${w.name}'s external address ${original ?? '(none)'}: the twin gives it a loopback address`);
    }
    if (original) gatewayByAddress.set(original, `${w.namespace}/${w.name}`);
    gateways.push(g);
  }
  let next = 10;
  for (const { g } of pendingAddress) {
    while (usedLoopbacks.has(`127.0.0.${next}`)) next += 10;
    g.address = `127.0.0.${next}`;
    usedLoopbacks.add(g.address);
  }

  // ---- namespaces and their workloads
  const cpNamespaces = new Set([...controlPlanes.map((c) => c.namespace), ...gateways.map((g) => g.namespace)]);
  const claimedServices = new Set<string>();
  const namespaces: NamespaceInput[] = [];
  let annotatedPods = 0;
  for (const ns of sortedBy(shape.namespaces, (n) => n.name)) {
    if (KUBERNETES_NAMESPACES.has(ns.name)) continue;
    const labels = Object.fromEntries(Object.entries(ns.labels).filter(([k]) => k !== NAMESPACE_NAME_LABEL));
    const workloads: WorkloadInput[] = [];
    for (const w of sortedBy(
      shape.workloads.filter((x) => x.namespace === ns.name && !isIstiod(x) && !gatewayWorkloads.has(x)),
      (x) => `${x.name}/${x.kind}`,
    )) {
      if (!isDns1123Label(w.name)) {
        note(`${w.kind} ${ns.name}/${w.name} (its name is not a DNS label)`);
        continue;
      }
      if (workloads.some((x) => x.name === w.name)) {
        note(`${w.kind} ${ns.name}/${w.name} (a workload of another kind has the same name)`);
        continue;
      }
      if (w.injectAnnotation !== undefined) annotatedPods++;
      const services = sortedBy(
        shape.services.filter(
          (s) => s.namespace === ns.name && !claimedServices.has(`${ns.name}/${s.name}`) && subsetOf(s.selector, w.podLabels),
        ),
        (s) => s.name,
      );
      const svc = services[0];
      if (svc) claimedServices.add(`${ns.name}/${svc.name}`);
      if (services.length > 1)
        note(
          `${ns.name}/${w.name}: Services beyond the first selecting it (${services
            .slice(1)
            .map((s) => s.name)
            .join(', ')})`,
        );
      const replicas = w.replicas;
      if (replicas !== undefined && replicas > 100) note(`${ns.name}/${w.name} replicas ${replicas} (the twin runs at most 100)`);
      workloads.push({
        kind: w.kind,
        name: w.name,
        ...(replicas !== undefined ? { replicas: clamp(replicas, 0, 100) } : {}),
        labels: Object.fromEntries(INJECTION_LABELS.filter((k) => w.podLabels[k] !== undefined).map((k) => [k, w.podLabels[k]!])),
        service: svc && svc.ports[0] ? { ...(svc.name !== w.name ? { name: svc.name } : {}), port: svc.ports[0].port } : false,
      });
    }
    const isSystem = cpNamespaces.has(ns.name) || ns.name === 'default';
    if (isSystem && !workloads.length && !Object.keys(labels).length) continue;
    namespaces.push({ name: ns.name, labels, workloads });
  }
  if (annotatedPods) note(`the sidecar.istio.io/inject pod annotation of ${annotatedPods} workload(s) (the scenario has pod labels only)`);
  const kept = new Set(namespaces.map((n) => n.name));
  for (const n of cpNamespaces) kept.add(n);

  // ---- Istio config and foreign webhook configurations
  const istioConfig: KubeObjectInput[] = [];
  for (const o of shape.istioConfig) {
    const { name = '', namespace = '' } = o.metadata ?? {};
    if (!isDns1123Label(name) || !kept.has(namespace)) {
      note(
        `${o.kind ?? 'object'} ${namespace}/${name} (${kept.has(namespace) ? 'its name is not a DNS label' : 'its namespace is not in the snapshot'})`,
      );
      continue;
    }
    istioConfig.push(cleanObject(o as Record<string, unknown>));
  }
  const objects: KubeObjectInput[] = [];
  for (const mwc of sortedBy(shape.mutatingWebhooks, (m) => m.metadata?.name ?? '')) {
    const name = mwc.metadata?.name ?? '';
    if (ownMwcs.has(name)) continue;
    if (!isDns1123Label(name)) {
      note(`MutatingWebhookConfiguration ${name} (its name is not a DNS label)`);
      continue;
    }
    objects.push(
      cleanObject({
        ...mwc,
        apiVersion: mwc.apiVersion ?? 'admissionregistration.k8s.io/v1',
        kind: mwc.kind ?? 'MutatingWebhookConfiguration',
      } as Record<string, unknown>),
    );
  }
  if (objects.length)
    note(`the backends of ${objects.length} other MutatingWebhookConfiguration(s): the twin has their objects, not the servers they call`);

  // ---- DNS records named in the plan
  const records: DnsRecordInput[] = [];
  if (plan?.dns) {
    const gatewayIds = new Set(gateways.map((g) => `${g.namespace}/${g.name}`));
    const sourceGateway = `${plan.source.gateway.namespace}/${gatewayDeploymentName(plan.source.gateway)}`;
    const planTtl = Math.round(plan.dns.ttl / 1000);
    for (const r of plan.dns.records) {
      const answer = shape.dnsAnswers.get(r.name) ?? null;
      const byAddress = answer?.addresses.map((a) => gatewayByAddress.get(a)).find((g) => g !== undefined);
      const ttl = clamp(answer?.ttl ?? planTtl, 0, 86_400);
      if (byAddress !== undefined) {
        records.push({ name: r.name, gateway: byAddress, ttl });
      } else if (gatewayIds.has(sourceGateway)) {
        records.push({ name: r.name, gateway: sourceGateway, ttl });
        note(
          `DNS record ${r.name}: ${answer ? `answered ${answer.addresses.join(', ')}, no gateway's address` : 'no resolver of the plan answered'}; pointed at the plan's source gateway ${sourceGateway}`,
        );
      } else {
        note(`DNS record ${r.name}: neither a gateway's address nor the plan's source gateway ${sourceGateway} is in the snapshot`);
      }
    }
  }

  // ---- ports: where the plan expects the twin's DNS webhook and resolver, when they are on loopback
  const ports = {
    api: plan?.dns?.provider.type === 'webhook' ? (loopbackFromUrl(plan.dns.provider.url) ?? 0) : 0,
    dns: plan?.dns ? (loopbackResolverPort(plan.dns.resolvers) ?? 0) : 0,
  };

  const scenario: ScenarioInput = {
    apiVersion: 'meshmove.dev/v1alpha1',
    kind: 'TwinScenario',
    metadata: { name: 'snapshot', description: `snapshot of context ${shape.context}` },
    ports,
    ...(roots.sameRootCA !== undefined ? { sameRootCA: roots.sameRootCA } : {}),
    controlPlanes,
    gateways,
    namespaces,
    istioConfig,
    objects,
    dns: { records },
  };
  return { scenario, lost };
}
