// Real istiod revisions in the lab: each installed from Istio's own charts (rendered by
// lab/go/istio-render, as `istioctl manifest generate` renders them) and run as a real
// pilot-discovery process beside the cluster, with its own ServiceAccount token, so its RBAC,
// injection webhook, validation webhook and namespace controller are Istio's own.
//
// What differs from an in-cluster install, and why:
// - webhook configurations call https://localhost:PORT/... instead of the istiod Service (there is
//   no pod network); istiod patches their caBundle itself, as in a cluster.
// - the chart's istiod Deployment is applied too, so kwok runs `app=istiod` pods as a cluster shows
//   them; the real process runs beside those pods, and the kubelet API's port-forward of their
//   debug port (15014) reaches it — the same route `kubectl port-forward` takes.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import type { LabBinaries } from './binaries.js';
import { issueCertificate } from '../twin/pki.js';
import { kubeconfigYaml, type KubeControlPlane } from './kube.js';
import { startProcess, waitUntil, type LabProcess } from './processes.js';

const execFileP = promisify(execFile);

/** The istiod ports the lab gives each revision (pod port -> local port). */
export interface IstiodPorts {
  http: number;
  webhook: number;
  grpc: number;
  secureGrpc: number;
  monitoring: number;
}

export interface IstioRevisionSpec {
  /** `default` for the install selected by istio-injection=enabled. */
  revision: string;
  namespace: string;
  /** meshConfig.discoverySelectors; empty = every namespace. */
  discoverySelectors?: readonly { matchLabels: Record<string, string> }[];
  /** Render with values.defaultRevision=<revision> (adds istiod-default-validator, as a default install has). */
  isDefault?: boolean;
  ports: IstiodPorts;
  /**
   * A plug-in CA (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), placed where istiod reads
   * the `cacerts` Secret's mount (./etc/cacerts); absent = istiod's own self-signed root.
   */
  pluginCa?: Record<string, string>;
}

export interface IstioRevision extends IstioRevisionSpec {
  /** Deployment / Service name: istiod or istiod-<rev>. */
  istiodName: string;
  process: LabProcess;
  /** Every object the chart rendered, as `Kind/namespace/name`. */
  rendered: string[];
}

/**
 * One root CA for several istiods (what the field report's migration needs: both control planes
 * signing with the same root), in the plug-in CA files Istio's docs describe (cacerts).
 */
export async function makeSharedRootCa(dir: string): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const root = await issueCertificate({
    subject: { organization: 'cluster.local', commonName: 'meshmove lab shared root' },
    ca: true,
    validDays: 3650,
  });
  writeFileSync(path.join(dir, 'ca-cert.pem'), root.pem);
  writeFileSync(path.join(dir, 'ca-key.pem'), root.keyPem, { mode: 0o600 });
  return { 'ca-cert.pem': root.pem, 'ca-key.pem': root.keyPem, 'root-cert.pem': root.pem, 'cert-chain.pem': root.pem };
}

export function istiodName(revision: string): string {
  return revision === 'default' ? 'istiod' : `istiod-${revision}`;
}

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};

export async function renderIstio(bin: LabBinaries, spec: IstioRevisionSpec): Promise<K8sObject[]> {
  const sets = ['profile=minimal', `values.global.istioNamespace=${spec.namespace}`];
  if (spec.revision !== 'default') sets.push(`revision=${spec.revision}`);
  if (spec.isDefault) sets.push(`values.defaultRevision=${spec.revision}`);
  (spec.discoverySelectors ?? []).forEach((sel, i) => {
    for (const [k, v] of Object.entries(sel.matchLabels)) sets.push(`meshConfig.discoverySelectors[${i}].matchLabels.${k}=${v}`);
  });
  const { stdout } = await execFileP(
    bin.path('istio-render'),
    sets.flatMap((s) => ['--set', s]),
    { maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`istio-render ${sets.join(' ')} failed: ${err.stderr ?? err.message}`);
  });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === 'object' && 'kind' in o);
}

