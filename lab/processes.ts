// The lab's processes: each control-plane component runs as a child process with its log in the
// lab directory. A component that dies before it is stopped is reported with the tail of its log,
// and every process is stopped by PID on teardown (SIGTERM, then SIGKILL after a grace period).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';

export interface LabProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Set when the process exited before stop() was called. */
  readonly exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  dir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The last lines of a component's log, for error messages. */
export function logTail(logFile: string, lines = 25): string {
  try {
    const text = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function startProcess(opts: StartProcessOptions): LabProcess {
  const logFile = path.join(opts.dir, `${opts.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(opts.command, [...opts.args], {
    cwd: opts.cwd ?? opts.dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stopping = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      log.write(`\n[lab] could not start ${opts.command}: ${err.message}\n`);
      exit = { code: -1, signal: null };
      resolve();
    });
  });
  return {
    name: opts.name,
    pid: child.pid ?? -1,
    logFile,
    exited: () => (stopping ? undefined : exit),
    async stop() {
      stopping = true;
      if (!exit && child.pid !== undefined) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exitedPromise;
        clearTimeout(killer);
      }
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}

/**
 * Polls `check` until it returns true; fails with the component's log tail if the process died or
 * the deadline passed.
 */
export async function waitUntil(proc: LabProcess, what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    const exit = proc.exited();
    if (exit) {
      throw new Error(
        `${proc.name} exited (code ${exit.code}, signal ${exit.signal}) before ${what}. Last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${proc.name}: ${what} not reached within ${timeoutMs / 1000}s${lastErr ? ` (last error: ${lastErr})` : ''}. Last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`,
  );
}
