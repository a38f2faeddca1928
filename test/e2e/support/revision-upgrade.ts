// The revision-upgrade example (examples/plans/revision-upgrade.yaml on examples/twin/revision-upgrade.yaml)
// for end-to-end tests: its plan pointed at a twin, the worker's RBAC for it (`meshmove plan rbac`),
// and what the tests read of the gateway.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { Twin } from '../../../twin/index.js';
import { rbacForPlan } from '../../../client/plan-rbac.js';
import { loadPlan } from '../../../plan/load.js';
import { APPROVER, STARTER, keyOf, kubeGet, podRevisions, type Obj, type PlanDoc } from './stack.js';

export const UPGRADE_SCENARIO = join(import.meta.dirname, '../../../examples/twin/revision-upgrade.yaml');
const UPGRADE_PLAN = join(import.meta.dirname, '../../../examples/plans/revision-upgrade.yaml');
export const UPGRADE_SOURCE = 'istio-1-15-7';
export const UPGRADE_TARGET = 'istio-1-16-5';
export const UPGRADE_GATEWAY = 'istio-system/istio-ingressgateway';

const example = (await loadPlan(UPGRADE_PLAN)).plan;

/** deploy/rbac.yaml for this plan (and with `tag`, for it on the revision-tag path), as `meshmove plan rbac` renders it. */
export function upgradeRbac(yaml: string, tag?: string): string {
  return rbacForPlan(yaml, tag === undefined ? example : { ...example, target: { ...example.target, tag } });
}

/** The example plan pointed at this twin, with short timings and the tests' keys; `edit` changes it further. */
export async function writeUpgradePlan(twin: Twin, dir: string, edit?: (p: PlanDoc) => void): Promise<string> {
  const doc = parse(await readFile(UPGRADE_PLAN, 'utf8')) as PlanDoc;
  doc.cluster = { context: twin.context };
  doc.verification.metricsWindow = '1s';
  doc.restart.timeout = '2m';
  doc.backup = { location: join(dir, 'backups') };
  doc.approvers = [STARTER, APPROVER].map((name) => ({ name, keys: [keyOf(name).publicKey] }));
  edit?.(doc);
  const file = join(dir, 'plan.yaml');
  await writeFile(file, stringify(doc));
  return file;
}

interface Deployment extends Obj {
  spec: { template: { metadata: { labels: Record<string, string> } } };
}

export async function gatewayTemplateRevision(twin: Twin): Promise<string | undefined> {
  const d = await kubeGet<Deployment>(twin, '/apis/apps/v1/namespaces/istio-system/deployments/istio-ingressgateway');
  return d?.spec.template.metadata.labels['istio.io/rev'];
}

/** Sidecar revisions of the gateway's pods (istio-system holds istiod too, which has none). */
export async function gatewayPodRevisions(twin: Twin): Promise<string[]> {
  const revs = await podRevisions(twin, 'istio-system');
  return Object.entries(revs)
    .filter(([pod]) => pod.startsWith('istio-ingressgateway-'))
    .map(([, r]) => r ?? 'none');
}
