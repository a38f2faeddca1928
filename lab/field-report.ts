// The field report's cluster on the lab's real control planes, ready to migrate: the two istiod
// revisions, the field-report namespaces with their workloads injected by the source, the two
// ingress gateways (routing from their router proxies' xDS) with the field report's Gateways and
// VirtualServices, the DNS provider beside it with the plan's hosts on the source gateway, and a
// kubeconfig for the worker's ServiceAccount bound by exactly the given RBAC file. Used by the lab's
// end-to-end tests and by `meshmove demo --real`.
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startLabDns, type LabDns } from './dns.js';
import { FIELD_REPORT_GATEWAYS, fieldReportIstioConfig, type LabGateway } from './gateways.js';
import { applyNamespaces, FIELD_REPORT_NAMESPACES, startLab, writeWorkerKubeconfig, type Lab } from './index.js';

/** The kubeconfig context writeWorkerKubeconfig writes. */
export const LAB_CONTEXT = 'lab';
export const LAB_SOURCE_REVISION = 'default';
export const LAB_TARGET_REVISION = 'istio-1-16-5';

export interface FieldReportLab {
  lab: Lab;
  dns: LabDns;
  source: LabGateway;
  target: LabGateway;
  /** The worker's kubeconfig (its ServiceAccount token, context `lab`). */
  workerKubeconfig: string;
  /** The admin kubeconfig, for a person's kubectl. */
  adminKubeconfig: string;
  stop(): Promise<void>;
}

export interface FieldReportLabOptions {
  /** Where the lab keeps its logs, certificates and etcd (a temporary directory by default). */
  dir?: string;
  progress?: (line: string) => void;
  /** deploy/rbac.yaml's text: the worker's permissions. */
  rbacYaml: string;
  /** The hosts the plan cuts over, served first by the source gateway. */
  hosts: readonly string[];
  /** The DNS webhook's shared secret (the plan's dns.provider.secretEnv holds it for the worker). */
  dnsSecret: string;
}

interface PodJson {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
}

/** Live app pods of a namespace (probe pods left out) and the revision that injected each (sidecar.istio.io/status), null = none. */
export async function podRevisions(lab: Lab, ns: string): Promise<Record<string, string | null>> {
  const { items } = JSON.parse(await lab.kube.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])) as { items: PodJson[] };
  return Object.fromEntries(
    items
      .filter((p) => !p.metadata.deletionTimestamp && !p.metadata.labels?.['meshmove.dev/probe'])
      .map((p) => {
        const raw = p.metadata.annotations?.['sidecar.istio.io/status'];
        return [p.metadata.name, raw ? ((JSON.parse(raw) as { revision?: string }).revision ?? null) : null];
      }),
  );
}

/** Every app pod of the field-report namespaces exists and was injected by `revision`. */
export async function waitInjected(lab: Lab, revision: string, namespaces = FIELD_REPORT_NAMESPACES.map((n) => n.name)): Promise<void> {
  const deadline = Date.now() + 90_000;
  const injected = async () => {
    for (const ns of namespaces) {
      const revs = Object.values(await podRevisions(lab, ns));
      if (revs.length !== 2 || revs.some((r) => r !== revision)) return false;
    }
    return true;
  };
  while (!(await injected())) {
    if (Date.now() > deadline)
      throw new Error(
        `not every pod of ${namespaces.join(', ')} was injected by ${revision} within 90s (kwok's and istiod's logs are in ${lab.dir})`,
      );
    await sleep(500);
  }
}

export async function startFieldReportLab(opts: FieldReportLabOptions): Promise<FieldReportLab> {
  const parts: { lab?: Lab; dns?: LabDns } = {};
  const stop = async () => {
    await parts.dns?.close();
    await parts.lab?.stop();
  };
  try {
    const lab = (parts.lab = await startLab({
      sharedRoot: true,
      gateways: FIELD_REPORT_GATEWAYS,
      ...(opts.progress ? { progress: opts.progress } : {}),
      ...(opts.dir ? { dir: opts.dir } : {}),
    }));
    // A correct install of the target: its discoverySelectors select its own namespace (its Gateway
    // and gateway Service live there).
    await lab.kube.kubectl(['label', 'namespace', LAB_TARGET_REVISION, `usergroup=${LAB_TARGET_REVISION}`, '--overwrite']);
    await applyNamespaces(lab.kube, FIELD_REPORT_NAMESPACES);
    await lab.kube.kubectl(
      ['apply', '-f', '-'],
      fieldReportIstioConfig(lab.gateways)
        .map((d) => `---\n${stringify(d)}`)
        .join('\n'),
    );
    const workerKubeconfig = join(lab.dir, 'worker.kubeconfig');
    await writeWorkerKubeconfig(lab, opts.rbacYaml, workerKubeconfig);
    const source = lab.gateways.find((g) => g.namespace === 'istio-system')!;
    const target = lab.gateways.find((g) => g.namespace === LAB_TARGET_REVISION)!;
    parts.dns = await startLabDns(
      opts.hosts.map((name) => ({ name, type: 'A', address: source.address, ttl: 1 })),
      opts.dnsSecret,
    );
    await waitInjected(lab, LAB_SOURCE_REVISION);
    return { lab, dns: parts.dns, source, target, workerKubeconfig, adminKubeconfig: lab.kube.adminKubeconfig, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
