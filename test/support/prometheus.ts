// A real Prometheus server for a test file: one per file (a start takes about a second), found or
// fetched by scripts/prometheus.sh (Debian's package, cached by version), as the Temporal CLI is by
// scripts/temporal-cli.sh. A missing binary fails the test with the fix, never skips it: a skipped
// referee is an analysis nobody checked.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { createLogger } from '../../logging/logger.js';
import { prometheusScript, startPrometheus, type PrometheusServer, type StartPrometheusOptions } from '../../lab/prometheus.js';

export type TestPrometheusOptions = Omit<StartPrometheusOptions, 'logger' | 'binary'>;

let binary: string | undefined;

/** The Prometheus binary scripts/prometheus.sh finds (or fetches, once); throws with its message. */
export function testPrometheusBinary(): string {
  if (binary) return binary;
  const script = prometheusScript();
  if (!script) throw new Error('scripts/prometheus.sh is missing from this checkout');
  try {
    binary = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 }).trim();
    return binary;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(
      `No Prometheus for the tests.\n${stderr}\nRun \`bash scripts/prometheus.sh\` (fetches Debian's prometheus package), or set MESHMOVE_PROMETHEUS.`,
      { cause: err },
    );
  }
}

/** Starts Prometheus; throws with `bash scripts/prometheus.sh` as the fix when there is none. */
export function startTestPrometheus(opts: TestPrometheusOptions = {}): Promise<PrometheusServer> {
  return startPrometheus({ ...opts, binary: testPrometheusBinary(), logger: createLogger('test-prometheus') });
}

/**
 * Starts one Prometheus for the calling test file in beforeAll and stops it in afterAll. `options`
 * is read in beforeAll, after the file's earlier beforeAll hooks (which start the targets it scrapes).
 * The returned function gives the running server inside tests.
 */
export function usePrometheus(options: () => TestPrometheusOptions = () => ({})): () => PrometheusServer {
  let server: PrometheusServer | undefined;
  beforeAll(async () => {
    server = await startTestPrometheus(options());
  });
  afterAll(async () => {
    await server?.close();
  });
  return () => {
    if (!server) throw new Error('Prometheus is not running: usePrometheus() starts it in beforeAll (see the error there)');
    return server;
  };
}
