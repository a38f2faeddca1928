// A real Temporal server for tests: the Temporal CLI dev server, found or built by
// scripts/temporal-cli.sh (no internet needed). A missing server fails the test with instructions.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, vi } from 'vitest';
import { installRuntime } from '../../worker/worker.js';
import { dynamicConfigArgs } from '../../client/local-temporal.js';
import { workflowsPath } from '../../worker/bundle.js';
import { TASK_QUEUE, statusQuery, type RunStatus } from '../../workflows/messages.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

const script = fileURLToPath(new URL('../../scripts/temporal-cli.sh', import.meta.url));

export function temporalCliPath(): string {
  try {
    return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(
      `No Temporal CLI for the tests' dev server.\n${stderr}\n` +
        'Run `bash scripts/temporal-cli.sh` (builds it with Go >= 1.25 from the Go module proxy), or set TEMPORAL_CLI_PATH.',
      { cause: err },
    );
  }
}

export interface DevServerOptions {
  dbFilename?: string;
  port?: number;
  /** Register the Meshmove* search attributes, as `meshmove dev` does (default); false: a team's server without them. */
  searchAttributes?: boolean;
  /** Server dynamic config, KEY → value (default: the server's own defaults). */
  dynamicConfig?: Readonly<Record<string, unknown>>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  installRuntime();
  const start = () =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCliPath() },
        ip: '127.0.0.1',
        ...(opts.dbFilename ? { dbFilename: opts.dbFilename } : {}),
        ...(opts.port ? { port: opts.port } : {}),
        extraArgs: ['--log-level', 'error', ...dynamicConfigArgs(opts.dynamicConfig ?? {})],
        ...(opts.searchAttributes === false ? {} : { searchAttributes: [...SEARCH_ATTRIBUTES] }),
      },
    });
  // The SDK's core waits a fixed 5 s for the dev server to answer (sdk-core ephemeral_server), which
  // a 2-core machine running several test files at once sometimes exceeds: start it again, at most
  // twice more, on that error only.
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/did not start within/.test((err as Error).message)) throw err;
      process.stderr.write(`[test] the Temporal dev server did not answer within the SDK's 5 s (attempt ${attempt}); starting it again\n`);
    }
  }
}

let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundle the workflows once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundled ??= bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
  return bundled;
}

/**
 * A dev server and one worker on TASK_QUEUE for a whole test file: started before its first test
 * and stopped after its last. `activities` is called once, when the worker is made; tests read `env`.
 */
export function useDevServerWorker(activities: () => NonNullable<WorkerOptions['activities']>): { readonly env: TestWorkflowEnvironment } {
  let env: TestWorkflowEnvironment | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  beforeAll(async () => {
    env = await startDevServer();
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: await workflowBundle(),
      activities: activities(),
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });
  return {
    get env(): TestWorkflowEnvironment {
      if (!env) throw new Error('the dev server starts in beforeAll: read env in a test or a hook');
      return env;
    },
  };
}

/**
 * The workflow's status once `predicate` holds (vi.waitFor over the status query, every 100 ms);
 * a query that fails (not started yet, a worker restarting) is asked again. A timeout fails with
 * the last status seen, or the query's last error.
 */
export function waitForStatus(handle: WorkflowHandle, predicate: (s: RunStatus) => boolean, timeoutMs = 60_000): Promise<RunStatus> {
  return vi.waitFor(
    async () => {
      const status = await handle.query(statusQuery);
      if (!predicate(status)) throw new Error(`timed out waiting for status; last: ${JSON.stringify(status).slice(0, 3000)}`);
      return status;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

/** The reason an Update was refused with (fails the test if it was accepted). */
export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    return (err.cause as Error).message;
  }
  throw new Error('the update was accepted');
}
