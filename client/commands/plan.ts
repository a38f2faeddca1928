// `meshmove plan validate FILE`: validation only, nothing started.
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import { plannedNamespaces } from '../../plan/schema.js';
import { emit } from '../cli-kit.js';

export function registerPlanCommands(program: Command): void {
  const plan = program.command('plan').description('work with migration plans');
  plan
    .command('validate')
    .description('check a plan file; prints every problem with its place in the file (exit 2 when invalid)')
    .argument('<file>', 'the plan (YAML or JSON)')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const { plan: p, digest } = await loadPlan(file);
      const ns = plannedNamespaces(p);
      emit(cmd.optsWithGlobals(), { valid: true, name: p.metadata.name, digest, namespaces: ns.length, waves: p.waves.length }, () =>
        `✓ ${file} is a valid plan "${p.metadata.name}": ${ns.length} namespace(s) in ${p.waves.length} wave(s), ${p.source.revision} → ${p.target.revision}\n  digest ${digest}`,
      );
    });
}
