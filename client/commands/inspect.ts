// `meshmove inspect namespace NS`: where a namespace's pods get their sidecar and config, now and
// after the plan's relabel. Read-only; works against any cluster, with or without a plan.
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import { inspectNamespace, renderInspect } from '../../activities/inspect/index.js';
import { emit } from '../cli-kit.js';
import { addKubeOptions, asCliError, kubeForCli, type KubeCliOptions } from './kube-options.js';

export function registerInspectCommands(program: Command): void {
  const inspect = program.command('inspect').description('look at the cluster the way the migration does');
  addKubeOptions(
    inspect
      .command('namespace')
      .description(
        'labels, injecting webhooks (now and after the relabel), discovering control planes, CA root and per-pod sync state of a namespace',
      )
      .argument('<ns>', 'the namespace')
      .option('--plan <file>', 'a plan: also show what its relabel would change'),
    'plan-option',
  ).action(async (ns: string, _o: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<KubeCliOptions & { json?: boolean; plan?: string }>();
    const plan = opts.plan ? (await loadPlan(opts.plan)).plan : undefined;
    const kube = kubeForCli(opts, plan?.cluster.context);
    try {
      const report = await inspectNamespace(kube, ns, plan);
      emit(opts, report, () => renderInspect(report));
    } catch (err) {
      throw asCliError(err);
    }
  });
}