/** Webhooks call the local istiod process instead of its Service. */
export function pointWebhooksAtLocalIstiod(objects: K8sObject[], webhookPort: number): void {
  for (const o of objects) {
    if (o.kind !== 'MutatingWebhookConfiguration' && o.kind !== 'ValidatingWebhookConfiguration') continue;
    for (const wh of (o.webhooks as { clientConfig: { service?: { path?: string }; url?: string } }[] | undefined) ?? []) {
      const p = wh.clientConfig.service?.path ?? '/';
      delete wh.clientConfig.service;
      wh.clientConfig.url = `https://localhost:${webhookPort}${p}`;
    }
  }
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

export async function installIstio(kube: KubeControlPlane, bin: LabBinaries, dir: string, spec: IstioRevisionSpec): Promise<IstioRevision> {
  const objects = await renderIstio(bin, spec);
  pointWebhooksAtLocalIstiod(objects, spec.ports.webhook);
  const name = istiodName(spec.revision);
  await kube.kubectl(['apply', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: spec.namespace } }));
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  const rest = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
  const apply = async (objs: K8sObject[]) => {
    if (objs.length === 0) return;
    await kube.kubectl(
      ['apply', '--server-side', '--force-conflicts', '--field-manager=lab-install', '-f', '-'],
      objs.map((o) => `---\n${stringify(o)}`).join('\n'),
    );
  };
  await apply(crds);
  if (crds.length)
    await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
  await apply(rest);

  // The real process, authenticated as the chart's own ServiceAccount.
  const token = (await kube.kubectl(['create', 'token', name, '-n', spec.namespace, '--duration=48h'])).trim();
  const home = path.join(dir, name);
  mkdirSync(home, { recursive: true });
  if (spec.pluginCa) {
    const caDir = path.join(home, 'etc', 'cacerts');
    mkdirSync(caDir, { recursive: true });
    for (const [file, pem] of Object.entries(spec.pluginCa)) writeFileSync(path.join(caDir, file), pem, { mode: 0o600 });
  }
  const kubeconfig = path.join(home, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(kube.server, kube.caPem, `system:serviceaccount:${spec.namespace}:${name}`, token), {
    mode: 0o600,
  });

  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
  const container = (
    (deployment?.spec as { template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } } } | undefined)
      ?.template.spec.containers ?? []
  ).find((c) => c.name === 'discovery');
  if (!container) throw new Error(`the rendered chart has no Deployment ${spec.namespace}/${name} with a discovery container`);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  Object.assign(env, {
    POD_NAME: `${name}-lab`,
    POD_NAMESPACE: spec.namespace,
    SERVICE_ACCOUNT: name,
    REVISION: spec.revision,
    CLUSTER_ID: env.CLUSTER_ID ?? 'Kubernetes',
    // The apiserver calls the webhooks on localhost / 127.0.0.1: the serving certificate must name them.
    ISTIOD_CUSTOM_HOST: 'localhost,127.0.0.1',
    KUBECONFIG: kubeconfig,
  });
  const p = spec.ports;
  const process = startProcess({
    name,
    dir,
    cwd: home, // empty: mesh config and injector template come from the ConfigMaps, as in a cluster
    command: bin.path('pilot-discovery'),
    args: [
      'discovery',
      `--kubeconfig=${kubeconfig}`,
      `--httpAddr=127.0.0.1:${p.http}`,
      `--httpsAddr=127.0.0.1:${p.webhook}`,
      `--grpcAddr=127.0.0.1:${p.grpc}`,
      `--secureGRPCAddr=127.0.0.1:${p.secureGrpc}`,
      `--monitoringAddr=127.0.0.1:${p.monitoring}`,
      '--log_output_level=default:warn',
    ],
    env,
  });
  await waitUntil(process, '/ready answers 200', () => httpOk(`http://127.0.0.1:${p.http}/ready`), 90_000);
  return {
    ...spec,
    istiodName: name,
    process,
    rendered: objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`),
  };
}
