// `meshmove preflight PLAN`: the read-only checks of the workflow's first phase, run from the
// terminal against the plan's cluster. Exit 0 when nothing blocks, 1 when something does, 2 on a
// bad plan or kubeconfig.
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import type { Finding, PreflightReport } from '../../activities/contract.js';
import { runPreflight } from '../../activities/preflight/index.js';
import { resolveWaves } from '../../activities/waves/index.js';
import { hasSelectWaves, resolvedPlan } from '../../plan/schema.js';
import { emit, ExitCode } from '../cli-kit.js';
import { addKubeOptions, asCliError, kubeForCli, type KubeCliOptions } from './kube-options.js';

const SECTIONS: { prefix: string[]; title: string }[] = [
  { prefix: ['target'], title: 'Target control plane healthy' },
  { prefix: ['outbound-policy'], title: 'Outbound traffic policy' },
  { prefix: ['discovery', 'namespace'], title: 'Discovery selectors' },
  { prefix: ['injection'], title: 'Sidecar injection' },
  { prefix: ['root-ca'], title: 'Root CA' },
  { prefix: ['proxy-status'], title: 'Proxy status' },
  { prefix: ['pitfall'], title: 'Pitfall guards (what decommission would delete)' },
];

const MARK: Record<Finding['status'], string> = { pass: '✓', warn: '!', block: '✗' };

export function renderPreflight(r: PreflightReport, header: string): string {
  const lines = [header, ''];
  const used = new Set<Finding>();
  const section = (title: string, fs: Finding[]) => {
    if (fs.length === 0) return;
    lines.push(title);
    for (const f of fs) {
      used.add(f);
      lines.push(`  ${MARK[f.status]} ${f.check}: ${f.reason}`);
      if (f.fix && f.status !== 'pass') lines.push(`      fix: ${f.fix}`);
    }
    lines.push('');
  };
  for (const s of SECTIONS)
    section(
      s.title,
      r.findings.filter((f) => s.prefix.includes(f.check.split('/')[0]!)),
    );
  section(
    'Other',
    r.findings.filter((f) => !used.has(f)),
  );
  const passed = r.findings.filter((f) => f.status === 'pass').length;
  lines.push(
    r.blocking > 0
      ? `✗ ${r.blocking} blocking, ${r.warnings} warning(s), ${passed} passed: the migration would stop before the start gate.`
      : `✓ nothing blocks (${r.warnings} warning(s), ${passed} passed).`,
  );
  return lines.join('\n');
}

export function registerPreflightCommands(program: Command): void {
  addKubeOptions(
    program
      .command('preflight')
      .description('run the read-only preflight checks of a plan against its cluster (exit 1 when any check blocks)')
      .argument('<plan>', 'the plan (YAML or JSON)'),
    'plan',
  ).action(async (file: string, _opts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<KubeCliOptions & { json?: boolean }>();
    const loaded = (await loadPlan(file)).plan;
    const kube = kubeForCli(opts, loaded.cluster.context);
    let report: PreflightReport;
    let plan = loaded;
    let resolvedNote = '';
    try {
      // Select waves are resolved now, as the run would resolve them before its own preflight.
      if (hasSelectWaves(loaded)) {
        const selection = await resolveWaves({ kube }, { plan: loaded, migrationId: 'preflight' });
        plan = resolvedPlan(loaded, selection);
        resolvedNote = `\nWaves chosen by selector, as resolved now: ${selection.waves.map((w) => `${w.name}: ${w.namespaces.join(', ') || 'none'}`).join('; ')}`;
      }
      report = await runPreflight(kube, plan);
    } catch (err) {
      throw asCliError(err);
    }
    emit(opts, report, () =>
      renderPreflight(
        report,
        `Preflight of plan "${plan.metadata.name}" (${plan.source.revision} → ${plan.target.revision}) on context ${kube.contextName}${resolvedNote}`,
      ),
    );
    if (report.blocking > 0) process.exitCode = ExitCode.failed;
  });
}
