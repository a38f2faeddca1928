// The fetching half of `meshmove twin snapshot`: everything it reads from a cluster, through the one
// `KubeAccess` door, read-only. What it must never carry out (Secrets, ConfigMap data other than the
// mesh config, env values) is cut here already, so the deciding half (scenario.ts) cannot leak it:
// Secrets are never listed, ConfigMaps are only fetched by name (istio[-<rev>] for its `mesh` key,
// istio-ca-root-cert to compare roots; the certificate is reduced to a digest), and workloads are
// kept as the few fields the scenario can express.
import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import type { V1Container, V1MutatingWebhookConfiguration, V1Service } from '@kubernetes/client-node';
import { ISTIO_RESOURCES, type KubeAccess, type KubeObject, type WorkloadKind } from '../../activities/kube/index.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP, IstioLabel, MESH_CONFIG_KEY, meshConfigMapName } from '../../mesh/naming.js';

/** The one istiod environment variable the scenario expresses (a feature flag, not a value of the app). */
export const ENHANCED_SCOPING_ENV = 'ENABLE_ENHANCED_RESOURCE_SCOPING';

/** A Deployment, StatefulSet or DaemonSet, as much of it as a snapshot may keep. */
export interface WorkloadShape {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** undefined for a DaemonSet. */
  replicas: number | undefined;
  podLabels: Record<string, string>;
  /** Only whether the pod template carries these annotation keys (never their values, except the injection switch). */
  podAnnotationKeys: string[];
  injectAnnotation: string | undefined;
  /** Image tags of the containers (istiod's version), never the whole spec. */
  imageTags: string[];
  /** The value of ENABLE_ENHANCED_RESOURCE_SCOPING when set literally; no other env is read. */
  enhancedScoping: string | undefined;
}

export interface ServiceShape {
  namespace: string;
  name: string;
  type: string;
  selector: Record<string, string>;
  ports: Array<{ name: string | undefined; port: number }>;
  /** status.loadBalancer.ingress[0]: ip, else hostname. */
  externalAddress: string | undefined;
}

export interface ClusterShape {
  context: string;
  server: string;
  namespaces: Array<{ name: string; labels: Record<string, string> }>;
  workloads: WorkloadShape[];
  services: ServiceShape[];
  mutatingWebhooks: V1MutatingWebhookConfiguration[];
  /** The `mesh` key by `<namespace>/<configmap>`; null when the ConfigMap or key is absent. */
  meshConfigs: Map<string, string | null>;
  /** sha256 of istio-ca-root-cert's root-cert.pem by namespace; null when absent. */
  caRootDigests: Map<string, string | null>;
  istioConfig: KubeObject[];
  /** A-record answers by name from the plan's resolvers; null when none answered. */
  dnsAnswers: Map<string, { addresses: string[]; ttl: number } | null>;
}

const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

export function digest(text: string): string {
  return createHash('sha256').update(text.trim()).digest('hex');
}

function imageTag(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(colon + 1) : undefined;
}

function enhancedScoping(containers: readonly V1Container[]): string | undefined {
  for (const c of containers) {
    const v = c.env?.find((e) => e.name === ENHANCED_SCOPING_ENV)?.value;
    if (v === 'true' || v === 'false') return v;
  }
  return undefined;
}

function serviceShape(s: V1Service): ServiceShape {
  const ingress = s.status?.loadBalancer?.ingress?.[0];
  return {
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    type: s.spec?.type ?? 'ClusterIP',
    selector: { ...(s.spec?.selector ?? {}) },
    ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port })),
    externalAddress: ingress?.ip ?? ingress?.hostname,
  };
}

/** Looks istiod's namespaces and revisions up from the workloads (app=istiod), as the chart labels them. */
export function istiodRevisions(workloads: readonly WorkloadShape[]): Array<{ namespace: string; revision: string }> {
  return workloads
    .filter((w) => w.kind === 'Deployment' && (w.labels.app === 'istiod' || w.podLabels.app === 'istiod'))
    .map((w) => ({ namespace: w.namespace, revision: w.podLabels[IstioLabel.rev] ?? w.labels[IstioLabel.rev] ?? 'default' }));
}

