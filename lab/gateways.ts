// The lab's ingress gateways: in the cluster, what Istio's gateway chart installs (a Deployment
// whose pods the revision's real webhook injects with the `gateway` template, and a LoadBalancer
// Service), with the Service's external address on loopback in status.loadBalancer.ingress, as a
// cloud controller publishes it (the apiserver refuses loopback addresses in spec.externalIPs). Outside,
// lab/go/xds-standin listens on that address and port and routes each request with the xDS that
// the gateway pod's router proxy got from its real istiod (see gateway.go there): the routing
// decision, 404 NR and 503 UH are istiod's; only the 200 of the upstream is synthesized.
import { stringify } from 'yaml';
import type { KubeControlPlane } from './kube.js';

/** The port the gateway container listens on in its pod (the Service's targetPort), as in Istio's chart. */
export const GATEWAY_TARGET_PORT = 8080;

export interface LabGatewaySpec {
  name: string;
  namespace: string;
  revision: string;
  /** Pod and Service selector labels (the chart's `istio: ...` label). */
  labels: Record<string, string>;
  /** The external IP (loopback); the port is picked free on it. */
  address: string;
}

export interface LabGateway extends LabGatewaySpec {
  /** The Service's HTTP port (named http2), where the stand-in listens on `address`. */
  port: number;
}

/** The field report's two gateways, at the addresses the twin uses. */
export const FIELD_REPORT_GATEWAYS: readonly LabGatewaySpec[] = [
  {
    name: 'istio-ingressgateway',
    namespace: 'istio-system',
    revision: 'default',
    labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
    address: '127.0.0.10',
  },
  {
    name: 'istio-ingressgateway',
    namespace: 'istio-1-16-5',
    revision: 'istio-1-16-5',
    labels: { istio: 'oss-public-api-ingressgateway', app: 'istio-ingressgateway' },
    address: '127.0.0.20',
  },
];

export function gatewayFlag(g: LabGateway): string {
  return `--gateway=${g.namespace}/${g.name}=${g.address}:${g.port}`;
}

export function gatewayObjects(g: LabGateway): unknown[] {
  const podLabels: Record<string, string> = { ...g.labels, 'sidecar.istio.io/inject': 'true' };
  if (g.revision !== 'default') podLabels['istio.io/rev'] = g.revision;
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: g.name, namespace: g.namespace, labels: { ...g.labels } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { ...g.labels } },
        template: {
          metadata: { labels: podLabels, annotations: { 'inject.istio.io/templates': 'gateway' } },
          spec: {
            containers: [
              { name: 'istio-proxy', image: 'auto', ports: [{ containerPort: GATEWAY_TARGET_PORT, name: 'http2', protocol: 'TCP' }] },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: g.name, namespace: g.namespace, labels: { ...g.labels } },
      spec: {
        type: 'LoadBalancer',
        selector: { ...g.labels },
        ports: [{ name: 'http2', port: g.port, targetPort: GATEWAY_TARGET_PORT, protocol: 'TCP' }],
      },
    },
  ];
}

export async function applyGateways(kube: KubeControlPlane, gateways: readonly LabGateway[]): Promise<void> {
  if (gateways.length === 0) return;
  await kube.kubectl(
    ['apply', '-f', '-'],
    gateways
      .flatMap(gatewayObjects)
      .map((d) => `---\n${stringify(d)}`)
      .join('\n'),
  );
  // The cloud controller's part: publish the external address in the status (the apiserver refuses
  // loopback addresses in spec.externalIPs: "may not be in the loopback range").
  for (const g of gateways) {
    const status = {
      status: { loadBalancer: { ingress: [{ ip: g.address, ipMode: 'VIP', ports: [{ port: g.port, protocol: 'TCP' }] }] } },
    };
    await kube.kubectl([
      'patch',
      'service',
      g.name,
      '-n',
      g.namespace,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
  }
}

/**
 * The field report's Istio config: one Gateway per gateway (its Service port, hosts *.y7test.com)
 * and the two VirtualServices bound to both, as in examples/twin/field-report.yaml.
 */
export function fieldReportIstioConfig(gateways: readonly LabGateway[]): unknown[] {
  const gatewayRefs = gateways.map((g) => `${g.namespace}/y7test-gateway`);
  return [
    ...gateways.map((g) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'y7test-gateway', namespace: g.namespace },
      spec: {
        selector: { istio: g.labels.istio },
        servers: [{ port: { number: g.port, name: 'http', protocol: 'HTTP' }, hosts: ['*.y7test.com'] }],
      },
    })),
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'shop', namespace: 'frontend' },
      spec: {
        hosts: ['shop.y7test.com'],
        gateways: gatewayRefs,
        http: [{ route: [{ destination: { host: 'frontend.frontend.svc.cluster.local', port: { number: 8080 } } }] }],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'api', namespace: 'orders' },
      spec: {
        hosts: ['api.y7test.com'],
        gateways: gatewayRefs,
        http: ['orders', 'payments', 'inventory'].map((ns) => ({
          match: [{ uri: { prefix: `/${ns}` } }],
          route: [{ destination: { host: `${ns}.${ns}.svc.cluster.local`, port: { number: 8080 } } }],
        })),
      },
    },
  ];
}
