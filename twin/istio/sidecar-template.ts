// What istiod's injector adds to a pod (docs/istio-facts.md §5): the istio-proxy container (or, for gateway pods,
// the real image in place of "auto"), istio-init, the volumes the proxy mounts (the root cert from
// istio-ca-root-cert among them), the canonical labels and sidecar.istio.io/status with the
// revision. Pure: pod in, RFC 6902 JSONPatch out. A pod injected before (two webhooks matching) has
// that injection replaced, which is why the last webhook by name wins.
import { CA_ROOT_CONFIGMAP, IstioAnnotation, IstioLabel } from '../../mesh/naming.js';

/** ProxyConfig's built-in discoveryAddress. */
const DEFAULT_DISCOVERY_ADDRESS = 'istiod.istio-system.svc:15012';

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export interface SidecarParams {
  revision: string;
  /** Istio version, used for the proxy image tag. */
  version: string;
  /** istiod[-rev].<ns>.svc:15012 */
  discoveryAddress: string;
  istiodNamespace: string;
}

interface Container {
  name: string;
  image?: string;
  [k: string]: unknown;
}
interface Volume {
  name: string;
  [k: string]: unknown;
}
export interface PodForInjection {
  metadata?: { name?: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: Container[]; initContainers?: Container[]; volumes?: Volume[]; [k: string]: unknown };
}

export const PROXY_CONTAINER = 'istio-proxy';
export const INIT_CONTAINER = 'istio-init';
const SIDECAR_VOLUMES = [
  'workload-socket',
  'credential-socket',
  'workload-certs',
  'istio-envoy',
  'istio-data',
  'istio-podinfo',
  'istio-token',
  'istiod-ca-cert',
];
/** Annotation naming the injection template; gateways use `gateway`. */
export const TEMPLATES_ANNOTATION = 'inject.istio.io/templates';

/**
 * The container fields the apiserver defaults. Set here because kube-apiserver re-defaults a
 * webhook-patched object; a server that does not would otherwise see them appear on the next
 * status update and reject it as a pod spec change.
 */
const CONTAINER_DEFAULTS = {
  imagePullPolicy: 'IfNotPresent',
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
} as const;

function proxyImage(version: string): string {
  return `docker.io/istio/proxyv2:${version}`;
}

function proxyContainer(p: SidecarParams, podName: string, gateway: boolean): Container {
  return {
    name: PROXY_CONTAINER,
    image: proxyImage(p.version),
    ...CONTAINER_DEFAULTS,
    resources: { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '10m', memory: '40Mi' } },
    args: [
      'proxy',
      gateway ? 'router' : 'sidecar',
      '--domain',
      '$(POD_NAMESPACE).svc.cluster.local',
      '--proxyLogLevel=warning',
      '--log_output_level=default:info',
    ],
    env: [
      { name: 'JWT_POLICY', value: 'third-party-jwt' },
      { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
      // The chart derives CA_ADDR from global.istioNamespace; the twin assumes it was set (docs/istio-facts.md §5 pitfall).
      { name: 'CA_ADDR', value: p.discoveryAddress },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      // Istio's injector writes only what differs from ProxyConfig's defaults (pinned against real
      // istiod by test/lab/twin-vs-real.test.ts): nothing for istiod in istio-system.
      {
        name: 'PROXY_CONFIG',
        value: JSON.stringify(p.discoveryAddress === DEFAULT_DISCOVERY_ADDRESS ? {} : { discoveryAddress: p.discoveryAddress }),
      },
      { name: 'ISTIO_META_WORKLOAD_NAME', value: podName },
      { name: 'ISTIO_META_MESH_ID', value: 'cluster.local' },
      { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
    ],
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 30 },
    volumeMounts: [
      { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
      { name: 'istio-data', mountPath: '/var/lib/istio/data' },
      { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
      { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
      { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
    ],
  };
}

function initContainer(p: SidecarParams): Container {
  return {
    name: INIT_CONTAINER,
    image: proxyImage(p.version),
    ...CONTAINER_DEFAULTS,
    resources: { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '10m', memory: '40Mi' } },
    args: [
      'istio-iptables',
      '-p',
      '15001',
      '-z',
      '15006',
      '-u',
      '1337',
      '-m',
      'REDIRECT',
      '-i',
      '*',
      '-x',
      '',
      '-b',
      '*',
      '-d',
      '15090,15021,15020',
    ],
    securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] }, runAsUser: 0, runAsNonRoot: false },
  };
}

