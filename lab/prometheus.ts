// A real Prometheus server on loopback, for the analysis tests and `meshmove demo`: meshmove's
// analysis queries Prometheus's HTTP API, and a referee that is the real server pins what that API
// answers (result types, NaN and +Inf, error types) instead of our idea of it.
// The binary comes from scripts/prometheus.sh (found, or fetched from the Debian archive and cached by
// version); this file only looks where that script puts it (the tests run the script first, the
// demo says to).
// Ready takes about 0.3 s; the first scrape comes about 5 s later whatever the intervals, because
// Prometheus 2.42's discovery manager passes new targets on at most every 5 s (not configurable).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Logger } from '../logging/logger.js';
import { freePort } from './ports.js';
import { logTail, startProcess, waitUntil, type LabProcess } from './processes.js';

/** The oldest Prometheus whose API and flags this file and scripts/prometheus.sh rely on. */
export const MIN_PROMETHEUS_VERSION = [2, 42] as const;

/** scripts/prometheus.sh: beside lab/ in a checkout, two levels up from dist/lab/ when built. */
export function prometheusScript(): string | undefined {
  return ['../scripts/prometheus.sh', '../../scripts/prometheus.sh']
    .map((p) => fileURLToPath(new URL(p, import.meta.url)))
    .find((p) => existsSync(p));
}

function fix(): string {
  const script = prometheusScript();
  const where = script && path.relative(process.cwd(), script) !== 'scripts/prometheus.sh' ? ` (here: bash ${script})` : '';
  return `Run \`bash scripts/prometheus.sh\`${where}: it fetches Debian's prometheus package into that cache without installing it. Or set MESHMOVE_PROMETHEUS to a prometheus binary (>= 2.42).`;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** "prometheus, version 2.42.0+ds (branch: ...)" → [2, 42]; undefined when it does not run. */
function versionOf(binary: string): [number, number] | undefined {
  try {
    const out = execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    const m = /^prometheus, version (\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2])] : undefined;
  } catch {
    return undefined;
  }
}

function recentEnough(v: [number, number]): boolean {
  const [major, minor] = MIN_PROMETHEUS_VERSION;
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

/** Where scripts/prometheus.sh caches Debian's binary: one directory per package version. */
export function prometheusCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'meshmove', 'bin');
}

/** Debian versions as the directory names carry them, compared the way `sort -V` would (near enough). */
function compareVersionDirs(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * The Prometheus binary to run: $MESHMOVE_PROMETHEUS (must be executable), else `prometheus` on PATH
 * if it is >= 2.42, else the newest copy scripts/prometheus.sh cached. Throws with the fix otherwise.
 */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MESHMOVE_PROMETHEUS;
  if (fromEnv) {
    if (isExecutableFile(fromEnv)) return fromEnv;
    throw new Error(`MESHMOVE_PROMETHEUS=${fromEnv} is not an executable file. Unset it or point it at a prometheus binary (>= 2.42).`);
  }
  const tooOld: string[] = [];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'prometheus');
    if (!isExecutableFile(candidate)) continue;
    const v = versionOf(candidate);
    if (v && recentEnough(v)) return candidate;
    tooOld.push(`${candidate} (${v ? v.join('.') : 'does not run'})`);
    break; // the first on PATH is the one a shell would run; an older one behind it is not looked for
  }
  const cache = prometheusCacheDir(env);
  let cached: string[] = [];
  try {
    cached = readdirSync(cache)
      .filter((d) => d.startsWith('prometheus-'))
      .sort(compareVersionDirs)
      .reverse();
  } catch {
    // no cache yet
  }
  for (const d of cached) {
    const candidate = path.join(cache, d, 'prometheus');
    if (isExecutableFile(candidate)) return candidate;
  }
  const looked = [
    'MESHMOVE_PROMETHEUS (unset)',
    tooOld.length ? `PATH: ${tooOld.join(', ')} is older than 2.42` : '`prometheus` on PATH (none)',
    `${cache}/prometheus-<version>/prometheus (none)`,
  ];
  throw new Error(`No Prometheus server binary found. Looked at: ${looked.join('; ')}.\n${fix()}`);
}

export interface PrometheusHttpSd {
  /** An http_sd endpoint: answers `[{"targets": ["host:port"], "labels": {...}}]`. */
  url: string;
  refreshIntervalMs: number;
}

