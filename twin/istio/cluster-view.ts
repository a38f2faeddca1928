// The informer caches the Istio layer shares (one watch per resource, as istiod's kube client
// shares informers between its controllers): namespaces, pods, services, the CA root ConfigMaps and
// the networking.istio.io Gateways and VirtualServices.
import type { V1ConfigMap, V1Namespace, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { CA_ROOT_CERT_KEY, CA_ROOT_CONFIGMAP } from '../../mesh/naming.js';
import type { KubeClients } from './kube-client.js';
import { Reflector, type ListResult } from './reflector.js';

export const ISTIO_NETWORKING_GROUP = 'networking.istio.io';
export const ISTIO_NETWORKING_VERSION = 'v1beta1';

/** networking.istio.io Gateway, the fields the twin reads. */
export interface IstioGateway {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    selector?: Record<string, string>;
    servers?: Array<{ hosts?: string[]; port?: { number?: number; name?: string; protocol?: string } }>;
  };
}

export interface HttpMatchRequest {
  uri?: { exact?: string; prefix?: string; regex?: string };
}

export interface HttpRouteDestination {
  destination?: { host?: string; port?: { number?: number }; subset?: string };
  weight?: number;
}

/** networking.istio.io VirtualService, the fields the twin reads. */
export interface IstioVirtualService {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    hosts?: string[];
    gateways?: string[];
    http?: Array<{ name?: string; match?: HttpMatchRequest[]; route?: HttpRouteDestination[] }>;
  };
}

export class ClusterView {
  readonly namespaces: Reflector<V1Namespace>;
  readonly pods: Reflector<V1Pod>;
  readonly services: Reflector<V1Service>;
  /** Only ConfigMaps named istio-ca-root-cert, in every namespace. */
  readonly caRoots: Reflector<V1ConfigMap>;
  readonly gateways: Reflector<IstioGateway>;
  readonly virtualServices: Reflector<IstioVirtualService>;

  constructor(kube: KubeClients, logger: Logger) {
    const kc = kube.kc;
    const caSelector = `metadata.name=${CA_ROOT_CONFIGMAP}`;
    const custom =
      (plural: string) =>
      async <T>(): Promise<ListResult<T>> =>
        (await kube.custom.listClusterCustomObject({
          group: ISTIO_NETWORKING_GROUP,
          version: ISTIO_NETWORKING_VERSION,
          plural,
        })) as ListResult<T>;
    this.namespaces = new Reflector<V1Namespace>({ kc, logger, path: '/api/v1/namespaces', list: () => kube.core.listNamespace() });
    this.pods = new Reflector<V1Pod>({ kc, logger, path: '/api/v1/pods', list: () => kube.core.listPodForAllNamespaces() });
    this.services = new Reflector<V1Service>({ kc, logger, path: '/api/v1/services', list: () => kube.core.listServiceForAllNamespaces() });
    this.caRoots = new Reflector<V1ConfigMap>({
      kc,
      logger,
      path: '/api/v1/configmaps',
      fieldSelector: caSelector,
      list: () => kube.core.listConfigMapForAllNamespaces({ fieldSelector: caSelector }),
    });
    this.gateways = new Reflector<IstioGateway>({
      kc,
      logger,
      path: `/apis/${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}/gateways`,
      list: () => custom('gateways')<IstioGateway>(),
    });
    this.virtualServices = new Reflector<IstioVirtualService>({
      kc,
      logger,
      path: `/apis/${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}/virtualservices`,
      list: () => custom('virtualservices')<IstioVirtualService>(),
    });
  }

  private all(): Array<Reflector<never>> {
    return [this.namespaces, this.pods, this.services, this.caRoots, this.gateways, this.virtualServices] as unknown as Array<
      Reflector<never>
    >;
  }

  start(): void {
    for (const r of this.all()) r.start();
  }

  async synced(): Promise<void> {
    await Promise.all(this.all().map((r) => r.synced));
  }

  stop(): void {
    for (const r of this.all()) r.stop();
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name)?.metadata?.labels ?? (this.namespaces.get(name) ? {} : undefined);
  }

  /** The root currently in the namespace's istio-ca-root-cert, if any. */
  caRootIn(namespace: string): string | undefined {
    return this.caRoots.get(CA_ROOT_CONFIGMAP, namespace)?.data?.[CA_ROOT_CERT_KEY];
  }

  /** Pods a Service selects that are Running and Ready (its endpoints). */
  readyEndpoints(namespace: string, service: string): V1Pod[] {
    const svc = this.services.get(service, namespace);
    const sel = svc?.spec?.selector;
    if (!sel || Object.keys(sel).length === 0) return [];
    return this.pods
      .list()
      .filter(
        (p) =>
          p.metadata?.namespace === namespace &&
          !p.metadata.deletionTimestamp &&
          Object.entries(sel).every(([k, v]) => p.metadata?.labels?.[k] === v) &&
          isPodReady(p),
      );
  }
}

export function isPodReady(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}
