// Activities that run in another process (a worker we can SIGKILL) while the fake cluster they act
// on stays in the test process: each call is an HTTP request to the test, heartbeating meanwhile.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { MigrationActivities } from '../../activities/contract.js';
import type { FakeCluster } from './fake-activities.js';

export async function serveFakeCluster(cluster: () => FakeCluster): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const name = req.url!.slice(1);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const args = JSON.parse(Buffer.concat(chunks).toString() || '[]') as unknown[];
      const fn = (cluster().activities() as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name];
      if (!fn) {
        res.writeHead(404).end();
        return;
      }
      fn(...args).then(
        (value) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value })),
        (err: Error) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message })),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export function rpcActivities(url: string, names: string[]): MigrationActivities {
  return Object.fromEntries(
    names.map((name) => [
      name,
      async (...args: unknown[]) => {
        const beat = setInterval(() => Context.current().heartbeat(), 300);
        try {
          const res = await fetch(`${url}/${name}`, { method: 'POST', body: JSON.stringify(args) });
          const body = (await res.json()) as { value?: unknown; error?: string };
          if (body.error) throw ApplicationFailure.nonRetryable(body.error, 'CheckFailed');
          return body.value;
        } finally {
          clearInterval(beat);
        }
      },
    ]),
  ) as unknown as MigrationActivities;
}
