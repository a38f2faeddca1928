// The meshmove command line: commands and the way errors become exit codes.
import { Command, CommanderError } from 'commander';
import { PlanError } from '../plan/load.js';
import { CliError, ExitCode } from './cli-kit.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerPlanCommands } from './commands/plan.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerInspectCommands } from './commands/inspect.js';
import { registerPreflightCommands } from './commands/preflight.js';
import { registerRunCommands } from './commands/run.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerLabCommands } from './commands/lab.js';
import { registerTwinCommands } from './commands/twin.js';
import { registerWorkerCommands } from './commands/worker.js';

export function buildProgram(): Command {
  const program = new Command('meshmove')
    .description('Move Istio workloads from one control plane to another as a durable, gated, reversible Temporal workflow.')
    .option('--json', 'machine-readable output')
    .option('--by <name>', 'who is acting (default: $MESHMOVE_USER, else your OS user name)')
    .option(
      '--key <file>',
      "sign decisions with this SSH key: a private key, or a .pub whose key ssh-agent holds (default: $MESHMOVE_SIGNING_KEY, else the ssh-agent's only key)",
    )
    .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or the temporal.toml profile, else localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE, else "default")')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDemoCommand(program);
  registerPlanCommands(program);
  registerRunCommands(program);
  registerAuditCommands(program);
  registerWorkerCommands(program);
  registerPreflightCommands(program);
  registerBackupCommands(program);
  registerInspectCommands(program);
  registerTwinCommands(program);
  registerLabCommands(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Run the CLI; returns the exit code. Errors are printed as one clear message, never a stack. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // Commands that report a failed check without throwing (preflight, backup verify, demo) set
    // process.exitCode; the caller exits with what this returns, so carry it over.
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors are bad input.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    const json = argv.includes('--json');
    if (err instanceof PlanError) {
      if (json) process.stdout.write(`${JSON.stringify({ valid: false, file: err.file, problems: err.problems }, null, 2)}\n`);
      process.stderr.write(`${err.message}\n`);
      return ExitCode.badInput;
    }
    if (err instanceof CliError) {
      if (json) process.stdout.write(`${JSON.stringify({ error: err.message, exitCode: err.exitCode }, null, 2)}\n`);
      process.stderr.write(`meshmove: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`meshmove: ${(err as Error).stack ?? String(err)}\n`);
    return ExitCode.failed;
  }
}