export interface PrometheusStaticTarget {
  /** host:port */
  target: string;
  metricsPath: string;
  labels: Record<string, string>;
}

export interface StartPrometheusOptions {
  /** Default: findPrometheus(). */
  binary?: string;
  /** Global scrape and rule-evaluation interval; default 1000. */
  scrapeIntervalMs?: number;
  /** One scrape job per endpoint (jobs `http-sd-0`, `http-sd-1`, ...). */
  httpSd?: readonly PrometheusHttpSd[];
  /** One scrape job per target (jobs `static-0`, `static-1`, ...). */
  staticTargets?: readonly PrometheusStaticTarget[];
  logger: Logger;
  /** How long to wait for GET /-/ready = 200; default 30 000. */
  readyTimeoutMs?: number;
  /** Listen on this loopback port (the demo's, so a resumed run finds it again); default a free one. */
  port?: number;
  /** Keep the config and the TSDB here, and leave them on close (the demo's data dir); default a temp dir, removed. */
  dir?: string;
}

export interface PrometheusServer {
  /** http://127.0.0.1:<port> */
  url: string;
  configPath: string;
  dataDir: string;
  logFile: string;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

/** Prometheus durations take ms: "1500ms" is valid. */
function duration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`a Prometheus duration must be a positive whole number of ms, not ${ms}`);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The generated prometheus.yml (exported for its test). */
export function prometheusConfig(opts: Pick<StartPrometheusOptions, 'scrapeIntervalMs' | 'httpSd' | 'staticTargets'>): string {
  const interval = duration(opts.scrapeIntervalMs ?? 1000);
  const jobs: Record<string, unknown>[] = [];
  (opts.httpSd ?? []).forEach((sd, i) => {
    jobs.push({ job_name: `http-sd-${i}`, http_sd_configs: [{ url: sd.url, refresh_interval: duration(sd.refreshIntervalMs) }] });
  });
  (opts.staticTargets ?? []).forEach((t, i) => {
    jobs.push({ job_name: `static-${i}`, metrics_path: t.metricsPath, static_configs: [{ targets: [t.target], labels: t.labels }] });
  });
  return stringify({
    // The default scrape_timeout (10 s) longer than a short interval is a config error.
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: jobs,
  });
}

async function isReady(url: string): Promise<boolean> {
  const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.status === 200;
}

/**
 * Starts Prometheus on a free loopback port with a generated config and a temporary TSDB, and
 * waits until it is ready. A process that exits first, or never becomes ready, fails with its log tail.
 */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusServer> {
  const binary = opts.binary ?? findPrometheus();
  const keep = opts.dir !== undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'meshmove-prometheus-'));
  const removeDir = () => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  if (keep) mkdirSync(dir, { recursive: true });
  const configPath = path.join(dir, 'prometheus.yml');
  const dataDir = path.join(dir, 'data');
  const started = Date.now();
  let proc: LabProcess | undefined;
  try {
    writeFileSync(configPath, prometheusConfig(opts));
    mkdirSync(dataDir, { recursive: true });
    // A port reserved by freePort() can still be taken before the server binds it: try another, twice.
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await freePort());
      const url = `http://127.0.0.1:${port}`;
      proc = startProcess({
        name: attempt === 1 ? 'prometheus' : `prometheus-${attempt}`,
        command: binary,
        args: [
          `--config.file=${configPath}`,
          `--storage.tsdb.path=${dataDir}`,
          '--storage.tsdb.retention.time=1h',
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        dir,
      });
      try {
        await waitUntil(proc, `GET ${url}/-/ready answers 200`, () => isReady(url), opts.readyTimeoutMs ?? 30_000);
      } catch (err) {
        await proc.stop();
        if (opts.port === undefined && attempt < 3 && /address already in use/.test(logTail(proc.logFile, 10))) continue;
        throw err;
      }
      opts.logger.info({ url, pid: proc.pid, ms: Date.now() - started }, 'prometheus ready');
      const running = proc;
      let closed: Promise<void> | undefined;
      return {
        url,
        configPath,
        dataDir,
        logFile: running.logFile,
        close() {
          closed ??= running.stop().finally(removeDir);
          return closed;
        },
      };
    }
  } catch (err) {
    removeDir();
    throw err;
  }
}
