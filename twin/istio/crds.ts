// The Istio CRDs a cluster with Istio has (the migration backs up the *.istio.io CRDs and must
// never delete them). The API server serves these kinds already; the CRD objects make the cluster
// look as istioctl install leaves it.
const ISTIO_KINDS: Array<{ group: string; plural: string; kind: string; shortNames: string[]; versions: string[] }> = [
  { group: 'networking.istio.io', plural: 'gateways', kind: 'Gateway', shortNames: ['gw'], versions: ['v1alpha3', 'v1beta1'] },
  {
    group: 'networking.istio.io',
    plural: 'virtualservices',
    kind: 'VirtualService',
    shortNames: ['vs'],
    versions: ['v1alpha3', 'v1beta1'],
  },
  {
    group: 'networking.istio.io',
    plural: 'destinationrules',
    kind: 'DestinationRule',
    shortNames: ['dr'],
    versions: ['v1alpha3', 'v1beta1'],
  },
  { group: 'networking.istio.io', plural: 'serviceentries', kind: 'ServiceEntry', shortNames: ['se'], versions: ['v1alpha3', 'v1beta1'] },
  { group: 'networking.istio.io', plural: 'sidecars', kind: 'Sidecar', shortNames: [], versions: ['v1alpha3', 'v1beta1'] },
  { group: 'security.istio.io', plural: 'peerauthentications', kind: 'PeerAuthentication', shortNames: ['pa'], versions: ['v1beta1'] },
  { group: 'security.istio.io', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy', shortNames: ['ap'], versions: ['v1beta1'] },
];

export function istioCrds(): Array<Record<string, unknown>> {
  return ISTIO_KINDS.map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${k.group}`,
      labels: { app: 'istio-pilot', chart: 'istio', release: 'istio', 'istio.io/config': 'true' },
    },
    spec: {
      group: k.group,
      scope: 'Namespaced',
      names: {
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        kind: k.kind,
        listKind: `${k.kind}List`,
        shortNames: k.shortNames,
        categories: ['istio-io', k.group.split('.')[0] + '-istio-io'],
      },
      versions: k.versions.map((v, i) => ({
        name: v,
        served: true,
        storage: i === 0,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      })),
    },
  }));
}
