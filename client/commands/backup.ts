// `meshmove backup verify LOCATION`: re-hash a backup against its manifest (exit 1 when anything
// differs). LOCATION is what `meshmove status` prints: a directory, or `cluster:NAMESPACE/RUN_ID`
// for a backup kept in the cluster (read through --kubeconfig/--context like the other commands).
import type { Command } from 'commander';
import { ApplicationFailure } from '@temporalio/common';
import { openBackupStore } from '../../activities/backup/index.js';
import { NO_MANIFEST, verifyBackup, type BackupStore } from '../../activities/backup/store.js';
import { CliError, emit, ExitCode } from '../cli-kit.js';
import { addKubeOptions, asCliError, kubeForCli, type KubeCliOptions } from './kube-options.js';

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('work with the backups a migration writes');
  addKubeOptions(
    backup
      .command('verify')
      .description('check every object of a backup against the sha256 digests of its manifest')
      .argument(
        '<location>',
        'the backup as `meshmove status` shows it: a directory (<backup.location>/<run id>), or cluster:<namespace>/<run id> for backup.cluster',
      )
      .option('--digest <sha256>', 'also require the manifest itself to have this sha256 (the workflow records it)'),
    'none',
  ).action(async (location: string, _o: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<{ json?: boolean; digest?: string } & KubeCliOptions>();
    let store: BackupStore;
    try {
      store = openBackupStore(location, () => kubeForCli(opts));
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError((err as Error).message, ExitCode.badInput);
    }
    const v = await verifyBackup(store, opts.digest).catch((err: unknown) => {
      throw err instanceof ApplicationFailure ? asCliError(err) : err;
    });
    if (!v.ok && v.problems.some((p) => p.startsWith(NO_MANIFEST) || p.startsWith('manifest unreadable'))) {
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
