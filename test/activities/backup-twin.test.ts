// The before-migration backup against the twin: written, verified, idempotent per run id (a rerun,
// also after a crash mid-write, completes the same backup), tamper-evident, and read-only for the
// cluster.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { runBackup, verifyBackup, readManifest } from '../../activities/backup/index.js';
import type { ClientKubeAccess } from '../../activities/kube/index.js';
import { fieldReportPlan, startFieldReportTwin, type TwinHandle } from './preflight-twin-fixture.js';

let twin: TwinHandle;
beforeAll(async () => {
  twin = await startFieldReportTwin();
});
afterAll(async () => {
  await twin.close();
});

const location = () => mkdtempSync(join(tmpdir(), 'meshmove-backups-'));

describe('backup on the field-report twin', () => {
  it('writes one file per object and a manifest that verifies; nothing secret, nothing written to the cluster', async () => {
    const loc = location();
    const plan = fieldReportPlan((p) => {
      p.backup.location = loc;
    });
    const ref = await runBackup(twin.kube, plan, 'run-1');
    expect(ref.location).toBe(join(loc, 'run-1'));
    expect(ref.manifestDigest).toMatch(/^[0-9a-f]{64}$/);
    const { manifest } = (await readManifest(ref.location))!;
    expect(manifest.objects.length).toBe(ref.objects);
    const kinds = new Set(manifest.objects.map((o) => o.kind));
    for (const k of [
      'Namespace',
      'MutatingWebhookConfiguration',
      'CustomResourceDefinition',
      'ConfigMap',
      'Deployment',
      'VirtualService',
      'Gateway',
    ])
      expect(kinds, k).toContain(k);
    expect(kinds).not.toContain('Secret');
    const nss = manifest.objects
      .filter((o) => o.kind === 'Namespace')
      .map((o) => o.name)
      .sort();
    expect(nss).toEqual(['frontend', 'inventory', 'orders', 'payments']);
    // Both mesh configs and both gateways' Gateway objects.
    expect(
      manifest.objects
        .filter((o) => o.kind === 'ConfigMap')
        .map((o) => `${o.namespace}/${o.name}`)
        .sort(),
    ).toEqual(['istio-1-16-5/istio-istio-1-16-5', 'istio-system/istio']);
    const orders = JSON.parse(readFileSync(join(ref.location, 'objects', 'core.Namespace', '_cluster', 'orders.json'), 'utf8'));
    expect(orders.metadata.labels['istio-injection']).toBe('enabled');
    expect(orders.metadata.managedFields).toBeUndefined();
    expect((await verifyBackup(ref.location, ref.manifestDigest)).ok).toBe(true);
    // Only reads left this client (the twin's own controllers do write, so its counters can't tell).
    expect(Object.keys((twin.kube as ClientKubeAccess).requestCounts).sort()).toEqual(['get', 'list']);
  });

  it('a rerun for the same run id returns the same backup; a crashed partial one is completed in place', async () => {
    const loc = location();
    const plan = fieldReportPlan((p) => {
      p.backup.location = loc;
    });
    const first = await runBackup(twin.kube, plan, 'run-2');
    const second = await runBackup(twin.kube, plan, 'run-2');
    expect(second).toEqual(first);
    expect(readdirSync(loc)).toEqual(['run-2']);

    // A crash after some files but before the manifest: leftovers, no manifest.
    const dir = join(loc, 'run-3');
    mkdirSync(join(dir, 'objects', 'core.Namespace', '_cluster'), { recursive: true });
    writeFileSync(join(dir, 'objects', 'core.Namespace', '_cluster', 'stale-leftover.json'), '{}');
    const completed = await runBackup(twin.kube, plan, 'run-3');
    expect(completed.location).toBe(dir);
    expect(existsSync(join(dir, 'objects', 'core.Namespace', '_cluster', 'stale-leftover.json'))).toBe(false);
    expect((await verifyBackup(dir)).ok).toBe(true);
    expect(completed.objects).toBe(first.objects);
  });

  it('tampering is detected by verify, and a rerun refuses to paper over it', async () => {
    const loc = location();
    const plan = fieldReportPlan((p) => {
      p.backup.location = loc;
    });
    const ref = await runBackup(twin.kube, plan, 'run-4');
    const file = join(ref.location, 'objects', 'core.Namespace', '_cluster', 'payments.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('enabled', 'disabled'));
    writeFileSync(join(ref.location, 'objects', 'extra.json'), '{}');
    const v = await verifyBackup(ref.location, ref.manifestDigest);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/objects\/core.Namespace\/_cluster\/payments.json: sha256 [0-9a-f]{64}, manifest says/);
    expect(v.problems.join('\n')).toMatch(/objects\/extra.json: not in the manifest/);
    await expect(runBackup(twin.kube, plan, 'run-4')).rejects.toSatisfy(
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'BackupCorrupt' && e.nonRetryable === true,
    );
  });
});
