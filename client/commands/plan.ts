// `meshmove plan validate FILE`: validation only, nothing started.
// `meshmove plan init`: propose a commented plan from what the cluster runs (read-only).
// `meshmove plan rbac FILE`: the worker's RBAC for the plan (deploy/rbac.yaml with its names).
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import { plannedNamespaces } from '../../plan/schema.js';
import { CliError, emit, ExitCode, packageFile } from '../cli-kit.js';
import { rbacForPlan } from '../plan-rbac.js';
import { initPlan, PlanInitError } from '../plan-init/index.js';
import { addKubeOptions, asCliError, kubeForCli, type KubeCliOptions } from './kube-options.js';

interface PlanInitCliOptions extends KubeCliOptions {
  output?: string;
  source?: string;
  target?: string;
  force?: boolean;
  preflight?: boolean;
  json?: boolean;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Write through a temporary file and rename, so a failed run never leaves half a plan. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text, { flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export function registerPlanCommands(program: Command): void {
  const plan = program.command('plan').description('work with migration plans');
  plan
    .command('validate')
    .description('check a plan file; prints every problem with its place in the file (exit 2 when invalid)')
    .argument('<file>', 'the plan (YAML or JSON)')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const { plan: p, digest } = await loadPlan(file);
      const ns = plannedNamespaces(p);
      const selected = p.waves.filter((w) => w.select).length;
      // Select waves are resolved against the cluster when the run starts (or by `meshmove preflight`).
      const what =
        selected > 0
          ? `${ns.length} named namespace(s) and ${selected} wave(s) chosen by selector (resolved when the run starts)`
          : `${ns.length} namespace(s)`;
      emit(
        cmd.optsWithGlobals(),
        { valid: true, name: p.metadata.name, digest, namespaces: ns.length, selectWaves: selected, waves: p.waves.length },
        () =>
          `✓ ${file} is a valid plan "${p.metadata.name}": ${what} in ${p.waves.length} wave(s), ${p.source.revision} → ${p.target.revision}\n  digest ${digest}`,
      );
    });

  plan
    .command('rbac')
    .description("the worker's least-privilege RBAC for this plan: deploy/rbac.yaml with the plan's namespaces and object names")
    .argument('<file>', 'the plan (YAML or JSON)')
    .action(async (file: string) => {
      const { plan: p } = await loadPlan(file);
      process.stdout.write(rbacForPlan(await readFile(packageFile('deploy/rbac.yaml'), 'utf8'), p));
    });

  addKubeOptions(
    plan
      .command('init')
      .description('propose a commented plan from the cluster: control planes, gateways, namespaces and preflight findings (read-only)')
      .option('-o, --output <file>', 'write the plan to this file (default: print it)')
      .option('--source <rev>', 'the revision being left (default: of two control planes, the one injecting more namespaces)')
      .option('--target <rev>', 'the revision being moved to (default: the other one)')
      .option('--force', 'overwrite the output file if it exists')
      .option('--no-preflight', 'do not run preflight over the proposed plan'),
    'none',
  ).action(async (_opts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<PlanInitCliOptions>();
    if (opts.output && !opts.force && (await exists(opts.output))) {
      throw new CliError(`${opts.output} exists: choose another -o or pass --force to overwrite it`, ExitCode.badInput);
    }
    const kube = kubeForCli(opts);
    let result: Awaited<ReturnType<typeof initPlan>>;
    try {
      result = await initPlan(kube, {
        ...(opts.source !== undefined ? { source: opts.source } : {}),
        ...(opts.target !== undefined ? { target: opts.target } : {}),
        preflight: opts.preflight !== false,
        generatedAt: new Date().toISOString(),
      });
    } catch (err) {
      if (err instanceof PlanInitError) throw new CliError(err.message, ExitCode.badInput);
      throw asCliError(err);
    }
    const { yaml, plan: p, summary } = result;
    if (opts.output) await writeAtomically(opts.output, yaml);
    if (opts.json) {
      emit(opts, { ...(opts.output ? { file: opts.output } : {}), ...summary }, () => '');
      return;
    }
    if (!opts.output) {
      process.stdout.write(yaml);
      return;
    }
    const pf = summary.preflight;
    const pfText =
      pf === null
        ? 'preflight not run'
        : 'error' in pf
          ? `preflight could not run: ${pf.error}`
          : `preflight: ${pf.blocking} blocking, ${pf.warnings} warning(s), ${pf.passed} passed (written as comments)`;
    process.stdout.write(
      `✓ wrote ${opts.output}: plan "${p.metadata.name}", ${p.source.revision} (${p.source.istiodNamespace}) → ${p.target.revision} (${p.target.istiodNamespace}), ` +
        `${plannedNamespaces(p).length} namespace(s) in ${p.waves.length} wave(s), ${p.dns ? `${p.dns.records.length} DNS record(s)` : 'no DNS cutover'}\n  ${pfText}\n` +
        `  replace every CHANGE-ME (approvers${p.dns ? ', dns.resolvers, dns.ttl' : ''}), then: meshmove preflight ${opts.output}\n`,
    );
  });
}
