// A local Temporal dev server for `meshmove dev` and `meshmove demo`: the Temporal CLI (found or
// built by scripts/temporal-cli.sh) persisted to a SQLite file, so a run survives restarts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { CliError, ExitCode } from './cli-kit.js';


export function defaultDataDir(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'meshmove');
}

export async function findTemporalCli(): Promise<string> {
  // dist/client/ when built, client/ when run from source.
  const script = ['../../scripts/temporal-cli.sh', '../scripts/temporal-cli.sh']
    .map((p) => fileURLToPath(new URL(p, import.meta.url)))
    .find((p) => existsSync(p));
  if (!script) throw new CliError('scripts/temporal-cli.sh is missing from this installation', ExitCode.failed);
  // The script's progress (a first build takes minutes) goes straight to the person's terminal.
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new CliError('no Temporal CLI available (see the message above)', ExitCode.failed);
  return stdout.trim();
}

export interface LocalTemporal {
  address: string;
  uiUrl: string;
  db: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface LocalTemporalOptions {
  db?: string;
  port?: number;
  uiPort?: number;
  /** Print the server's own output (default: only on failure). */
  verbose?: boolean;
}

export async function startLocalTemporal(opts: LocalTemporalOptions = {}): Promise<LocalTemporal> {
  const cli = await findTemporalCli();
  const db = opts.db ?? join(defaultDataDir(), 'temporal.db');
  await mkdir(dirname(db), { recursive: true });
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? port + 1000;
  const address = `127.0.0.1:${port}`;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort), '--db-filename', db, '--log-level', 'error', '--namespace', 'default'];
  // Its own process group: a Ctrl-C in the terminal reaches meshmove, which drains the worker first
  // and then stops the server, instead of the server dying under a worker still reporting to it.
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); if (opts.verbose) process.stderr.write(d); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); if (opts.verbose) process.stderr.write(d); });
  let exited = false;
  child.on('exit', () => { exited = true; });

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new CliError(`the Temporal dev server exited at start (is port ${port} in use?):\n${output.slice(-2000)}`, ExitCode.failed);
    try {
      const conn = await Connection.connect({ address, connectTimeout: '1s' });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new CliError(`the Temporal dev server did not answer on ${address} within 60 s:\n${output.slice(-2000)}`, ExitCode.failed);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    db,
    process: child,
    stop: async () => {
      if (exited) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}
