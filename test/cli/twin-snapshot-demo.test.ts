// The snapshot is a scenario the product rehearses on: `meshmove demo --scenario <snapshot>` of the
// field report's twin (snapshotted with the field report's plan, so the twin's DNS webhook and
// resolver are where that plan expects them) runs the whole migration to completed, exit 0.
// Takes about two minutes; uses the demo's fixed ports (17080, 15353, 18080 on 127.0.0.10 and .20,
// 17233, 19090).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTwin, type Twin } from '../../twin/index.js';
import { parseScenarioYaml } from '../../twin/scenario.js';
import { meshmove } from '../support/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let twin: Twin | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshmove-snapshot-demo-'));
  // API and DNS anywhere (the demo's twin takes the plan's ports after this one is gone); the two
  // gateways on one port, as in the field report's cluster: the demo's clients reach both on it.
  twin = await startTwin(join(root, 'examples/twin/field-report.yaml'), {
    randomPorts: true,
    gatewayPorts: { 'istio-system/istio-ingressgateway': 18080, 'istio-1-16-5/istio-ingressgateway': 18080 },
  });
});

afterAll(async () => {
  await twin?.close();
  await rm(dir, { recursive: true, force: true });
});

it("meshmove demo completes on the snapshot of the field report's twin", async () => {
  const snapshot = join(dir, 'snapshot.yaml');
  const snap = await meshmove([
    'twin',
    'snapshot',
    '--kubeconfig',
    twin!.kubeconfigPath,
    '--plan',
    join(root, 'examples/plans/field-report.yaml'),
    '-o',
    snapshot,
  ]);
  expect(snap.code, snap.stderr).toBe(0);
  const s = parseScenarioYaml(await readFile(snapshot, 'utf8'), snapshot);
  expect(s.ports).toEqual({ api: 17080, dns: 15353 });
  expect(s.gateways.map((g) => g.port)).toEqual([18080, 18080]);
  expect(s.dns.records.map((r) => r.gateway)).toEqual(['istio-system/istio-ingressgateway', 'istio-system/istio-ingressgateway']);
  await twin!.close();
  twin = undefined;

  const demo = await meshmove(['demo', '--scenario', snapshot, '--fresh', '--auto-approve', '--data-dir', join(dir, 'demo')], {}, 420_000);
  expect(demo.code, `${demo.stdout}\n${demo.stderr}`).toBe(0);
  expect(demo.stdout).toMatch(/meshmove-demo: completed/);
  // The closing summary's line (the progress display also says "namespaces migrated: 4/4").
  const migrated = [...demo.stdout.matchAll(/namespaces migrated: (.*)/g)].at(-1)?.[1] ?? '';
  expect(migrated.split(', ').sort()).toEqual(['frontend', 'inventory', 'orders', 'payments']);
}, 480_000);
