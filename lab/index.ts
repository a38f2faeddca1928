// meshmove's lab: a real Kubernetes control plane and two real istiod revisions on loopback, laid
// out as the field report's cluster (the vendor's `default` revision in istio-system, community
// Istio `istio-1-16-5` in its own namespace, scoped by discoverySelectors on `usergroup`).
//
// Real: kube-apiserver (RBAC, admission, webhooks, patch semantics, ServiceAccount tokens), etcd,
// kube-controller-manager (Deployments, ReplicaSets, namespaces, ServiceAccounts, garbage
// collection), kube-scheduler, istiod (injection, validation, namespace controller writing
// istio-ca-root-cert, its own CA), the kubelet API's port-forward (served by kwok).
// Stood in: kwok runs pods without containers (no image pull, probes or volumes: Running/Ready
// about a second after scheduling); lab/go/xds-standin connects a proxy per injected pod to the
// istiod its injector named, serves the gateways (routing with their router proxies' xDS) and
// completes meshmove's probe pods with the answer their sidecar's xDS gives.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { labBinaries } from './binaries.js';
import { applyGateways, gatewayFlag, type LabGateway, type LabGatewaySpec } from './gateways.js';
import { installIstio, makeSharedRootCa, type IstiodPorts, type IstioRevision, type IstioRevisionSpec } from './istio.js';
import { kubeconfigYaml, startKubeControlPlane, type KubeControlPlane } from './kube.js';
import { freePort, freePorts } from './ports.js';
import { startProcess, waitUntil, type LabProcess } from './processes.js';

export { KUBERNETES_VERSION, LAB_NODE } from './kube.js';
export { istiodName } from './istio.js';
export { FIELD_REPORT_GATEWAYS, fieldReportIstioConfig, type LabGateway, type LabGatewaySpec } from './gateways.js';

export interface LabOptions {
  /** Where logs, certificates and etcd live; a temporary directory by default (removed on stop). */
  dir?: string;
  /** Progress lines (the first run builds the binaries for minutes). */
  progress?: (line: string) => void;
  /** The control planes; the field report's two by default. */
  revisions?: readonly Omit<IstioRevisionSpec, 'ports'>[];
  /** Both istiods sign with one plug-in root CA (as the field report requires); default: each its own self-signed root. */
  sharedRoot?: boolean;
  /** Ingress gateways served by the stand-in with their router proxies' xDS (e.g. FIELD_REPORT_GATEWAYS); none by default. */
  gateways?: readonly LabGatewaySpec[];
}

export interface Lab {
  dir: string;
  kube: KubeControlPlane;
  istio: IstioRevision[];
  /** The gateways, each Service's external address and port (where the stand-in serves it). */
  gateways: LabGateway[];
  /** The stand-in's log (sidecar streams, gateway and probe decisions). */
  standinLog: string;
  /** Stops every process (by PID, newest first) and removes a temporary directory. */
  stop(): Promise<void>;
}

export const FIELD_REPORT_REVISIONS: readonly Omit<IstioRevisionSpec, 'ports'>[] = [
  { revision: 'default', namespace: 'istio-system', isDefault: true },
  { revision: 'istio-1-16-5', namespace: 'istio-1-16-5', discoverySelectors: [{ matchLabels: { usergroup: 'istio-1-16-5' } }] },
];

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const progress = opts.progress ?? (() => {});
  const bin = await labBinaries(progress);
  const temporary = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'meshmove-lab-'));
  const revisions = opts.revisions ?? FIELD_REPORT_REVISIONS;
  const ports: IstiodPorts[] = [];
  for (const _ of revisions) {
    const [http, webhook, grpc, secureGrpc, monitoring] = await freePorts(5);
    ports.push({ http: http!, webhook: webhook!, grpc: grpc!, secureGrpc: secureGrpc!, monitoring: monitoring! });
  }
  progress('[lab] starting etcd, kube-apiserver, controller-manager, scheduler, kwok');
  const kube = await startKubeControlPlane({
    dir,
    bin,
    // istioctl and meshmove read istiod's debug endpoints by port-forward to its pod's 15014.
    portForwards: revisions.map((r, i) => ({
      namespace: r.namespace,
      ports: { 15014: ports[i]!.monitoring, 8080: ports[i]!.http, 15010: ports[i]!.grpc },
    })),
  });
  const istio: IstioRevision[] = [];
  const gateways: LabGateway[] = [];
  let standin: LabProcess | undefined;
  const stop = async () => {
    await standin?.stop();
    for (const r of [...istio].reverse()) await r.process.stop();
    for (const p of [...kube.processes].reverse()) await p.stop();
    if (temporary) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pluginCa = opts.sharedRoot ? await makeSharedRootCa(path.join(dir, 'shared-ca')) : undefined;
    for (const [i, spec] of revisions.entries()) {
      progress(`[lab] installing istiod revision ${spec.revision} in ${spec.namespace} from Istio's charts`);
      istio.push(await installIstio(kube, bin, dir, { ...spec, ports: ports[i]!, ...(pluginCa ? { pluginCa } : {}) }));
    }
    for (const g of opts.gateways ?? []) gateways.push({ ...g, port: await freePort(g.address) });
    await applyGateways(kube, gateways);
    // Sidecars: one ADS stream per injected pod to the istiod its injector named (plaintext to
    // istiod's gRPC port, where Envoy would use mTLS on 15012); gateways and probe pods too.
    standin = startProcess({
      name: 'xds-standin',
      dir,
      command: bin.path('xds-standin'),
      args: [
        `--kubeconfig=${kube.adminKubeconfig}`,
        ...istio.map((r) => `--istiod=${r.istiodName}.${r.namespace}.svc:15012=127.0.0.1:${r.ports.grpc}`),
        ...gateways.map(gatewayFlag),
      ],
    });
    await waitUntil(
      standin,
      'it has synced its pod cache',
      async () => readFileSync(standin!.logFile, 'utf8').includes('xds-standin: pod cache synced'),
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, kube, istio, gateways, standinLog: standin.logFile, stop };
}

