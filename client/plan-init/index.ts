// `meshmove plan init`: propose a plan from what the cluster runs, read-only. Read the inventory
// (inventory.ts), decide (choose.ts, draft.ts), validate the draft with the plan schema, run the
// product's own preflight over it and write every non-pass finding as a comment next to the field
// it concerns, then check that the text written loads as a plan. A plan that would not validate is
// a bug here, never a file on disk.
import type { Finding, PreflightReport } from '../../activities/contract.js';
import type { KubeAccess } from '../../activities/kube/index.js';
import { runPreflight } from '../../activities/preflight/index.js';
import { parsePlanText, validatePlan } from '../../plan/load.js';
import type { Plan, PlanInput } from '../../plan/schema.js';
import { chooseSides } from './choose.js';
import { draftPlan, type FieldPath, type PlanNote } from './draft.js';
import { renderPlanYaml } from './document.js';
import { readInventory, type ClusterInventory } from './inventory.js';

export { PlanInitError, chooseSides, chooseDiscoveryLabels, gatewaySelector, hostsBoundTo, suggestWaves } from './choose.js';
export { APPROVER_PLACEHOLDERS, BACKUP_LOCATION, keyNobodyHolds } from './draft.js';

export interface PlanInitOptions {
  source?: string;
  target?: string;
  /** Run preflight over the draft and write its findings as comments (default true). */
  preflight?: boolean;
  generatedAt?: string;
}

export interface PlanInitSummary {
  context: string;
  source: { revision: string; namespace: string };
  target: { revision: string; namespace: string };
  basis: string;
  controlPlanes: ClusterInventory['controlPlanes'];
  revisionTags: ClusterInventory['revisionTags'];
  gateways: (ClusterInventory['gateways'][number] & { role?: 'source' | 'target' })[];
  namespaces: {
    /** Namespace names by the revision that injects new pods there today; `none` = no injection. */
    byInjectingRevision: Record<string, string[]>;
    planned: number;
    total: number;
  };
  dnsHosts: string[];
  preflight: { blocking: number; warnings: number; passed: number; findings: Finding[] } | { error: string } | null;
  plan: PlanInput;
}

export interface PlanInitResult {
  yaml: string;
  plan: Plan;
  summary: PlanInitSummary;
}

const MARK: Record<Finding['status'], string> = { pass: '✓', warn: '!', block: '✗' };

/** The field a preflight finding concerns (by its check id); [] = the file's header. */
export function fieldOfFinding(check: string): FieldPath {
  const [family, rest] = [check.split('/')[0]!, check.split('/').slice(1).join('/')];
  switch (family) {
    case 'target':
      return rest.startsWith('gateway') ? ['target', 'gateway'] : ['target'];
    case 'outbound-policy':
      return ['target'];
    case 'discovery':
      if (rest === 'source' || rest === 'source-config') return ['source'];
      return ['target', 'discoveryLabels'];
    case 'namespace':
    case 'injection':
      return ['waves'];
    case 'root-ca':
      return ['rootCA'];
    case 'cutover':
      return rest.startsWith('tag') ? ['target', 'tag'] : rest.startsWith('gateway') ? ['target', 'gateway'] : ['dns'];
    default:
      return [];
  }
}

export function findingNotes(report: PreflightReport): PlanNote[] {
  return report.findings
    .filter((f) => f.status !== 'pass')
    .map((f) => ({
      path: fieldOfFinding(f.check),
      where: 'before' as const,
      text: `preflight ${MARK[f.status]} ${f.check}: ${f.reason}${f.fix ? `\n  fix: ${f.fix}` : ''}`,
    }));
}

export async function initPlan(kube: KubeAccess, opts: PlanInitOptions = {}): Promise<PlanInitResult> {
  const inv = await readInventory(kube);
  const sides = chooseSides(inv.controlPlanes, opts);
  const draft = draftPlan(inv, sides, { ...(opts.generatedAt ? { generatedAt: opts.generatedAt } : {}) });
  // The draft must be a plan before preflight can read it.
  const validated = validatePlan(structuredClone(draft.plan), '<plan init draft>');

  let preflight: PlanInitSummary['preflight'] = null;
  const notes = [...draft.notes];
  if (opts.preflight !== false) {
    try {
      const report = await runPreflight(kube, validated);
      const passed = report.findings.filter((f) => f.status === 'pass').length;
      notes.push({
        path: [],
        where: 'before',
        text: `Preflight over this plan when it was written: ${report.blocking} blocking, ${report.warnings} warning(s), ${passed} passed.${report.blocking + report.warnings > 0 ? ' Each warning and block is written next to the field it concerns (or here).' : ''}`,
      });
      notes.push(...findingNotes(report));
      preflight = {
        blocking: report.blocking,
        warnings: report.warnings,
        passed,
        findings: report.findings.filter((f) => f.status !== 'pass'),
      };
    } catch (err) {
      notes.push({ path: [], where: 'before', text: `Preflight could not run over this plan: ${(err as Error).message}` });
      preflight = { error: (err as Error).message };
    }
  }

  const yaml = renderPlanYaml(draft.plan, notes);
  // What is written must load as the product loads it.
  const plan = parsePlanText(yaml, '<plan init output>');

  const byInjectingRevision: Record<string, string[]> = {};
  for (const ns of inv.namespaces) (byInjectingRevision[ns.injectedBy ?? 'none'] ??= []).push(ns.name);
  const summary: PlanInitSummary = {
    context: inv.context,
    source: { revision: sides.source.revision, namespace: sides.source.namespace },
    target: { revision: sides.target.revision, namespace: sides.target.namespace },
    basis: sides.basis,
    controlPlanes: inv.controlPlanes,
    revisionTags: inv.revisionTags,
    gateways: inv.gateways.map((g) => ({
      ...g,
      ...(g === draft.gateways.source ? { role: 'source' as const } : g === draft.gateways.target ? { role: 'target' as const } : {}),
    })),
    namespaces: { byInjectingRevision, planned: draft.namespaces.planned.length, total: inv.namespaces.length },
    dnsHosts: draft.dnsHosts,
    preflight,
    plan: draft.plan,
  };
  return { yaml, plan, summary };
}
