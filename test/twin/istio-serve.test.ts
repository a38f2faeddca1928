// `meshmove twin serve` as a process: prints where it listens (--json), kubectl works against the
// kubeconfig it wrote, and SIGTERM closes it cleanly (exit 0).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = `
import { Command } from 'commander';
import { registerTwinCommands } from './client/commands/twin.ts';
const p = new Command('meshmove');
registerTwinCommands(p);
await p.parseAsync(process.argv.slice(0, 1).concat(['meshmove', ...process.argv.slice(1)]));
`;

it('twin serve prints its addresses, serves kubectl, and stops on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twin-serve-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry, 'twin', 'serve', '--scenario', 'examples/twin/field-report.yaml', '--random-ports', '--json', '--kubeconfig-out', kubeconfig], {
    cwd: root, env: { ...process.env, MESHMOVE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    const summary = await new Promise<{ apiUrl: string; kubeconfig: string; gateways: Record<string, { url: string }> }>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        try { resolve(JSON.parse(out)); } catch { /* not complete yet */ }
      });
      child.once('exit', (code) => reject(new Error(`twin serve exited early with ${code}`)));
    });
    expect(summary.kubeconfig).toBe(kubeconfig);
    expect(Object.keys(summary.gateways).sort()).toEqual(['istio-1-16-5/istio-ingressgateway', 'istio-system/istio-ingressgateway']);
    const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, 'get', 'ns,pods', '-A']);
    expect(stdout).toMatch(/namespace\/istio-1-16-5/);
    expect(stdout).toMatch(/orders\s+pod\/orders-\S+\s+2\/2\s+Running/);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
