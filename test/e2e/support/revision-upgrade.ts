// The revision-upgrade example (examples/plans/revision-upgrade.yaml on examples/twin/revision-upgrade.yaml)
// for end-to-end tests: its plan pointed at a twin, deploy/rbac.yaml adjusted to it as the file's
// header asks, and what the tests read of the gateway and the revision tag.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { Twin } from '../../../twin/index.js';
import { APPROVER, STARTER, keyOf, kubeGet, podRevisions, type Obj, type PlanDoc } from './stack.js';

export const UPGRADE_SCENARIO = join(import.meta.dirname, '../../../examples/twin/revision-upgrade.yaml');
const UPGRADE_PLAN = join(import.meta.dirname, '../../../examples/plans/revision-upgrade.yaml');
export const UPGRADE_SOURCE = 'istio-1-15-7';
export const UPGRADE_TARGET = 'istio-1-16-5';
export const UPGRADE_GATEWAY = 'istio-system/istio-ingressgateway';

/**
 * deploy/rbac.yaml for this plan: the source's objects carry the revision in their names, the
 * gateway (which stays) is not the worker's to delete, and with `tag` the commented rule for the
 * tag's configuration is in force. Throws when the file no longer has what it replaces.
 */
export function upgradeRbac(yaml: string, tag?: string): string {
  const replace = (text: string, from: string, to: string): string => {
    if (!text.includes(from)) throw new Error(`deploy/rbac.yaml has no "${from}" any more: adjust upgradeRbac`);
    return text.replaceAll(from, to);
  };
  let out = replace(yaml, 'resourceNames: [istio-sidecar-injector]', `resourceNames: [istio-sidecar-injector-${UPGRADE_SOURCE}]`);
  out = replace(out, 'resourceNames: [istiod, istio-ingressgateway]', `resourceNames: [istiod-${UPGRADE_SOURCE}]`);
  if (tag !== undefined) {
    const rule = [
      '  # - apiGroups: [admissionregistration.k8s.io]',
      '  #   resources: [mutatingwebhookconfigurations]',
      '  #   resourceNames: [istio-revision-tag-TAG]',
      '  #   verbs: [patch]',
    ].join('\n');
    out = replace(out, rule, rule.replaceAll('  # ', '  ').replaceAll('  #   ', '    ').replace('TAG', tag));
  }
  return out;
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
