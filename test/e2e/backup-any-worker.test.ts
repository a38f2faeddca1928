// End to end: a run whose activities are spread over two worker processes with different data
// directories and no shared disk. Worker A (its own cwd) runs until the before-migration backup is
// taken and the start gate is open, then is killed and its data directory removed (its machine is
// gone); worker B (another, empty data directory) does everything after: the drift checks, the
// migration, and the decommission backup, or the rollback after a rejected gate.
//   - backup.cluster (ConfigMaps in the cluster): the run completes (or rolls back) and
//     `meshmove backup verify cluster:NS/ID` (the CLI, with --kubeconfig/--context) passes.
//   - backup.location (a directory, relative: each worker's own data directory): the same split
//     fails as the issue says: B's drift check cannot read A's backup (non-retryable), the run stops.
// Real Temporal dev server, the twin over HTTP, workers with the real activities as deploy/rbac.yaml's
// ServiceAccount, the CLI as a separate process.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Twin } from '../../twin/index.js';
import { openBackupStore, readBackupObjects } from '../../activities/backup/index.js';
import { createKubeAccess } from '../../activities/kube/index.js';
import { startDevServer } from '../support/temporal.js';
import {
  Cli,
  E2E_TUNING,
  HOSTS,
  NAMESPACES,
  SOURCE_REV,
  STARTER,
  TERMINAL,
  approveWhenOpen,
  describeSeen,
  elapsed,
  killProcess,
  migratedLabels,
  namespaceLabels,
  podRevisions,
  resolveA,
  sourceGateway,
  startE2eTwin,
  targetGateway,
  tempDir,
  waitForRun,
  writePlan,
} from './support/stack.js';

const BACKUP_NS = 'meshmove-backups';
const WORKER = fileURLToPath(new URL('./support/worker-process.ts', import.meta.url));
// `--import tsx` resolves from the cwd: each worker runs in its own data directory, so give the path.
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

let env: TestWorkflowEnvironment;
let cli: Cli;
const twins: Twin[] = [];
const children = new Set<ChildProcess>();
const fileStart = Date.now();

beforeAll(async () => {
  env = await startDevServer();
  cli = new Cli(() => env.address);
});

// One task queue for the file: a test's workers must not pick up the next test's run (another twin).
afterEach(async () => {
  for (const c of [...children]) await killProcess(c);
});

afterAll(async () => {
  for (const c of [...children]) await killProcess(c);
  for (const t of twins) await t.close().catch(() => undefined);
  await env?.teardown();
  console.log(`[e2e] backup-any-worker.test.ts took ${elapsed(fileStart)}`);
});

/** A worker process (the real activities) whose current directory is its own data directory. */
function spawnWorker(twin: Twin, dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', TSX, WORKER], {
    cwd: dataDir,
    env: {
      ...process.env,
      MESHMOVE_E2E_ADDRESS: env.address,
      MESHMOVE_E2E_KUBECONFIG: twin.kubeconfigPath,
      MESHMOVE_DNS_SECRET: twin.dnsWebhookSecret,
      MESHMOVE_E2E_TUNING: JSON.stringify(E2E_TUNING),
      MESHMOVE_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('worker ready')) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`worker process exited (${code ?? signal}) before it was ready`)));
  });
}

/** What whoever installs meshmove does once (deploy/rbac.yaml creates it): the worker cannot. */
async function createBackupNamespace(twin: Twin): Promise<void> {
  const res = await fetch(`${twin.apiUrl}/api/v1/namespaces`, {
    method: 'POST',
    headers: { Authorization: 'Bearer meshmove-twin', 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: BACKUP_NS } }),
  });
  if (!res.ok) throw new Error(`create namespace ${BACKUP_NS}: ${res.status} ${await res.text()}`);
}

/**
 * Start the run with only worker A polling; once the backup is taken (the start gate is open),
 * kill A, remove its data directory, start B in another one, and approve start.
 */
async function splitRun(context: string, id: string, backup: Record<string, unknown>) {
  const twin = await startE2eTwin({ context });
  twins.push(twin);
  await createBackupNamespace(twin);
  const [dataA, dataB, planDir] = [await tempDir(`${id}-worker-a`), await tempDir(`${id}-worker-b`), await tempDir(`${id}-plan`)];
  const plan = await writePlan(twin, planDir, (p) => {
    p.backup = backup;
  });
  const a = await spawnWorker(twin, dataA);
  await cli.start(plan, id, STARTER);
  const atGate = await waitForRun(
    env.client,
    id,
    (s) => s.attention.gates.some((g) => g.id === 'start') || TERMINAL.includes(s.status.phase),
    'the start gate (backup taken by worker A)',
  );
  expect(atGate.status.backup, describeSeen(atGate)).toBeDefined();
  await killProcess(a);
  await rm(dataA, { recursive: true, force: true });
  const b = await spawnWorker(twin, dataB);
  await approveWhenOpen(cli, env.client, id, 'start');
  return { twin, b, backup: atGate.status.backup! };
}

/** `meshmove backup verify` as a user runs it on the location `meshmove status` printed. */
async function cliVerify(twin: Twin, location: string, digest: string) {
  return cli.run([
    'backup',
    'verify',
    location,
    '--kubeconfig',
    twin.kubeconfigPath,
    '--context',
    twin.context,
    '--digest',
    digest,
    '--json',
  ]);
}