async function resolveA(resolvers: readonly string[], name: string): Promise<{ addresses: string[]; ttl: number } | null> {
  for (const server of resolvers) {
    const r = new Resolver({ timeout: 1500, tries: 1 });
    try {
      r.setServers([server]);
      const answers = await r.resolve4(name, { ttl: true });
      if (answers.length) return { addresses: answers.map((a) => a.address), ttl: answers[0]!.ttl };
    } catch {
      // Try the next resolver; none answering is reported by the caller.
    } finally {
      r.cancel();
    }
  }
  return null;
}

/** Reads the cluster's shape. `dnsNames` are resolved through `resolvers` (the plan's). */
export async function readClusterShape(
  kube: KubeAccess,
  dns: { names: readonly string[]; resolvers: readonly string[] } = { names: [], resolvers: [] },
): Promise<ClusterShape> {
  const namespaces = (await kube.listNamespaces()).map((n) => ({
    name: n.metadata?.name ?? '',
    labels: { ...(n.metadata?.labels ?? {}) },
  }));
  const workloads: WorkloadShape[] = [];
  for (const kind of WORKLOAD_KINDS) {
    for (const w of await kube.listWorkloads(kind, undefined)) {
      const template = w.spec?.template;
      const annotations = template?.metadata?.annotations ?? {};
      const containers = template?.spec?.containers ?? [];
      workloads.push({
        kind,
        namespace: w.metadata?.namespace ?? '',
        name: w.metadata?.name ?? '',
        labels: { ...(w.metadata?.labels ?? {}) },
        replicas: kind === 'DaemonSet' ? undefined : ((w.spec as { replicas?: number } | undefined)?.replicas ?? 1),
        podLabels: { ...(template?.metadata?.labels ?? {}) },
        podAnnotationKeys: Object.keys(annotations),
        injectAnnotation: annotations[IstioLabel.inject],
        imageTags: containers.map((c) => imageTag(c.image)).filter((t): t is string => t !== undefined),
        enhancedScoping: enhancedScoping(containers),
      });
    }
  }
  const services = (await kube.listServices(undefined)).map(serviceShape);
  const mutatingWebhooks = await kube.listMutatingWebhookConfigurations();

  const meshConfigs = new Map<string, string | null>();
  const caRootDigests = new Map<string, string | null>();
  for (const { namespace, revision } of istiodRevisions(workloads)) {
    const cmName = meshConfigMapName(revision);
    const cm = await kube.getConfigMap(namespace, cmName);
    meshConfigs.set(`${namespace}/${cmName}`, cm?.data?.[MESH_CONFIG_KEY] ?? null);
    if (!caRootDigests.has(namespace)) {
      const root = (await kube.getConfigMap(namespace, CA_ROOT_CONFIGMAP))?.data?.[CA_ROOT_CERT_KEY];
      caRootDigests.set(namespace, root ? digest(root) : null);
    }
  }

  const istioConfig: KubeObject[] = [];
  for (const ref of ISTIO_RESOURCES) {
    for (const o of await kube.listCustomObjects(ref, undefined))
      istioConfig.push({ ...o, apiVersion: o.apiVersion ?? `${ref.group}/${ref.version}`, kind: o.kind ?? ref.kind });
  }

  const dnsAnswers = new Map<string, { addresses: string[]; ttl: number } | null>();
  for (const name of dns.names) dnsAnswers.set(name, await resolveA(dns.resolvers, name));

  return {
    context: kube.contextName,
    server: kube.server,
    namespaces,
    workloads,
    services,
    mutatingWebhooks,
    meshConfigs,
    caRootDigests,
    istioConfig,
    dnsAnswers,
  };
}
