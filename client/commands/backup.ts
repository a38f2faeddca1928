// `meshmove backup verify DIR`: re-hash a backup against its manifest (exit 1 when anything differs).
import type { Command } from 'commander';
import { verifyBackup } from '../../activities/backup/store.js';
import { CliError, emit, ExitCode } from '../cli-kit.js';

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('work with the backups a migration writes');
  backup
    .command('verify')
    .description('check every file of a backup against the sha256 digests of its manifest')
    .argument('<dir>', 'the backup directory (<backup.location>/<run id>)')
    .option('--digest <sha256>', 'also require the manifest itself to have this sha256 (the workflow records it)')
    .action(async (dir: string, _o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ json?: boolean; digest?: string }>();
      const v = await verifyBackup(dir, opts.digest);
      if (!v.ok && v.problems.some((p) => p.startsWith('no manifest.json') || p.startsWith('manifest unreadable'))) {
        throw new CliError(v.problems.join('; '), ExitCode.badInput, v);
      }
      emit(opts, v, () =>
        v.ok
          ? `✓ backup ${v.location}: ${v.objects} object(s) match the manifest (manifest sha256 ${v.manifestDigest})`
          : `✗ backup ${v.location} does not match its manifest:\n${v.problems.map((p) => `  ${p}`).join('\n')}`,
      );
      if (!v.ok) process.exitCode = ExitCode.failed;
    });
}