function sidecarVolumes(): Volume[] {
  return [
    { name: 'workload-socket', emptyDir: {} },
    { name: 'credential-socket', emptyDir: {} },
    { name: 'workload-certs', emptyDir: {} },
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    { name: 'istio-data', emptyDir: {} },
    {
      name: 'istio-podinfo',
      downwardAPI: {
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        ],
      },
    },
    {
      name: 'istio-token',
      projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] },
    },
    // pilot-agent reads the root from here to verify istiod's TLS on :15012 (docs/istio-facts.md §4).
    { name: 'istiod-ca-cert', configMap: { name: CA_ROOT_CONFIGMAP } },
  ];
}

/** The JSONPatch that injects (or re-injects) the revision's sidecar into the pod. */
export function injectionPatch(pod: PodForInjection, p: SidecarParams): JsonPatchOp[] {
  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  const gateway = (annotations[TEMPLATES_ANNOTATION] ?? '')
    .split(',')
    .map((s) => s.trim())
    .includes('gateway');
  const podName = pod.metadata?.name ?? pod.metadata?.generateName ?? '';

  const appContainers = (pod.spec?.containers ?? []).filter((c) => c.name !== PROXY_CONTAINER);
  const existingProxy = (pod.spec?.containers ?? []).find((c) => c.name === PROXY_CONTAINER);
  // Gateways declare their own istio-proxy container with image "auto"; it is completed, not added.
  const proxy = gateway && existingProxy ? { ...existingProxy, image: proxyImage(p.version) } : proxyContainer(p, podName, gateway);
  const containers = gateway ? [proxy, ...appContainers] : [...appContainers, proxy];
  const inits = (pod.spec?.initContainers ?? []).filter((c) => c.name !== INIT_CONTAINER);
  const initContainers = gateway ? inits : [initContainer(p), ...inits];
  const volumes = [...(pod.spec?.volumes ?? []).filter((v) => !SIDECAR_VOLUMES.includes(v.name)), ...sidecarVolumes()];

  const status = {
    initContainers: gateway ? null : [INIT_CONTAINER],
    containers: [PROXY_CONTAINER],
    volumes: SIDECAR_VOLUMES,
    imagePullSecrets: null,
    revision: p.revision,
  };
  const newLabels: Record<string, string> = {
    ...labels,
    [IstioLabel.tlsMode]: 'istio',
    [IstioLabel.canonicalName]:
      labels[IstioLabel.canonicalName] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? podName.replace(/-$/, ''),
    [IstioLabel.canonicalRevision]:
      labels[IstioLabel.canonicalRevision] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest',
  };
  const newAnnotations: Record<string, string> = {
    ...annotations,
    [IstioAnnotation.sidecarStatus]: JSON.stringify(status),
    'kubectl.kubernetes.io/default-container': appContainers[0]?.name ?? PROXY_CONTAINER,
    'prometheus.io/path': '/stats/prometheus',
    'prometheus.io/port': '15020',
    'prometheus.io/scrape': 'true',
  };
  // `add` on an existing member replaces it (RFC 6902 §4.1), so these work on any pod.
  const ops: JsonPatchOp[] = [
    { op: 'add', path: '/metadata/labels', value: newLabels },
    { op: 'add', path: '/metadata/annotations', value: newAnnotations },
    { op: 'add', path: '/spec/containers', value: containers },
    { op: 'add', path: '/spec/volumes', value: volumes },
  ];
  if (initContainers.length > 0 || pod.spec?.initContainers) ops.push({ op: 'add', path: '/spec/initContainers', value: initContainers });
  return ops;
}
