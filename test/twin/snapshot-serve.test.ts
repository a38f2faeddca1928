// `meshmove twin serve --state FILE` as a process: SIGTERM saves the cluster, the next serve
// restores it (a relabeled namespace stays relabeled) and says so; a file from another scenario is
// refused as bad input (exit 2).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientsFor, MERGE } from './istio-helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = `
import { Command } from 'commander';
import { registerTwinCommands } from './client/commands/twin.ts';
import { CliError } from './client/cli-kit.ts';
const p = new Command('meshmove');
registerTwinCommands(p);
try {
  await p.parseAsync(process.argv.slice(0, 1).concat(['meshmove', ...process.argv.slice(1)]));
} catch (err) {
  if (!(err instanceof CliError)) throw err;
  process.stderr.write(err.message + '\\n');
  process.exitCode = err.exitCode ?? 1;
}
`;

interface Summary {
  kubeconfig: string;
  state: { path: string; restored: boolean } | null;
}

function serve(args: string[]): { summary: Promise<Summary>; exit: Promise<number | null>; stop: () => void; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      entry,
      'twin',
      'serve',
      '--scenario',
      'examples/twin/field-report.yaml',
      '--random-ports',
      '--json',
      ...args,
    ],
    {
      cwd: root,
      env: { ...process.env, MESHMOVE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const summary = new Promise<Summary>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      try {
        resolve(JSON.parse(out) as Summary);
      } catch {
        /* not complete yet */
      }
    });
    void exit.then((code) => reject(new Error(`twin serve exited early with ${code}: ${err}`)));
  });
  summary.catch(() => undefined);
  return { summary, exit, stop: () => child.kill('SIGTERM'), stderr: () => err };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'twin-serve-state-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('twin serve --state saves on SIGTERM and restores on the next start', async () => {
  const state = join(dir, 'twin-state.json');
  const first = serve(['--state', state, '--kubeconfig-out', join(dir, 'kc1')]);
  try {
    const s1 = await first.summary;
    expect(s1.state).toEqual({ path: state, restored: false });
    const c = clientsFor(s1.kubeconfig);
    await c.core.patchNamespace({ name: 'orders', body: { metadata: { labels: { 'meshmove.dev/marker': 'kept' } } } }, MERGE);
    first.stop();
    expect(await first.exit).toBe(0);
  } finally {
    first.stop();
  }
  const saved = JSON.parse(await readFile(state, 'utf8')) as {
    objects: Array<{ kind: string; metadata: { name: string; labels?: Record<string, string> } }>;
  };
  expect(saved.objects.find((o) => o.kind === 'Namespace' && o.metadata.name === 'orders')?.metadata.labels?.['meshmove.dev/marker']).toBe(
    'kept',
  );

  const second = serve(['--state', state, '--kubeconfig-out', join(dir, 'kc2')]);
  try {
    const s2 = await second.summary;
    expect(s2.state).toEqual({ path: state, restored: true });
    const ns = await clientsFor(s2.kubeconfig).core.readNamespace({ name: 'orders' });
    expect(ns.metadata?.labels?.['meshmove.dev/marker']).toBe('kept');
    second.stop();
    expect(await second.exit).toBe(0);
  } finally {
    second.stop();
  }
}, 60_000);

it('twin serve --state refuses a state file of another scenario with exit 2', async () => {
  const other = join(dir, 'other.json');
  await writeFile(other, JSON.stringify({ kind: 'MeshmoveTwinState', version: 1, scenario: 'something-else' }));
  const run = serve(['--state', other]);
  expect(await run.exit).toBe(2);
  expect(run.stderr()).toMatch(/not a meshmove twin state file|written by scenario/);
}, 30_000);
