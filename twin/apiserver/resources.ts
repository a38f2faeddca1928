// The resources this server serves: real groups, versions, scopes, short names and subresources.
// Custom resources registered through a CRD are added at run time (see addCustomResource).

export interface ResourceDef {
  group: string;
  /** Served versions; the first is the storage version, objects are stored once and relabelled. */
  versions: string[];
  /** Preferred version for discovery. */
  preferredVersion: string;
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served (status, log, portforward, proxy, scale...). */
  subresources: string[];
  /** Custom resources: stricter decoding (kind required), no strategic merge patch. */
  custom: boolean;
  /** metadata.generation bumps when anything outside metadata/status changes. */
  tracksGeneration: boolean;
  /** Deleting returns the last state of the object (else a Success Status). */
  deleteReturnsObject: boolean;
  /** Update without metadata.resourceVersion allowed. */
  unconditionalUpdate: boolean;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const RESOURCE_VERBS = VERBS;

function def(p: Partial<ResourceDef> & Pick<ResourceDef, 'group' | 'versions' | 'resource' | 'kind' | 'namespaced'>): ResourceDef {
  return {
    preferredVersion: p.versions[p.versions.length - 1]!,
    singular: p.kind.toLowerCase(),
    listKind: `${p.kind}List`,
    shortNames: [],
    categories: [],
    subresources: [],
    custom: false,
    tracksGeneration: false,
    deleteReturnsObject: false,
    unconditionalUpdate: true,
    ...p,
  };
}

const ISTIO_NETWORKING = ['v1alpha3', 'v1beta1'];
const istio = (group: string, versions: string[], resource: string, kind: string, shortNames: string[]): ResourceDef =>
  def({
    group,
    versions,
    resource,
    kind,
    namespaced: true,
    shortNames,
    custom: true,
    tracksGeneration: true,
    deleteReturnsObject: true,
    unconditionalUpdate: false,
    subresources: ['status'],
    categories: ['istio-io', group === 'networking.istio.io' ? 'networking-istio-io' : 'security-istio-io'],
  });

export function builtinResources(): ResourceDef[] {
  return [
    def({
      group: '',
      versions: ['v1'],
      resource: 'namespaces',
      kind: 'Namespace',
      namespaced: false,
      shortNames: ['ns'],
      subresources: ['status', 'finalize'],
      deleteReturnsObject: true,
    }),
    def({ group: '', versions: ['v1'], resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: ['status'] }),
    def({
      group: '',
      versions: ['v1'],
      resource: 'pods',
      kind: 'Pod',
      namespaced: true,
      shortNames: ['po'],
      categories: ['all'],
      subresources: ['status', 'log', 'portforward', 'proxy'],
      deleteReturnsObject: true,
    }),
    def({
      group: '',
      versions: ['v1'],
      resource: 'services',
      kind: 'Service',
      namespaced: true,
      shortNames: ['svc'],
      categories: ['all'],
      subresources: ['status', 'proxy'],
      deleteReturnsObject: true,
    }),
    def({
      group: '',
      versions: ['v1'],
      resource: 'endpoints',
      kind: 'Endpoints',
      namespaced: true,
      shortNames: ['ep'],
      listKind: 'EndpointsList',
      singular: 'endpoints',
    }),
    def({ group: '', versions: ['v1'], resource: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
    def({ group: '', versions: ['v1'], resource: 'secrets', kind: 'Secret', namespaced: true }),
    def({ group: '', versions: ['v1'], resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] }),
    def({ group: '', versions: ['v1'], resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'] }),
    def({
      group: 'apps',
      versions: ['v1'],
      resource: 'deployments',
      kind: 'Deployment',
      namespaced: true,
      shortNames: ['deploy'],
      categories: ['all'],
      subresources: ['status', 'scale'],
      tracksGeneration: true,
    }),
    def({
      group: 'apps',
      versions: ['v1'],
      resource: 'replicasets',
      kind: 'ReplicaSet',
      namespaced: true,
      shortNames: ['rs'],
      categories: ['all'],
      subresources: ['status', 'scale'],
      tracksGeneration: true,
    }),
    def({
      group: 'apps',
      versions: ['v1'],
      resource: 'statefulsets',
      kind: 'StatefulSet',
      namespaced: true,
      shortNames: ['sts'],
      categories: ['all'],
      subresources: ['status', 'scale'],
      tracksGeneration: true,
    }),
    def({
      group: 'apps',
      versions: ['v1'],
      resource: 'daemonsets',
      kind: 'DaemonSet',
      namespaced: true,
      shortNames: ['ds'],
      categories: ['all'],
      subresources: ['status'],
      tracksGeneration: true,
    }),
    def({ group: 'apps', versions: ['v1'], resource: 'controllerrevisions', kind: 'ControllerRevision', namespaced: true }),
    def({
      group: 'batch',
      versions: ['v1'],
      resource: 'jobs',
      kind: 'Job',
      namespaced: true,
      categories: ['all'],
      subresources: ['status'],
      tracksGeneration: true,
    }),
    def({
      group: 'admissionregistration.k8s.io',
      versions: ['v1'],
      resource: 'mutatingwebhookconfigurations',
      kind: 'MutatingWebhookConfiguration',
      namespaced: false,
      tracksGeneration: true,
    }),
    def({
      group: 'admissionregistration.k8s.io',
      versions: ['v1'],
      resource: 'validatingwebhookconfigurations',
      kind: 'ValidatingWebhookConfiguration',
      namespaced: false,
      tracksGeneration: true,
    }),
    def({
      group: 'apiextensions.k8s.io',
      versions: ['v1'],
      resource: 'customresourcedefinitions',
      kind: 'CustomResourceDefinition',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      subresources: ['status'],
      tracksGeneration: true,
      deleteReturnsObject: true,
    }),
    istio('networking.istio.io', ISTIO_NETWORKING, 'gateways', 'Gateway', ['gw']),
    istio('networking.istio.io', ISTIO_NETWORKING, 'virtualservices', 'VirtualService', ['vs']),
    istio('networking.istio.io', ISTIO_NETWORKING, 'destinationrules', 'DestinationRule', ['dr']),
    istio('networking.istio.io', ISTIO_NETWORKING, 'serviceentries', 'ServiceEntry', ['se']),
    istio('networking.istio.io', ISTIO_NETWORKING, 'sidecars', 'Sidecar', []),
    istio('security.istio.io', ['v1beta1'], 'peerauthentications', 'PeerAuthentication', ['pa']),
    istio('security.istio.io', ['v1beta1'], 'authorizationpolicies', 'AuthorizationPolicy', ['ap']),
  ];
}

/** Kubernetes version ordering for picking a group's preferred version (v1 > v1beta2 > v1beta1 > v1alpha1). */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [-1, 0, 0];
    return [Number(m[1]), m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0, Number(m[3] ?? 0)];
  };
  const [pa, pb] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

export class ResourceRegistry {
  private readonly byGroupResource = new Map<string, ResourceDef>();

  constructor(defs: ResourceDef[] = builtinResources()) {
    for (const d of defs) this.add(d);
  }

  add(d: ResourceDef): void {
    this.byGroupResource.set(`${d.group}/${d.resource}`, d);
  }

  remove(group: string, resource: string): void {
    this.byGroupResource.delete(`${group}/${resource}`);
  }

  get(group: string, resource: string): ResourceDef | undefined {
    return this.byGroupResource.get(`${group}/${resource}`);
  }

  /** The def serving this group/version/resource, or undefined (→ 404). */
  lookup(group: string, version: string, resource: string): ResourceDef | undefined {
    const d = this.get(group, resource);
    return d && d.versions.includes(version) ? d : undefined;
  }

  byKind(apiVersion: string, kind: string): ResourceDef | undefined {
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    for (const d of this.byGroupResource.values()) if (d.group === group && d.kind === kind && d.versions.includes(version)) return d;
    return undefined;
  }

  all(): ResourceDef[] {
    return [...this.byGroupResource.values()];
  }

  /** Groups with their versions, preferred version first, in registration order. */
  groups(): Array<{ group: string; versions: string[]; preferred: string }> {
    const map = new Map<string, Set<string>>();
    for (const d of this.byGroupResource.values()) {
      const s = map.get(d.group) ?? new Set<string>();
      d.versions.forEach((v) => s.add(v));
      map.set(d.group, s);
    }
    return [...map.entries()].map(([group, vs]) => {
      const versions = [...vs].sort((a, b) => compareKubeVersions(b, a));
      return { group, versions, preferred: versions[0]! };
    });
  }
}

export function apiVersionOf(d: ResourceDef, version: string): string {
  return d.group ? `${d.group}/${version}` : version;
}
