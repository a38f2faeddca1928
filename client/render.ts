// Run status for people: the field report's checklist with a mark per item, the gates, and what
// waits for a person with the command to answer it.
import { failureHint } from '../activities/failures.js';
import type { GateRecord, NamespaceStatus, RunStatus, StepRecord } from '../workflows/messages.js';
import { MigrationGate, MigrationStep, isUndoStep } from '../workflows/steps.js';
import type { Attention } from './runs.js';
import { K8S_NAMESPACE_FLAG } from './cli-kit.js';

const MARK: Record<string, string> = {
  pending: '·',
  running: '▶',
  succeeded: '✓',
  failed: '✗',
  skipped: '↷',
  compensating: '↶',
  compensated: '↶',
  open: '?',
  approved: '✓',
  rejected: '✗',
  expired: '⌛',
  migrating: '▶',
  migrated: '✓',
  'rolling-back': '↶',
  'rolled-back': '↶',
};

/** The checklist's sections and the steps each shows, in the order the migration runs them. */
const BEFORE = {
  title: 'Before migration',
  steps: [MigrationStep.resolveWaves, MigrationStep.preflight, MigrationStep.backup],
  /** After the start gate, before the first namespace moves. */
  afterGate: [MigrationStep.trafficBaseline],
};
const DNS = {
  title: 'DNS cutover',
  steps: [MigrationStep.gatewayStable, MigrationStep.dnsSwitch, MigrationStep.dnsVerify, MigrationStep.dnsTtl, MigrationStep.trafficShift],
};
const AFTER = { title: 'After migration', steps: [MigrationStep.verifyMesh, MigrationStep.gatewayDrained] };

function stepLine(s: StepRecord): string {
  const extra = [s.summary, s.attempts > 1 ? `attempt ${s.attempts}` : undefined, s.state === 'failed' ? s.lastError : undefined].filter(
    Boolean,
  );
  return `  ${MARK[s.state] ?? '?'} ${s.title}${extra.length ? ` — ${extra.join('; ')}` : ''}`;
}

function gateLine(g: GateRecord): string {
  const who = g.decidedBy ? ` by ${g.decidedBy}` : '';
  const why = g.reason ? ` (${g.reason})` : '';
  return `  ${MARK[g.state]} gate ${g.id}: ${g.state}${who}${why}`;
}

function namespaceLine(n: NamespaceStatus, child?: RunStatus): string {
  const step = n.waitingForRestartSlot ? ` — ${WAITING_FOR_SLOT}` : child?.currentStep ? ` — ${child.currentStep}` : '';
  const err = n.error ? ` — ${n.error}` : '';
  return `${MARK[n.state] ?? '·'} ${n.name}${n.state === 'migrated' || n.state === 'pending' ? '' : ` (${n.state})`}${step}${err}`;
}

/** A namespace prepared ahead (wave.prepareAhead) whose restart waits for a free slot. */
export const WAITING_FOR_SLOT = 'prepared, waiting for a restart slot';

/** Order of the counts in a wave's line. */
const STATE_ORDER: NamespaceStatus['state'][] = ['migrated', 'migrating', 'failed', 'rolling-back', 'rolled-back', 'skipped', 'pending'];

/**
 * Each wave as counts by state, then only the namespaces that need looking at: running, failed,
 * rolling back, or waiting for a person. Stays readable with thousands of namespaces.
 */
export function namespaceLines(namespaces: readonly NamespaceStatus[], attention: Attention): string[] {
  const waiting = new Set([
    ...attention.decisions.map((d) => d.namespace).filter((n): n is string => n !== undefined),
    ...namespaces.filter((n) => n.workflowId && attention.gates.some((g) => g.workflowId === n.workflowId)).map((n) => n.name),
  ]);
  const lines: string[] = [];
  for (const w of [...new Set(namespaces.map((n) => n.wave))]) {
    const ns = namespaces.filter((n) => n.wave === w);
    const counts = new Map<string, number>();
    for (const n of ns) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
    const done = counts.get('migrated') ?? 0;
    const prepared = ns.filter((n) => n.state === 'migrating' && n.waitingForRestartSlot).length;
    const rest = STATE_ORDER.filter((st) => st !== 'migrated' && counts.get(st)).map(
      (st) => `${counts.get(st)} ${st}${st === 'migrating' && prepared ? ` (${prepared} of them ${WAITING_FOR_SLOT})` : ''}`,
    );
    lines.push(`  wave ${w} (${done}/${ns.length} migrated)${rest.length ? `: ${rest.join(', ')}` : ''}`);
    for (const n of ns) {
      const shown = n.state === 'migrating' || n.state === 'failed' || n.state === 'rolling-back' || waiting.has(n.name);
      if (shown)
        lines.push(`    ${namespaceLine(n, attention.children.get(n.name))}${waiting.has(n.name) ? ' — waiting for a person' : ''}`);
    }
  }
  return lines;
}

