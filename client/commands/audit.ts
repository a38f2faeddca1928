// `meshmove audit verify HISTORY.json|RUN`: every decision of a run re-verified offline.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadPlan } from '../../plan/load.js';
import { CliError, ExitCode, emit } from '../cli-kit.js';
import { runHistories } from '../runs.js';
import { connectClient, type ConnectOptions } from '../temporal.js';
import { renderReport, verifyHistory, type AuditReport } from '../audit.js';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description("check a run's decisions");
  audit
    .command('verify')
    .description('re-verify every signed decision of a run offline: a file from `meshmove history`, or a run id (with its namespaces)')
    .argument('<history-or-run>', 'HISTORY.json, or the id of a run to fetch')
    .option('--plan <file>', 'trust the keys of this plan file instead of those recorded in the run')
    .action(async (what: string, opts: { plan?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConnectOptions & { json?: boolean };
      const trusted = opts.plan ? (await loadPlan(opts.plan)).plan : undefined;
      let sources: { workflowId?: string; json: unknown }[];
      if (existsSync(what)) {
        try {
          sources = [{ json: JSON.parse(await readFile(what, 'utf8')) as unknown }];
        } catch (err) {
          throw new CliError(
            `${what} is not a history file (JSON from \`meshmove history\`): ${(err as Error).message}`,
            ExitCode.badInput,
          );
        }
      } else sources = await runHistories(await connectClient(g), what);
      const reports: AuditReport[] = [];
      for (const s of sources) {
        try {
          reports.push(verifyHistory(s.json, { ...(s.workflowId ? { workflowId: s.workflowId } : {}), ...(trusted ? { trusted } : {}) }));
        } catch (err) {
          throw new CliError(`${s.workflowId ?? what}: ${(err as Error).message}`, ExitCode.badInput);
        }
      }
      emit(g, reports, () => reports.map(renderReport).join('\n\n'));
      if (reports.some((r) => r.failures > 0)) process.exitCode = ExitCode.failed;
    });
}
