// `meshmove plan init` as a user runs it: the CLI in its own process, against the twin over HTTP.
// On the field-report cluster it proposes the example plan in what matters, and preflight over it
// gives the same results as over the example; ambiguous or absent revisions are clear errors that
// write nothing.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startTwin, type Twin } from '../../twin/index.js';
import { parseScenario } from '../../twin/scenario.js';
import { loadPlan } from '../../plan/load.js';
import { plannedNamespaces } from '../../plan/schema.js';
import type { PreflightReport } from '../../activities/contract.js';
import { meshmove } from '../support/cli.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
const UPGRADE_SCENARIO = fileURLToPath(new URL('../../examples/twin/revision-upgrade.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'meshmove-plan-init-'));

describe('plan init on the field-report twin', () => {
  let twin: Twin;
  beforeAll(async () => {
    twin = await startTwin(SCENARIO, { randomPorts: true });
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('writes a plan equivalent to the example, and preflight over it matches preflight over the example', async () => {
    const out = join(dir, 'field-report.yaml');
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /wrote .*default \(istio-system\) → istio-1-16-5 \(istio-1-16-5\), 4 namespace\(s\) in 3 wave\(s\), 2 DNS record\(s\)/,
    );

    const { plan } = await loadPlan(out);
    const { plan: example } = await loadPlan(EXAMPLE);
    expect(plan.source).toEqual(example.source);
    expect(plan.target).toEqual(example.target);
    expect(plan.target.discoveryLabels).toEqual({ usergroup: 'istio-1-16-5' });
    expect(plan.source.gateway.selector).toEqual({ istio: 'ingressgateway' });
    expect(plan.target.gateway.selector).toEqual({ istio: 'oss-public-api-ingressgateway' });
    const ns = plannedNamespaces(plan);
    expect(ns.length).toBe(4);
    expect([...ns].sort()).toEqual([...plannedNamespaces(example)].sort());
    expect(plan.dns!.records.map((d) => d.name).sort()).toEqual(example.dns!.records.map((d) => d.name).sort());
    expect(plan.gates).toEqual(example.gates);
    expect(plan.backup.location).toBe('./.meshmove/backups');
    expect(plan.cluster.context).toBe(twin.context);
    // Valid but safe: signed identity, two approvers whose keys nobody holds.
    expect(plan.identity).toBe('signed');
    expect(plan.approvers.map((a) => a.name)).toEqual(['change-me-1', 'change-me-2']);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/# CHANGE-ME: who may start the run/);
    expect(text).toMatch(/resolvers: \[resolver\.change-me\.invalid\] # CHANGE-ME/);
    expect(text).toMatch(/# Preflight over this plan when it was written: 0 blocking, 2 warning\(s\)/);
    // Each non-pass finding is a comment near its field.
    expect(text).toMatch(/# preflight ! injection\/istio-injection:[\s\S]*\nwaves:/);
    expect(text).toMatch(/# preflight ! discovery\/istio-1-16-5:[\s\S]*\n {2}discoveryLabels: \{usergroup: istio-1-16-5\}/);
    process.stdout.write(`\n----- plan written on the field-report twin -----\n${text}\n-----\n`);

    const pf = async (file: string) => {
      const res = await meshmove(['preflight', '--kubeconfig', twin.kubeconfigPath, '--json', file]);
      expect(res.code, res.stderr).toBe(0);
      const report = JSON.parse(res.stdout) as PreflightReport;
      return Object.fromEntries(report.findings.map((f) => [f.check, f.status]));
    };
    const [mine, theirs] = await Promise.all([pf(out), pf(EXAMPLE)]);
    expect(mine).toEqual(theirs);
    expect(Object.values(mine).filter((s) => s === 'block')).toEqual([]);
  });

  it('--json prints a summary: control planes, gateways, namespaces by injecting revision, the plan', async () => {
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '--json', '--no-preflight']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {
      source: { revision: string };
      target: { revision: string };
      controlPlanes: {
        revision: string;
        namespace: string;
        version?: string;
        injectedNamespaces: number;
        discoverySelectors: unknown[];
        outboundTrafficPolicy?: string;
        root?: string;
      }[];
      gateways: { namespace: string; role?: string; service?: { address?: string } }[];
      namespaces: { byInjectingRevision: Record<string, string[]> };
      plan: { waves: { namespaces: string[] }[] };
      preflight: unknown;
    };
    expect(s.source.revision).toBe('default');
    expect(s.target.revision).toBe('istio-1-16-5');
    expect(s.controlPlanes.map((c) => [c.revision, c.namespace, c.version, c.injectedNamespaces, c.outboundTrafficPolicy])).toEqual([
      ['istio-1-16-5', 'istio-1-16-5', '1.16.5', 0, 'ALLOW_ANY'],
      ['default', 'istio-system', '1.14.6', 4, 'ALLOW_ANY'],
    ]);
    expect(s.controlPlanes.every((c) => typeof c.root === 'string')).toBe(true);
    expect(s.gateways.map((g) => [g.namespace, g.role, g.service?.address])).toEqual([
      ['istio-1-16-5', 'target', '127.0.0.20'],
      ['istio-system', 'source', '127.0.0.10'],
    ]);
    expect(s.namespaces.byInjectingRevision.default!.sort()).toEqual(['frontend', 'inventory', 'orders', 'payments']);
    expect(s.plan.waves.flatMap((w) => w.namespaces).sort()).toEqual(['frontend', 'inventory', 'orders', 'payments']);
    expect(s.preflight).toBeNull();
  });

  it('an unknown --source is bad input (exit 2) naming the revisions found; nothing written', async () => {
    const out = join(dir, 'unknown.yaml');
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '--source', 'istio-1-20', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--source istio-1-20: no control plane of that revision; control planes found: istio-1-16-5 \(istiod in istio-1-16-5, injects 0 namespace\(s\)\); default \(istiod in istio-system, injects 4 namespace\(s\)\)/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses to overwrite an existing file without --force (exit 2), and leaves it as it was', async () => {
    const out = join(dir, 'exists.yaml');
    writeFileSync(out, 'mine\n');
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists: .*--force/);
    expect(readFileSync(out, 'utf8')).toBe('mine\n');
  });
});

describe('plan init on a revision upgrade: one gateway, namespaces on a revision tag', () => {
  let twin: Twin;
  beforeAll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const doc = parse(readFileSync(UPGRADE_SCENARIO, 'utf8')) as any;
    doc.controlPlanes[0].tags = ['prod-stable'];
    for (const n of doc.namespaces) n.labels = { 'istio.io/rev': 'prod-stable' };
    twin = await startTwin(parseScenario(doc, 'revision upgrade on a tag'), { randomPorts: true });
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('proposes the gateway moved in place, no DNS, and the tag; preflight over it blocks nothing', async () => {
    const out = join(dir, 'revision-upgrade.yaml');
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /istio-1-15-7 \(istio-system\) → istio-1-16-5 \(istio-1-16-5\), 4 namespace\(s\) in 3 wave\(s\), no DNS cutover/,
    );
    const { plan } = await loadPlan(out);
    expect(plan.target.gatewayMove).toBe('in-place');
    expect(plan.target.gateway).toEqual(plan.source.gateway);
    expect(plan.source.gateway).toMatchObject({ namespace: 'istio-system', service: 'istio-ingressgateway' });
    expect(plan.dns).toBeUndefined();
    expect(plan.target.tag).toBe('prod-stable');
    expect(plan.gates.gatewayMove).toBe(true);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/# in-place: istio-1-16-5 has no ingress gateway of its own/);
    expect(text).toMatch(/# 4 of the planned namespaces select revision tag prod-stable/);
    expect(text).toMatch(/^dns: none # none: the gateway moves in place/m);
    process.stdout.write(`\n----- plan written on the revision-upgrade twin -----\n${text}\n-----\n`);

    const res = await meshmove(['preflight', '--kubeconfig', twin.kubeconfigPath, '--json', out]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as PreflightReport;
    expect(report.findings.filter((f) => f.status === 'block')).toEqual([]);
    expect(report.findings.find((f) => f.check === 'cutover/tag')?.status).toBe('pass');
    expect(report.findings.find((f) => f.check === 'cutover/gateway')?.status).toBe('pass');
  });
});

describe('plan init on clusters where the revisions cannot be told', () => {
  let twin: Twin | undefined;
  afterEach(async () => {
    await twin?.close();
    twin = undefined;
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function variant(change: (s: any) => void): Promise<Twin> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const doc = parse(readFileSync(SCENARIO, 'utf8')) as any;
    change(doc);
    return startTwin(parseScenario(doc, 'plan-init variant'), { randomPorts: true });
  }

  it('two control planes injecting equally (none): exit 2, both named, --source/--target suggested, nothing written', async () => {
    twin = await variant((s) => {
      for (const n of s.namespaces) n.labels = {};
    });
    const out = join(dir, 'tie.yaml');
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /both control planes inject 0 namespace\(s\): cannot tell the source from the target; control planes found: istio-1-16-5 .*default .*--source REV --target REV/,
    );
    expect(existsSync(out)).toBe(false);
    // The flags settle it.
    const ok = await meshmove([
      'plan',
      'init',
      '--kubeconfig',
      twin.kubeconfigPath,
      '--source',
      'default',
      '--target',
      'istio-1-16-5',
      '--no-preflight',
      '-o',
      out,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    const { plan } = await loadPlan(out);
    expect(plan.waves).toEqual([{ name: 'canary', concurrency: 1, namespaces: ['change-me'] }]);
    expect(readFileSync(out, 'utf8')).toMatch(/CHANGE-ME: default injects no namespace today/);
  });

  it('one control plane only: exit 2, nothing written', async () => {
    twin = await variant((s) => {
      s.controlPlanes = s.controlPlanes.filter((c: { revision: string }) => c.revision === 'default');
      s.gateways = s.gateways.filter((g: { revision: string }) => g.revision === 'default');
      s.istioConfig = s.istioConfig.filter((o: { metadata: { namespace: string } }) => o.metadata.namespace !== 'istio-1-16-5');
    });
    const out = join(dir, 'one.yaml');
    const r = await meshmove(['plan', 'init', '--kubeconfig', twin.kubeconfigPath, '-o', out, '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 2 });
    expect(r.stderr).toMatch(
      /a migration needs two control planes, the source and the target; control planes found: default \(istiod in istio-system, injects 4 namespace\(s\)\)/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
