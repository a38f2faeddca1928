// `meshmove plan init` on a generated 2,000-namespace twin (5 Deployments each): a valid plan with
// every namespace once. The time it takes is printed, not asserted.
import { afterAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTwin, type Twin } from '../../twin/index.js';
import { generateScenario } from '../../scripts/gen-twin-scenario.js';
import { parseScenario } from '../../twin/scenario.js';
import { loadPlan } from '../../plan/load.js';
import { plannedNamespaces } from '../../plan/schema.js';
import { meshmove } from '../support/cli.js';

const NAMESPACES = 2000;
let twin: Twin | undefined;
afterAll(async () => {
  await twin?.close();
});

it(`writes a valid plan for ${NAMESPACES} namespaces`, async () => {
  const t0 = Date.now();
  // Seeding 10,000 objects through the twin's admission webhooks has failed once with ECONNRESET
  // on a loaded machine (twin startup, not plan init): one more attempt.
  const start = () =>
    startTwin(parseScenario(generateScenario({ namespaces: NAMESPACES, deployments: 5 }), 'generated'), {
      randomPorts: true,
      readyTimeoutMs: 1_200_000,
    });
  twin = await start().catch(start);
  const started = Date.now();
  const out = join(mkdtempSync(join(tmpdir(), 'meshmove-plan-init-scale-')), 'plan.yaml');
  const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '-o', out], {}, 1_200_000);
  const done = Date.now();
  expect(r.code, r.stderr).toBe(0);
  const { plan } = await loadPlan(out);
  const ns = plannedNamespaces(plan);
  expect(ns.length).toBe(NAMESPACES);
  expect(new Set(ns).size).toBe(NAMESPACES);
  expect(plan.waves.every((w) => w.concurrency <= 50)).toBe(true);
  process.stdout.write(
    `\nplan init on ${NAMESPACES} namespaces x 5 deployments: twin start ${((started - t0) / 1000).toFixed(1)}s, ` +
      `plan init (CLI process, preflight included) ${((done - started) / 1000).toFixed(1)}s; ` +
      `waves ${plan.waves.map((w) => `${w.name}:${w.namespaces.length}@${w.concurrency}`).join(' ')}; ${r.stdout.split('\n')[1]?.trim() ?? ''}; ` +
      `${readFileSync(out, 'utf8').length} bytes\n`,
  );
}, 2_400_000);
