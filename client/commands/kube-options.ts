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

export function addKubeOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', "kubeconfig context (default: the plan's cluster.context, else the current context)");
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