describe('a run spread over two workers with no shared disk', () => {
  it('backup.cluster: A takes the backup, B migrates (drift checks), decommissions (its backup in the cluster too); the run completes; `meshmove backup verify` passes on both', async () => {
    const t0 = Date.now();
    const id = 'e2e-split-cluster-complete';
    const { twin, backup } = await splitRun('e2e-split-complete', id, { cluster: { namespace: BACKUP_NS } });
    expect(backup.location).toBe(`cluster:${BACKUP_NS}/${id}`);
    await approveWhenOpen(cli, env.client, id, 'dns-cutover');
    await approveWhenOpen(cli, env.client, id, 'decommission');
    const end = await waitForRun(
      env.client,
      id,
      (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0,
      'the end of the run',
    );
    expect(end.status.phase, describeSeen(end)).toBe('completed');
    for (const ns of NAMESPACES) expect(await namespaceLabels(twin, ns), ns).toEqual(migratedLabels(ns));
    for (const h of HOSTS) expect(await resolveA(twin, h), h).toEqual([targetGateway(twin).address]);

    const s = await cli.status(id);
    expect(s.backup).toMatchObject({ location: backup.location, manifestDigest: backup.manifestDigest });
    const r = await cliVerify(twin, s.backup!.location, s.backup!.manifestDigest);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, location: backup.location, objects: backup.objects, problems: [] });
    // The decommission backup (worker B) is in the cluster too; its location and digest are in the run's results.
    const decom = s.steps.find((x) => x.id === 'decommission');
    expect(decom?.state, JSON.stringify(decom)).toBe('succeeded');
    const human = await cli.run([
      'backup',
      'verify',
      `cluster:${BACKUP_NS}/${id}-decommission`,
      '--kubeconfig',
      twin.kubeconfigPath,
      '--context',
      twin.context,
    ]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`✓ backup cluster:${BACKUP_NS}/${id}-decommission: \\d+ object\\(s\\) match the manifest`));
    // A wrong digest is caught: the check can fail.
    const wrong = await cliVerify(twin, s.backup!.location, '0'.repeat(64));
    expect(wrong.code).toBe(1);
    console.log(`[e2e] split over two workers, cluster backup, completed: ${elapsed(t0)}`);
  }, 600_000);

  it('backup.cluster: B rolls the run back after a rejected gate; the cluster ends as backed up; `meshmove backup verify` passes', async () => {
    const t0 = Date.now();
    const id = 'e2e-split-cluster-rollback';
    const { twin, backup } = await splitRun('e2e-split-rollback', id, { cluster: { namespace: BACKUP_NS } });
    await waitForRun(env.client, id, (s) => s.attention.gates.some((g) => g.id === 'dns-cutover'), 'gate dns-cutover');
    const rejected = await cli.run(['reject', id, 'dns-cutover', '--reason', 'e2e: roll back on worker B'], STARTER);
    expect(rejected.code, rejected.stderr).toBe(0);
    const end = await waitForRun(
      env.client,
      id,
      (s) => TERMINAL.includes(s.status.phase) || s.attention.decisions.length > 0,
      'the rollback',
    );
    expect(end.status.phase, describeSeen(end)).toBe('rolled-back');
    // Every namespace's labels exactly as the backup in the cluster recorded them (read as any worker would).
    const kube = createKubeAccess({ kubeconfig: twin.kubeconfigPath, context: twin.context });
    const backedUp = await readBackupObjects(
      openBackupStore(backup.location, () => kube),
      (e) => e.kind === 'Namespace',
      backup.manifestDigest,
    );
    expect(backedUp.map((o) => o.entry.name).sort()).toEqual([...NAMESPACES].sort());
    for (const { entry, object } of backedUp) {
      expect(object.metadata?.labels?.['istio-injection'], entry.name).toBe('enabled');
      expect(await namespaceLabels(twin, entry.name), entry.name).toEqual(object.metadata?.labels);
      expect(
        Object.values(await podRevisions(twin, entry.name)).every((r) => r === SOURCE_REV),
        entry.name,
      ).toBe(true);
    }
    for (const h of HOSTS) expect(await resolveA(twin, h), h).toEqual([sourceGateway(twin).address]);
    const r = await cliVerify(twin, backup.location, backup.manifestDigest);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, objects: backup.objects });
    console.log(`[e2e] split over two workers, cluster backup, rolled back: ${elapsed(t0)}`);
  }, 600_000);

  it("backup.location (each worker's own directory): the same split fails as the issue describes: B cannot read the backup, non-retryably", async () => {
    const t0 = Date.now();
    const id = 'e2e-split-directory';
    const { backup } = await splitRun('e2e-split-directory', id, { location: './backups' });
    expect(backup.location).toMatch(/worker-a-.*\/backups\/e2e-split-directory$/);
    const stopped = await waitForRun(
      env.client,
      id,
      (s) => s.attention.decisions.length > 0 || TERMINAL.includes(s.status.phase),
      'the failure',
    );
    const s = await cli.status(id);
    expect(s.pendingDecision, describeSeen(stopped)).toBeTruthy();
    expect(s.pendingDecision!.error).toMatch(/no manifest in .*worker-a-.*backups\/e2e-split-directory/);
    // The first step on worker B that needs the backup: the drift check (BackupUnusable, non-retryable).
    expect(s.pendingDecision!.step).toBe('drift-check');
    // And `meshmove backup verify` on the location the run recorded finds nothing: exit 2.
    const r = await cli.run(['backup', 'verify', backup.location]);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toMatch(/no manifest in .*worker-a-/);
    console.log(
      `[e2e] split over two workers, directory backup: stopped at ${s.pendingDecision!.namespace}/${s.pendingDecision!.step} in ${elapsed(t0)}`,
    );
  }, 600_000);
});
