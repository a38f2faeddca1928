// What `meshmove plan init` reads from the cluster, fetched once with list calls (no per-namespace
// GETs, so 2,000 namespaces cost a few pages) and decided on by the pure functions in choose.ts.
// Everything a decision depends on is reused from the product: control planes as `inspect` finds
// them, injection by mesh/injection (what preflight evaluates), mesh config by mesh/meshconfig,
// each control plane's own root by readOwnRoot (what preflight reads). Read-only.
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Service } from '@kubernetes/client-node';
import type { KubeAccess, KubeObject } from '../../activities/kube/index.js';
import { ISTIO_RESOURCES } from '../../activities/kube/index.js';
import { findControlPlanes } from '../../activities/inspect/index.js';
import { describeSelectors } from '../../activities/preflight/index.js';
import { describeRoot } from '../../activities/shared/ca-roots.js';
import { istiodBuild } from '../../activities/shared/control-plane-scope.js';
import { externalAddress } from '../../activities/shared/gateway.js';
import { readOwnRoot } from '../../activities/shared/own-root.js';
import { injectingRevision, type MutatingWebhookConfigurationLike, type SelectorLike } from '../../mesh/injection.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import { IstioLabel, MESH_CONFIG_KEY, istiodServiceName, meshConfigMapName } from '../../mesh/naming.js';

export interface ControlPlaneInfo {
  revision: string;
  namespace: string;
  /** From istiod's image tag; undefined when the tag names no version. */
  version?: string;
  image?: string;
  discoverySelectors: SelectorLike[];
  /** Human form, e.g. `{usergroup=istio-1-16-5}` or "no discoverySelectors: every namespace". */
  discoverySelectorsText: string;
  outboundTrafficPolicy?: string;
  /** Set when the mesh config is absent or unreadable. */
  meshConfigError?: string;
  /** `sha256:… (CN=…)`, or undefined when its own root could not be read. */
  root?: string;
  rootFrom: string;
  /** Namespaces whose new pods this control plane's webhooks inject today. */
  injectedNamespaces: number;
}

export interface RevisionTag {
  tag: string;
  revision: string;
  webhookConfiguration: string;
}

export interface GatewayInfo {
  namespace: string;
  deployment: string;
  /** The labels of its pods (the Deployment's pod template). */
  podLabels: Record<string, string>;
  /** The revision whose proxy it runs, when it can be told (pod label istio.io/rev, else its namespace's injector). */
  revision?: string;
  service?: { name: string; type?: string; address?: string; selector: Record<string, string> };
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
  /** The revision whose webhook injects a new pod here today (last match, as the apiserver calls them); null: none. */
  injectedBy: string | null;
  /** More than one webhook matches today (a conflict preflight blocks on after the relabel). */
  conflict: boolean;
  /** Deployments + StatefulSets + DaemonSets. */
  workloads: number;
}

export interface ClusterInventory {
  context: string;
  controlPlanes: ControlPlaneInfo[];
  revisionTags: RevisionTag[];
  gateways: GatewayInfo[];
  namespaces: NamespaceInfo[];
  istioGateways: KubeObject[];
  virtualServices: KubeObject[];
}

const kindRef = (kind: string) => ISTIO_RESOURCES.find((r) => r.kind === kind)!;

/** The gateway chart marks its pods for the `gateway` injection template; older installs only by labels. */
const GATEWAY_TEMPLATE_ANNOTATION = 'inject.istio.io/templates';

function isIngressGateway(d: V1Deployment, istioGateways: readonly KubeObject[]): boolean {
  const podLabels = d.spec?.template?.metadata?.labels ?? {};
  const name = d.metadata?.name ?? '';
  const text = `${name} ${podLabels.istio ?? ''} ${podLabels.app ?? ''}`;
  if (/egress/.test(text)) return false;
  if (d.spec?.template?.metadata?.annotations?.[GATEWAY_TEMPLATE_ANNOTATION] === 'gateway') return true;
  if (/ingressgateway/.test(text)) return true;
  // A Deployment an Istio Gateway resource selects is a gateway, whatever it is called.
  return istioGateways.some((g) => {
    const sel = (g.spec as { selector?: Record<string, string> } | undefined)?.selector ?? {};
    return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  });
}

function serviceFor(podLabels: Record<string, string>, services: readonly V1Service[]): V1Service | undefined {
  const selecting = services.filter((s) => {
    const sel = s.spec?.selector ?? {};
    return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  });
  // The one DNS can point at first: a LoadBalancer with an address, then any LoadBalancer.
  const rank = (s: V1Service): number => (s.spec?.type === 'LoadBalancer' ? (externalAddress(s) ? 0 : 1) : externalAddress(s) ? 2 : 3);
  return selecting.sort((a, b) => rank(a) - rank(b))[0];
}

