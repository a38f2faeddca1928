// --kubeconfig/--context for the commands that read the cluster, and how a Kubernetes failure
// becomes a CLI error (a bad kubeconfig or context is bad input, exit 2; anything else exit 1).
import type { Command } from 'commander';
import { ApplicationFailure } from '@temporalio/common';
import { createKubeAccess, KubeErrorType, type KubeAccess } from '../../activities/kube/index.js';
import { CliError, ExitCode } from '../cli-kit.js';

export interface KubeCliOptions {
  kubeconfig?: string;
  context?: string;
}

/**
 * Where a command's --context comes from when not given, as its help says: the cluster.context of
 * the plan it takes, of the plan that --plan may name, or (a command with no plan) the kubeconfig's.
 */
export type ContextDefault = 'plan' | 'plan-option' | 'none';

const CONTEXT_DEFAULT_HELP: Record<ContextDefault, string> = {
  plan: "the plan's cluster.context, else the current context",
  'plan-option': "with --plan, that plan's cluster.context; else the current context",
  none: 'the current context',
};

export function addKubeOptions(cmd: Command, contextDefault: ContextDefault): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', `kubeconfig context (default: ${CONTEXT_DEFAULT_HELP[contextDefault]})`);
}

export function kubeForCli(opts: KubeCliOptions, planContext?: string): KubeAccess {
  try {
    return createKubeAccess({ kubeconfig: opts.kubeconfig, context: opts.context ?? planContext });
  } catch (err) {
    throw asCliError(err);
  }
}

export function asCliError(err: unknown): unknown {
  if (err instanceof ApplicationFailure && typeof err.type === 'string' && err.type.startsWith('Kube')) {
    return new CliError(err.message, err.type === KubeErrorType.config ? ExitCode.badInput : ExitCode.failed);
  }
  return err;
}