export interface LabNamespace {
  name: string;
  labels: Record<string, string>;
  deployments: { name: string; replicas: number }[];
}

/** The field report's application namespaces, injected by the source (istio-injection=enabled). */
export const FIELD_REPORT_NAMESPACES: readonly LabNamespace[] = [
  { name: 'inventory', labels: { 'istio-injection': 'enabled' }, deployments: [{ name: 'inventory', replicas: 2 }] },
  { name: 'payments', labels: { 'istio-injection': 'enabled' }, deployments: [{ name: 'payments', replicas: 2 }] },
  { name: 'orders', labels: { 'istio-injection': 'enabled' }, deployments: [{ name: 'orders', replicas: 2 }] },
  { name: 'frontend', labels: { 'istio-injection': 'enabled' }, deployments: [{ name: 'frontend', replicas: 2 }] },
];

/** Namespaces with a Deployment and a Service each, applied through the real admission chain. */
export async function applyNamespaces(kube: KubeControlPlane, namespaces: readonly LabNamespace[]): Promise<void> {
  const docs: unknown[] = [];
  for (const ns of namespaces) {
    docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: ns.labels } });
  }
  await kube.kubectl(['apply', '-f', '-'], docs.map((d) => `---\n${stringify(d)}`).join('\n'));
  const workloads: unknown[] = [];
  for (const ns of namespaces) {
    for (const d of ns.deployments) {
      const labels = { app: d.name };
      workloads.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: d.name, namespace: ns.name, labels },
        spec: {
          replicas: d.replicas,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'app', image: `registry.invalid/${d.name}:1`, ports: [{ containerPort: 8080, name: 'http' }] }] },
          },
        },
      });
      workloads.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: d.name, namespace: ns.name, labels },
        spec: { selector: labels, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] },
      });
    }
  }
  await kube.kubectl(['apply', '-f', '-'], workloads.map((d) => `---\n${stringify(d)}`).join('\n'));
}

export const WORKER_NAMESPACE = 'meshmove';
export const WORKER_SERVICE_ACCOUNT = 'meshmove-worker';

/**
 * Applies an RBAC file (deploy/rbac.yaml) and writes a kubeconfig that authenticates as the worker's
 * ServiceAccount with a real token from the TokenRequest API: the lab's apiserver authorizes every
 * request of the worker with exactly that file.
 */
export async function writeWorkerKubeconfig(lab: Lab, rbacYaml: string, kubeconfigPath: string): Promise<{ user: string }> {
  await lab.kube.kubectl(['apply', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: WORKER_NAMESPACE } }));
  await lab.kube.kubectl(['apply', '-f', '-'], rbacYaml);
  const token = (await lab.kube.kubectl(['create', 'token', WORKER_SERVICE_ACCOUNT, '-n', WORKER_NAMESPACE, '--duration=48h'])).trim();
  const user = `system:serviceaccount:${WORKER_NAMESPACE}:${WORKER_SERVICE_ACCOUNT}`;
  writeFileSync(kubeconfigPath, kubeconfigYaml(lab.kube.server, lab.kube.caPem, user, token), { mode: 0o600 });
  return { user };
}
