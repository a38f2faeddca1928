// Scenario files: the shipped examples validate and match the field-report plan; errors name paths.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPlanFile } from './scenario-plan.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { loadScenario, parseScenario, parseScenarioYaml, rootCaIds, ScenarioError } from '../../twin/scenario.js';
import { generateScenario } from '../../scripts/gen-twin-scenario.js';

const dir = fileURLToPath(new URL('../../examples/twin/', import.meta.url));
const minimal = {
  apiVersion: 'meshmove.dev/v1alpha1',
  kind: 'TwinScenario',
  metadata: { name: 'x' },
  controlPlanes: [{ revision: 'default', namespace: 'istio-system', isDefault: true }],
};

describe('twin scenarios', () => {
  it.each(readdirSync(dir).filter((f) => f.endsWith('.yaml')))('%s validates', async (f) => {
    const s = await loadScenario(`${dir}${f}`);
    expect(s.controlPlanes.length).toBeGreaterThan(0);
  });

  it('field-report.yaml matches examples/plans/field-report.yaml', async () => {
    const s = await loadScenario(`${dir}field-report.yaml`);
    const plan = await loadPlanFile();
    expect(s.ports).toEqual({
      api: Number(new URL(plan.dns!.provider.type === 'webhook' ? plan.dns!.provider.url : '').port),
      dns: Number(plan.dns!.resolvers[0]!.split(':')[1]),
    });
    const src = s.controlPlanes.find((c) => c.revision === plan.source.revision)!;
    const tgt = s.controlPlanes.find((c) => c.revision === plan.target.revision)!;
    expect(src.namespace).toBe(plan.source.istiodNamespace);
    expect(tgt.namespace).toBe(plan.target.istiodNamespace);
    expect(tgt.discoverySelectors).toEqual([{ matchLabels: plan.target.discoveryLabels }]);
    for (const ref of [plan.source.gateway, plan.target.gateway]) {
      const g = s.gateways.find((x) => x.namespace === ref.namespace && x.name === ref.service)!;
      expect(g.labels).toMatchObject(ref.selector);
    }
    const planned = plan.waves.flatMap((w) => w.namespaces);
    expect(s.namespaces.map((n) => n.name).sort()).toEqual([...planned].sort());
    for (const n of s.namespaces) expect(n.labels).toEqual({ 'istio-injection': 'enabled' });
    expect(s.dns.records.map((r) => r.name).sort()).toEqual(plan.dns!.records.map((r) => r.name).sort());
    expect(s.dns.webhookSecretEnv).toBe(plan.dns!.provider.type === 'webhook' ? plan.dns!.provider.secretEnv : '');
    expect(s.sameRootCA).toBe(true);
    expect(istioInjectorWebhookConfiguration(tgt.revision, { isDefault: false, istiodNamespace: tgt.namespace }).metadata.name).toBe(
      'istio-sidecar-injector-istio-1-16-5-istio-1-16-5',
    );
  });

  it('defaults fill in and the root switch decides who shares a root', () => {
    const s = parseScenario({
      ...minimal,
      controlPlanes: [...minimal.controlPlanes, { revision: 'r2', namespace: 'r2', rootCA: 'other' }],
    });
    expect(s.controlPlanes[0]).toMatchObject({
      version: '1.16.5',
      outboundTrafficPolicy: 'ALLOW_ANY',
      rootCA: 'shared',
      discoverySelectors: [],
    });
    expect([...rootCaIds(s).values()]).toEqual(['shared', 'other']);
    expect([...rootCaIds({ ...s, sameRootCA: true }).values()]).toEqual(['shared', 'shared']);
    expect(new Set(rootCaIds({ ...s, sameRootCA: false }).values()).size).toBe(2);
  });

  it('reports every problem with its path', () => {
    const bad = {
      ...minimal,
      controlPlanes: [
        { revision: 'default', namespace: 'Istio_System', outboundTrafficPolicy: 'DENY' },
        { revision: 'default', namespace: 'b' },
      ],
      gateways: [{ name: 'gw', namespace: 'a', revision: 'nope', labels: {}, address: '10.0.0.1' }],
      dns: { records: [{ name: 'x.y', address: '127.0.0.1', gateway: 'a/gw' }] },
    };
    let err: ScenarioError | undefined;
    try {
      parseScenario(bad, 'bad.yaml');
    } catch (e) {
      err = e as ScenarioError;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    const paths = err!.problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'controlPlanes[0].namespace',
        'controlPlanes[0].outboundTrafficPolicy',
        'gateways[0].labels',
        'gateways[0].address',
        'dns.records[0]',
      ]),
    );
    expect(err!.message).toMatch(/^bad\.yaml: invalid twin scenario/);
    expect(() => parseScenarioYaml('a: [', 'x.yaml')).toThrow(/not valid YAML/);
  });

  it('cross-field checks: duplicate revisions, unknown gateway revision and DNS gateway', () => {
    const bad = {
      ...minimal,
      controlPlanes: [...minimal.controlPlanes, { revision: 'default', namespace: 'x' }],
      gateways: [{ name: 'gw', namespace: 'a', revision: 'nope', labels: { istio: 'gw' }, address: '127.0.0.10' }],
      dns: { records: [{ name: 'x.y', gateway: 'a/other' }] },
    };
    let err: ScenarioError | undefined;
    try {
      parseScenario(bad);
    } catch (e) {
      err = e as ScenarioError;
    }
    expect(err!.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['controlPlanes[1].revision', 'gateways[0].revision', 'dns.records[0].gateway']),
    );
  });

  it('generates a big scenario that validates', () => {
    const s = parseScenario(generateScenario({ namespaces: 300, deployments: 5 }));
    expect(s.namespaces).toHaveLength(300);
    expect(s.namespaces.every((n) => n.workloads.length === 5)).toBe(true);
    expect(s.sameRootCA).toBe(true);
  });
});
