// `meshmove dev` on a port where something already listens: it must not attach its worker to a
// Temporal server it did not start (two workers on one task queue, issue 8), nor start a server that
// cannot bind. It refuses, naming the port and the fix, before starting anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { whatAnswersOn } from '../../client/local-temporal.js';
import { startDevServer } from '../support/temporal.js';
import { meshmove } from '../support/cli.js';

let env: TestWorkflowEnvironment;
let temporalPort: number;
let dir: string;

async function listen(): Promise<Server> {
  const srv = createServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}
const portOf = (srv: Server): number => (srv.address() as { port: number }).port;
async function freePort(): Promise<number> {
  const srv = await listen();
  const port = portOf(srv);
  await new Promise((r) => srv.close(r));
  return port;
}

beforeAll(async () => {
  env = await startDevServer();
  temporalPort = Number(env.address.split(':').at(-1));
  dir = await mkdtemp(join(tmpdir(), 'meshmove-dev-'));
});
afterAll(async () => {
  await env?.teardown();
});

describe('meshmove dev on a busy port', () => {
  it('tells a free port, a Temporal server and something else apart', async () => {
    expect(await whatAnswersOn('127.0.0.1', await freePort())).toBe('free');
    expect(await whatAnswersOn('127.0.0.1', temporalPort)).toBe('temporal');
    const other = await listen();
    try {
      expect(await whatAnswersOn('127.0.0.1', portOf(other))).toBe('other');
    } finally {
      other.close();
    }
  });

  it('refuses to attach to a Temporal server already answering on --port (exit 1), naming the port and the fix', async () => {
    const r = await meshmove(
      ['dev', '--port', String(temporalPort), '--ui-port', String(await freePort()), '--db', join(dir, 'a.db')],
      {},
      45_000,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`a Temporal server already answers on 127.0.0.1:${temporalPort}`);
    expect(r.stderr).toContain('--port');
    expect(r.stderr).toContain(`meshmove worker --address 127.0.0.1:${temporalPort}`);
    expect(r.stdout).not.toContain('meshmove worker      running');
  }, 60_000);

  it('refuses a port taken by something that is not Temporal, and a taken UI port', async () => {
    const other = await listen();
    try {
      const r = await meshmove(
        ['dev', '--port', String(portOf(other)), '--ui-port', String(await freePort()), '--db', join(dir, 'b.db')],
        {},
        45_000,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${portOf(other)} on 127.0.0.1 is in use by something that is not a Temporal server`);
      const ui = await meshmove(
        ['dev', '--port', String(await freePort()), '--ui-port', String(portOf(other)), '--db', join(dir, 'c.db')],
        {},
        45_000,
      );
      expect(ui.code).toBe(1);
      expect(ui.stderr).toContain(`UI port ${portOf(other)} on 127.0.0.1 is in use`);
    } finally {
      other.close();
    }
  }, 100_000);

  it('says so in --help', async () => {
    const help = await meshmove(['dev', '--help']);
    expect(help.stdout).toContain('meshmove worker --address');
    expect(help.stdout).toContain('system.enableActivityEagerExecution=true');
  });
});