export async function readInventory(kube: KubeAccess): Promise<ClusterInventory> {
  const [cps, mwcs, namespaces, deployments, statefulSets, daemonSets, services, istioGateways, virtualServices] = await Promise.all([
    findControlPlanes(kube),
    kube.listMutatingWebhookConfigurations(),
    kube.listNamespaces(),
    kube.listWorkloads('Deployment', undefined),
    kube.listWorkloads('StatefulSet', undefined),
    kube.listWorkloads('DaemonSet', undefined),
    kube.listServices(undefined),
    kube.listCustomObjects(kindRef('Gateway'), undefined),
    kube.listCustomObjects(kindRef('VirtualService'), undefined),
  ]);
  const configs = mwcs as MutatingWebhookConfigurationLike[];

  const workloadCount = new Map<string, number>();
  for (const w of [...deployments, ...statefulSets, ...daemonSets]) {
    const ns = w.metadata?.namespace ?? '';
    workloadCount.set(ns, (workloadCount.get(ns) ?? 0) + 1);
  }
  const nsInfo: NamespaceInfo[] = namespaces.map((n) => {
    const name = n.metadata?.name ?? '';
    const labels = { ...(n.metadata?.labels ?? {}) };
    let decision: { revision: string | null; conflict: boolean };
    try {
      decision = injectingRevision(configs, labels, {});
    } catch {
      // A webhook selector the apiserver would reject too: preflight reports it.
      decision = { revision: null, conflict: false };
    }
    return { name, labels, injectedBy: decision.revision, conflict: decision.conflict, workloads: workloadCount.get(name) ?? 0 };
  });
  nsInfo.sort((a, b) => a.name.localeCompare(b.name));

  const revisionTags: RevisionTag[] = (mwcs as V1MutatingWebhookConfiguration[])
    .filter((m) => m.metadata?.labels?.[IstioLabel.tag] !== undefined)
    .map((m) => ({
      tag: m.metadata!.labels![IstioLabel.tag]!,
      revision: m.metadata?.labels?.[IstioLabel.rev] ?? '?',
      webhookConfiguration: m.metadata?.name ?? '',
    }));

  const deploymentsByKey = new Map(deployments.map((d) => [`${d.metadata?.namespace ?? ''}/${d.metadata?.name ?? ''}`, d]));
  const controlPlanes: ControlPlaneInfo[] = await Promise.all(
    cps.map(async (cp): Promise<ControlPlaneInfo> => {
      const istiod =
        deploymentsByKey.get(`${cp.namespace}/${istiodServiceName(cp.revision)}`) ??
        deployments.find(
          (d) =>
            d.metadata?.namespace === cp.namespace &&
            d.metadata?.labels?.app === 'istiod' &&
            d.metadata?.labels?.[IstioLabel.rev] === cp.revision,
        );
      const build = istiodBuild(istiod);
      const cm = await kube.getConfigMap(cp.namespace, meshConfigMapName(cp.revision));
      let discoverySelectors: SelectorLike[] = [];
      let outboundTrafficPolicy: string | undefined;
      let meshConfigError: string | undefined;
      if (!cm) meshConfigError = `mesh config ConfigMap ${cp.namespace}/${meshConfigMapName(cp.revision)} not found`;
      try {
        const mesh = parseMeshConfig(cm?.data?.[MESH_CONFIG_KEY]);
        discoverySelectors = mesh.discoverySelectors;
        if (cm) outboundTrafficPolicy = mesh.outboundTrafficPolicyMode;
      } catch (err) {
        meshConfigError = (err as Error).message;
      }
      let root: string | undefined;
      let rootFrom: string;
      try {
        const own = await readOwnRoot(
          kube,
          cp,
          cps.filter((o) => o !== cp),
          mwcs,
        );
        rootFrom = own.from;
        if (own.pem) root = describeRoot(own.pem);
      } catch (err) {
        rootFrom = `not readable: ${(err as Error).message}`;
      }
      return {
        revision: cp.revision,
        namespace: cp.namespace,
        ...(build.version ? { version: build.version } : {}),
        ...(build.image ? { image: build.image } : {}),
        discoverySelectors,
        discoverySelectorsText: describeSelectors(discoverySelectors),
        ...(outboundTrafficPolicy ? { outboundTrafficPolicy } : {}),
        ...(meshConfigError ? { meshConfigError } : {}),
        ...(root ? { root } : {}),
        rootFrom,
        injectedNamespaces: nsInfo.filter((n) => n.injectedBy === cp.revision).length,
      };
    }),
  );

  const nsByName = new Map(nsInfo.map((n) => [n.name, n]));
  const gateways: GatewayInfo[] = deployments
    .filter((d) => isIngressGateway(d, istioGateways))
    .map((d) => {
      const namespace = d.metadata?.namespace ?? '';
      const podLabels = { ...(d.spec?.template?.metadata?.labels ?? {}) };
      const svc = serviceFor(
        podLabels,
        services.filter((s) => s.metadata?.namespace === namespace),
      );
      const address = externalAddress(svc);
      const revision =
        podLabels[IstioLabel.rev] ?? nsByName.get(namespace)?.injectedBy ?? cps.find((c) => c.namespace === namespace)?.revision;
      return {
        namespace,
        deployment: d.metadata?.name ?? '',
        podLabels,
        ...(revision ? { revision } : {}),
        ...(svc
          ? {
              service: {
                name: svc.metadata?.name ?? '',
                ...(svc.spec?.type ? { type: svc.spec.type } : {}),
                ...(address ? { address } : {}),
                selector: { ...(svc.spec?.selector ?? {}) },
              },
            }
          : {}),
      };
    })
    .sort((a, b) => `${a.namespace}/${a.deployment}`.localeCompare(`${b.namespace}/${b.deployment}`));

  return { context: kube.contextName, controlPlanes, revisionTags, gateways, namespaces: nsInfo, istioGateways, virtualServices };
}
