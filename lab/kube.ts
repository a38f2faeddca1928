// A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC, service-account tokens),
// kube-controller-manager, kube-scheduler, and kwok with one fake node that runs the pods (no
// container runtime: kwok moves pods to Running/Ready and serves the node's kubelet API, through
// which the apiserver's port-forward reaches the lab's local processes).
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { LabBinaries } from './binaries.js';
import { freePorts } from './ports.js';
import { startProcess, waitUntil, type LabProcess } from './processes.js';

export const LAB_NODE = 'lab-node';
export const KUBERNETES_VERSION = 'v1.37.2';

/** A kubelet port-forward target: pods matched by namespace (and optionally name) reach a local port. */
export interface PortForwardRule {
  namespace: string;
  /** Pod port -> local 127.0.0.1 port. */
  ports: Record<number, number>;
}

export interface KubeControlPlane {
  server: string;
  /** The apiserver's serving CA (PEM). */
  caPem: string;
  adminToken: string;
  /** A kubeconfig file for the admin (context `lab`). */
  adminKubeconfig: string;
  processes: LabProcess[];
  /** Runs kubectl as the admin; rejects with kubectl's stderr. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
}

export interface StartKubeOptions {
  dir: string;
  bin: LabBinaries;
  portForwards: readonly PortForwardRule[];
}

export function kubeconfigYaml(server: string, caPem: string, user: string, token: string, context = 'lab'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: context, context: { cluster: 'lab', user } }],
    'current-context': context,
  });
}

function httpsGet(url: string, caPem: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function startKubeControlPlane(opts: StartKubeOptions): Promise<KubeControlPlane> {
  const { dir, bin } = opts;
  const pki = path.join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const processes: LabProcess[] = [];
  const stopAll = async () => {
    for (const p of processes.reverse()) await p.stop();
  };
  try {
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kubeletPort] = await freePorts(6);

    // Service-account token signing key (the apiserver signs, the controller-manager mints).
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = path.join(pki, 'sa.key');
    const saPub = path.join(pki, 'sa.pub');
    writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    const tokens = path.join(pki, 'tokens.csv');
    writeFileSync(tokens, `${adminToken},lab-admin,lab-admin,"system:masters"\n`, { mode: 0o600 });

    const etcd = startProcess({
      name: 'etcd',
      dir,
      command: bin.path('etcd'),
      args: [
        '--name',
        'lab',
        '--data-dir',
        path.join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster',
        `lab=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync', // tests only: durability of the lab's etcd is not under test
        '--log-level',
        'warn',
      ],
    });
    processes.push(etcd);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProcess({
      name: 'kube-apiserver',
      dir,
      command: bin.path('kube-apiserver'),
      args: [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        // With a loopback advertise address the endpoint reconciler refuses to start; nothing out
        // of cluster needs the `kubernetes` Service's endpoints.
        '--endpoint-reconciler-type=none',
        `--cert-dir=${pki}`,
        `--token-auth-file=${tokens}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--allow-privileged=true',
        '--v=1',
      ],
    });
    processes.push(apiserver);
    // The apiserver writes its self-signed serving certificate (and the CA that signed it) at start.
    let caPem = '';
    await waitUntil(
      apiserver,
      'its serving certificate is written',
      async () => {
        caPem = readFileSync(path.join(pki, 'apiserver.crt'), 'utf8');
        return caPem.includes('BEGIN CERTIFICATE');
      },
      30_000,
    );
    await waitUntil(
      apiserver,
      '/readyz answers ok',
      async () => (await httpsGet(`${server}/readyz`, caPem, adminToken)).status === 200,
      60_000,
    );

    const adminKubeconfig = path.join(dir, 'admin.kubeconfig');
    writeFileSync(adminKubeconfig, kubeconfigYaml(server, caPem, 'lab-admin', adminToken), { mode: 0o600 });
    const caFile = path.join(pki, 'ca.crt');
    writeFileSync(caFile, caPem);

    processes.push(
      startProcess({
        name: 'kube-controller-manager',
        dir,
        command: bin.path('kube-controller-manager'),
        args: [
          `--kubeconfig=${adminKubeconfig}`,
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${caFile}`,
          '--use-service-account-credentials=false',
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          '--v=1',
        ],
      }),
    );
    processes.push(
      startProcess({
        name: 'kube-scheduler',
        dir,
        command: bin.path('kube-scheduler'),
        args: [
          `--kubeconfig=${adminKubeconfig}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${schedPort}`,
          '--v=1',
        ],
      }),
    );

    // kwok: its own fast node and pod stages, plus the kubelet API's port-forward rules.
    const kwokConfig = path.join(dir, 'kwok.yaml');
    const forwards = opts.portForwards.map((rule, i) =>
      stringify({
        apiVersion: 'kwok.x-k8s.io/v1alpha1',
        kind: 'ClusterPortForward',
        metadata: { name: `lab-forward-${i}` },
        spec: {
          selector: { matchNamespaces: [rule.namespace] },
          forwards: Object.entries(rule.ports).map(([podPort, local]) => ({
            ports: [Number(podPort)],
            target: { port: local, address: '127.0.0.1' },
          })),
        },
      }),
    );
    writeFileSync(
      kwokConfig,
      [labKwokStages(readFileSync(bin.path('kwok-stages.yaml'), 'utf8')), ...forwards.map((f) => `---\n${f}`)].join('\n'),
    );
    const kwok = startProcess({
      name: 'kwok',
      dir,
      command: bin.path('kwok'),
      args: [
        `--kubeconfig=${adminKubeconfig}`,
        `--config=${kwokConfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-ip=127.0.0.1',
        `--node-port=${kubeletPort}`,
        `--server-address=127.0.0.1:${kubeletPort}`,
        '--cidr=10.244.0.0/16',
        // The default lease is shorter than kwok's renewal under load: the node would flap NotReady.
        '--node-lease-duration-seconds=40',
      ],
    });
    processes.push(kwok);

    const kubectl = (args: readonly string[], input?: string) => runKubectl(bin.path('kubectl'), adminKubeconfig, args, input);
    await kubectl(
      ['apply', '-f', '-'],
      stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: LAB_NODE,
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
          labels: { 'kubernetes.io/hostname': LAB_NODE, type: 'kwok' },
        },
      }),
    );
    await waitUntil(
      kwok,
      `node ${LAB_NODE} is Ready`,
      async () => {
        const out = await kubectl(['get', 'node', LAB_NODE, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
        return out.trim() === 'True';
      },
      60_000,
    );
    // The controllers create each namespace's `default` ServiceAccount; pods cannot be admitted before.
    await waitUntil(
      processes[2]!,
      'the default ServiceAccount exists',
      async () => {
        await kubectl(['get', 'serviceaccount', 'default', '-n', 'default']);
        return true;
      },
      60_000,
    );

    return { server, caPem, adminToken, adminKubeconfig, processes, kubectl };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** meshmove's probe pods: completed by the lab's probe stand-in with the status code, never by kwok. */
export const PROBE_POD_LABEL = 'meshmove.dev/probe';

/**
 * kwok's own stages, except that its pod-complete stage (a Running pod owned by a Job turns
 * Succeeded with empty termination messages) leaves meshmove's probe pods alone: lab/go/xds-standin
 * completes those, with the status code their sidecar's xDS gives, as the probe's curl would.
 */
export function labKwokStages(stagesYaml: string): string {
  const docs = parseAllDocuments(stagesYaml).map(
    (d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { selector?: { matchExpressions?: unknown[] } } } | null,
  );
  const complete = docs.find((d) => d?.kind === 'Stage' && d.metadata?.name === 'pod-complete');
  if (!complete?.spec?.selector?.matchExpressions)
    throw new Error("kwok's stages have no pod-complete Stage with matchExpressions: the probe stand-in cannot keep probe pods from kwok");
  complete.spec.selector.matchExpressions.push({ key: `.metadata.labels["${PROBE_POD_LABEL}"]`, operator: 'DoesNotExist' });
  return docs
    .filter((d) => d)
    .map((d) => `---\n${stringify(d)}`)
    .join('\n');
}

export function runKubectl(kubectlPath: string, kubeconfig: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err.trim() || `exit ${code}`}`)),
    );
    child.stdin.end(input ?? '');
  });
}
