// A local Temporal dev server for `meshmove dev` and `meshmove demo`: the Temporal CLI (found or
// built by scripts/temporal-cli.sh) persisted to a SQLite file, so a run survives restarts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { CliError, ExitCode } from './cli-kit.js';
import { devServerSearchAttributeArgs } from '../workflows/search-attributes.js';

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
  /** Added to the refusal when a Temporal server already answers on the port (how to use that one). */
  alreadyServingHint?: string;
}

/**
 * The server settings `meshmove dev` starts with, and the ones to ask of a team's server: eager
 * activity dispatch hands the worker an activity it schedules in the reply to the workflow task that
 * scheduled it, instead of through the task queue (measured in bench/compare.ts --eager-activities:
 * each activity's wait for a worker ~30 ms -> 0 on the dev server). Off by default in the server.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, unknown>> = { 'system.enableActivityEagerExecution': true };

/** `temporal server start-dev` arguments for dynamic config values (KEY=JSON). */
export function dynamicConfigArgs(config: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(config).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]);
}

export type PortOccupant = 'free' | 'temporal' | 'other';

/** What listens on host:port: nothing, a Temporal frontend, or something else. */
export async function whatAnswersOn(host: string, port: number): Promise<PortOccupant> {
  const listening = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(true);
    }); // accepted but silent, or filtered: not ours to take
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    // ECONNREFUSED: free. Any other error the server's own bind will report.
    socket.once('error', () => resolve(false));
  });
  if (!listening) return 'free';
  try {
    const conn = await Connection.connect({ address: `${host}:${port}`, connectTimeout: '2s' });
    try {
      await conn.workflowService.getSystemInfo({});
      return 'temporal';
    } finally {
      await conn.close();
    }
  } catch {
    return 'other';
  }
}

/**
 * Before starting a server: its ports must be free. The readiness check below cannot tell our server
 * from another one already answering on the port, so without this `meshmove dev` silently attached
 * its worker to someone else's server (two workers on one task queue) while its own server died on
 * the taken port.
 */
async function refuseTakenPorts(host: string, port: number, uiPort: number, hint: string | undefined): Promise<void> {
  const fix = 'stop it, or choose a free port with --port';
  const frontend = await whatAnswersOn(host, port);
  if (frontend === 'temporal') {
    throw new CliError(
      `a Temporal server already answers on ${host}:${port}, and it is not one this command started; refusing to attach to it. ` +
        `To start a new one, ${fix}.${hint ? ` ${hint}` : ''}`,
      ExitCode.failed,
    );
  }
  if (frontend === 'other')
    throw new CliError(`port ${port} on ${host} is in use by something that is not a Temporal server: ${fix}.`, ExitCode.failed);
  if ((await whatAnswersOn(host, uiPort)) !== 'free') {
    throw new CliError(
      `the Temporal UI port ${uiPort} on ${host} is in use: stop what listens there, or choose other ports (see --help).`,
      ExitCode.failed,
    );
  }
}

export async function startLocalTemporal(opts: LocalTemporalOptions = {}): Promise<LocalTemporal> {
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? port + 1000;
  const address = `127.0.0.1:${port}`;
  // Before finding (perhaps building, for minutes) the Temporal CLI: a taken port fails at once.
  await refuseTakenPorts('127.0.0.1', port, uiPort, opts.alreadyServingHint);
  const cli = await findTemporalCli();
  const db = opts.db ?? join(defaultDataDir(), 'temporal.db');
  await mkdir(dirname(db), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--db-filename',
    db,
    '--log-level',
    'error',
    '--namespace',
    'default',
    // The Meshmove* search attributes (`meshmove list --waiting`, the UI's filters); an existing
    // database keeps them, and registering them again is a no-op.
    ...devServerSearchAttributeArgs(),
    ...dynamicConfigArgs(DEV_SERVER_DYNAMIC_CONFIG),
  ];
  // Its own process group: a Ctrl-C in the terminal reaches meshmove, which drains the worker first
  // and then stops the server, instead of the server dying under a worker still reporting to it.
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    if (opts.verbose) process.stderr.write(d);
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
    if (opts.verbose) process.stderr.write(d);
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited)
      throw new CliError(`the Temporal dev server exited at start (is port ${port} in use?):\n${output.slice(-2000)}`, ExitCode.failed);
    try {
      const conn = await Connection.connect({ address, connectTimeout: '1s' });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      // Whoever took the port since the check answers, while our server died on it.
      if (exited) continue;
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