export function renderStatus(s: RunStatus, attention: Attention): string {
  const lines: string[] = [];
  lines.push(`${s.workflowId}  plan ${s.plan}  started by ${s.startedBy} at ${s.startedAt}`);
  lines.push(
    `phase: ${s.phase}${s.currentStep ? `   step: ${s.currentStep}` : ''}${s.outcome && s.outcome !== s.phase ? `   (${s.outcome})` : ''}`,
  );
  if (s.identity === 'unverified') lines.push('⚠ identity: unverified — this plan trusts the names people give; decisions are not signed');
  const stepById = new Map(s.steps.map((x) => [x.id, x]));
  const gate = (id: string) => s.gates.filter((g) => g.id === id).map(gateLine);

  const steps = (ids: readonly string[]) => ids.flatMap((id) => (stepById.has(id) ? [stepLine(stepById.get(id)!)] : []));

  lines.push('', BEFORE.title, ...steps(BEFORE.steps), ...gate(MigrationGate.start), ...steps(BEFORE.afterGate));

  lines.push('', 'Namespaces');
  lines.push(...namespaceLines(s.namespaces, attention));
  lines.push(...steps([MigrationStep.failureBudget]));

  lines.push('', DNS.title, ...gate(MigrationGate.dnsCutover), ...gate(MigrationGate.dnsConfirm), ...steps(DNS.steps));

  lines.push('', AFTER.title, ...steps(AFTER.steps), ...gate(MigrationGate.decommission), ...steps([MigrationStep.decommission]));

  const undo = s.steps.filter((x) => isUndoStep(x.id));
  const dnsRevert = gate(MigrationGate.dnsRevert);
  if (undo.length || dnsRevert.length) lines.push('', 'Rollback (newest first)', ...dnsRevert, ...undo.map(stepLine));

  if (attention.gates.length || attention.decisions.length) {
    lines.push('', 'Waiting for a person');
    for (const g of attention.gates) {
      lines.push(`  gate ${g.id}: ${g.summary.title}  (expires ${g.expiresAt}, digest ${g.digest})`);
      for (const d of g.summary.details) lines.push(`    - ${d}`);
      for (const c of g.summary.commands ?? []) lines.push(`    $ ${c}`);
      lines.push(`    → meshmove approve ${s.workflowId} ${g.id}     or: meshmove reject ${s.workflowId} ${g.id} --reason "…"`);
    }
    for (const d of attention.decisions) {
      lines.push(`  step ${d.step}${d.namespace ? ` in ${d.namespace}` : ''} failed: ${d.error}`);
      const hint = failureHint(d.errorType);
      if (hint) lines.push(`    what to do (${d.errorType}): ${hint}`);
      lines.push(
        `    → meshmove decide ${s.workflowId} ${d.allowed.join('|')}${d.namespace ? ` ${K8S_NAMESPACE_FLAG} ${d.namespace}` : ''} [--reason "…"]`,
      );
    }
  }
  if (s.backup)
    lines.push('', `backup: ${s.backup.location} (${s.backup.objects} objects, manifest sha256 ${s.backup.manifestDigest.slice(0, 16)}…)`);
  const refused = s.audit.filter((a) => !a.accepted).length;
  lines.push(
    `audit: ${s.audit.length} entr${s.audit.length === 1 ? 'y' : 'ies'}${refused ? ` (${refused} refused)` : ''}; \`meshmove status ${s.workflowId} --json\` shows them`,
  );
  return lines.join('\n');
}
