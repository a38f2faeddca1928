// The end-to-end stack on the lab's real control planes, as the twin's (test/e2e/support/stack.ts)
// but with a real kube-apiserver and two real istiod revisions: the field-report namespaces, the
// two ingress gateways (routing from their router proxies' xDS), the field report's Gateways and
// VirtualServices, the twin's DNS server as the DNS provider (DNS is no part of a control plane),
// a real Temporal dev server, and a worker with the real activities authenticated as the worker's
// ServiceAccount bound by exactly deploy/rbac.yaml. The CLI is driven as in the twin's e2e.
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Lab, LabGateway } from '../../../lab/index.js';
import {
  LAB_CONTEXT,
  LAB_SOURCE_REVISION,
  podRevisions,
  startFieldReportLab,
  waitInjected,
  type FieldReportLab,
} from '../../../lab/field-report.js';
import { istioInjectorWebhooks } from '../../../mesh/injection.js';
import { injectorWebhookConfigName, revisionTagConfigName } from '../../../mesh/naming.js';
import { rbacForPlan } from '../../../client/plan-rbac.js';
import { loadPlan } from '../../../plan/load.js';
import type { LabDns } from '../../../lab/dns.js';
import type { Tuning } from '../../../activities/shared/deps.js';
import { TASK_QUEUE } from '../../../workflows/messages.js';
import { startDevServer, workflowBundle } from '../../support/temporal.js';
import { expect, vi } from 'vitest';
import {
  Cli,
  E2E_TUNING,
  FIELD_REPORT_PLAN,
  HOSTS,
  RBAC_FILE,
  dnsSecret,
  gatewayRequest,
  realActivities,
  writePlan,
  type PlanDoc,
  type RunningWorker,
} from '../../e2e/support/stack.js';

export { LAB_CONTEXT };

/** The twin's timings, with what real istiod and the real controllers need. */
export const LAB_TUNING: Partial<Tuning> = {
  ...E2E_TUNING,
  caReadyTimeoutMs: 60_000,
  caStableMs: 2_000,
  probeTimeoutMs: 60_000,
  proxySettleMs: 30_000,
};

export interface LabStack {
  lab: Lab;
  dns: LabDns;
  env: TestWorkflowEnvironment;
  worker: RunningWorker;
  cli: Cli;
  /** The worker's kubeconfig (its ServiceAccount token, context `lab`). */
  kubeconfig: string;
  source: LabGateway;
  target: LabGateway;
  stop(): Promise<void>;
}

export async function kubectlJson<T>(lab: Lab, args: string[]): Promise<T> {
  return JSON.parse(await lab.kube.kubectl([...args, '-o', 'json'])) as T;
}

export async function namespaceLabels(lab: Lab, ns: string): Promise<Record<string, string>> {
  return (await kubectlJson<{ metadata: { labels?: Record<string, string> } }>(lab, ['get', 'namespace', ns])).metadata.labels ?? {};
}

export { podRevisions, waitInjected };

/**
 * Revision tag `tag` for the lab's source revision, as `istioctl tag set <tag> --revision default`
 * makes it: the source injector's calls (copied from its configuration), selecting
 * istio.io/rev=<tag>, labeled istio.io/tag and the source's revision.
 */
export async function createSourceTag(lab: Lab, tag: string): Promise<string> {
  const source = await kubectlJson<{ webhooks: { clientConfig: object }[] }>(lab, [
    'get',
    'mutatingwebhookconfiguration',
    injectorWebhookConfigName(LAB_SOURCE_REVISION, 'istio-system'),
  ]);
  const name = revisionTagConfigName(tag, 'istio-system');
  const config = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: { 'istio.io/rev': LAB_SOURCE_REVISION, 'istio.io/tag': tag, app: 'sidecar-injector' } },
    webhooks: istioInjectorWebhooks(LAB_SOURCE_REVISION, { isDefault: false, tag, istiodNamespace: 'istio-system' }).map((w) => ({
      ...w,
      clientConfig: source.webhooks[0]!.clientConfig,
    })),
  };
  await lab.kube.kubectl(['apply', '-f', '-'], JSON.stringify(config));
  return name;
}

/**
 * `tag`: the worker is bound by the RBAC `meshmove plan rbac` renders for the field-report plan on
 * that revision tag (deploy/rbac.yaml and patch on the tag's configuration); without, by deploy/rbac.yaml.
 */
export async function startLabStack(opts: { tag?: string } = {}): Promise<LabStack> {
  const parts: { cluster?: FieldReportLab; env?: TestWorkflowEnvironment; worker?: RunningWorker } = {};
  const stop = async () => {
    await parts.worker?.stop();
    await parts.env?.teardown();
    await parts.cluster?.stop();
  };
  try {
    // MESHMOVE_LAB_DIR=DIR keeps the lab's logs (the stand-in's decisions, istiod's) after the run.
    const dir = process.env.MESHMOVE_LAB_DIR ? await mkdtemp(join(process.env.MESHMOVE_LAB_DIR, 'lab-')) : undefined;
    const cluster = (parts.cluster = await startFieldReportLab({
      rbacYaml: await workerRbac(opts.tag),
      hosts: HOSTS,
      dnsSecret: dnsSecret(),
      progress: (l: string) => process.stderr.write(`${l}\n`),
      ...(dir ? { dir } : {}),
    }));
    const { lab, source, target, workerKubeconfig: kubeconfig } = cluster;
    const env = (parts.env = await startDevServer());
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: await workflowBundle(),
      activities: realActivities(() => kubeconfig, dnsSecret(), LAB_TUNING),
    });
    const running = worker.run();
    parts.worker = {
      worker,
      stop: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
      },
    };
    // The source gateway serves the site before anything moves (its router proxy's xDS from the source istiod).
    await vi.waitFor(
      async () =>
        expect(
          (await gatewayRequest(source, 'shop.y7test.com', '/').catch(() => ({ status: 0 }))).status,
          'the source gateway serves shop.y7test.com',
        ).toBe(200),
      { timeout: 60_000, interval: 500 },
    );
    return { lab, dns: cluster.dns, env, worker: parts.worker, cli: new Cli(() => env.address), kubeconfig, source, target, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function workerRbac(tag: string | undefined): Promise<string> {
  const template = await readFile(RBAC_FILE, 'utf8');
  if (tag === undefined) return template;
  const { plan } = await loadPlan(FIELD_REPORT_PLAN);
  return rbacForPlan(template, { ...plan, target: { ...plan.target, tag } });
}

/** The field-report plan for this lab (context `lab`, the lab's DNS provider, backups under `dir`). */
export function writeLabPlan(stack: LabStack, dir: string, edit?: (p: PlanDoc) => void, fileName?: string): Promise<string> {
  return writePlan(
    { context: LAB_CONTEXT, dnsWebhookUrl: stack.dns.webhookUrl, dnsResolver: stack.dns.resolver },
    dir,
    (p) => {
      p.restart.timeout = '3m';
      edit?.(p);
    },
    fileName,
  );
}
