// What every command shares: exit codes, errors that carry one, output for people or for scripts.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The CLI's exit codes (scripts and tests depend on them). */
export const ExitCode = {
  ok: 0,
  /** A check failed or an action was rejected (approval refused, preflight blocked, ...). */
  failed: 1,
  /** Bad input: an invalid plan, an unknown id, a wrong flag. Nothing was started or changed. */
  badInput: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Names the Kubernetes namespace of a failed step (`decide`). Not `--namespace`: that is the
 * Temporal namespace, for every command, as in the Temporal CLI.
 */
export const K8S_NAMESPACE_FLAG = '--k8s-namespace';

/** An error the CLI reports as one clear message (no stack) with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface OutputOptions {
  json?: boolean;
}

/** Print a result: JSON for scripts, or the human rendering. */
export function emit(opts: OutputOptions, value: unknown, human: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** Who is acting: --by, else $MESHMOVE_USER, else the OS user name. Recorded on every decision. */
export function actingIdentity(by?: string): string {
  const who = by ?? process.env.MESHMOVE_USER ?? safeUserName();
  if (!who) throw new CliError('cannot tell who you are: pass --by NAME or set MESHMOVE_USER', ExitCode.badInput);
  return who;
}

function safeUserName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** Runs until SIGINT or SIGTERM, then awaits `close` once (a second signal during it is ignored). */
export function untilInterrupted(close: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    let closing = false;
    const stop = (): void => {
      if (closing) return;
      closing = true;
      void close().then(done, done);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** A file shipped with meshmove (deploy/rbac.yaml, the examples), from the sources or the build. */
export function packageFile(rel: string): string {
  // dist/client → the package root, or client → the repository root.
  for (const up of ['../../', '../']) {
    const p = fileURLToPath(new URL(`${up}${rel}`, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new CliError(`${rel} is missing from this installation`, ExitCode.failed);
}
