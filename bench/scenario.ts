// The benchmarks' cluster and plan: the field report's two control planes and gateways (one shared
// root, the twin's default timings), with N generated namespaces of D single-replica Deployments,
// and a plan of one canary wave and one wave of the rest at a given concurrency, no gate but start.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadScenario, scenarioSchema, type Scenario } from '../twin/scenario.js';
import { validatePlan } from '../plan/load.js';
import type { Plan } from '../plan/schema.js';
import type { Twin } from '../twin/index.js';

export const repoFile = (rel: string): string => fileURLToPath(new URL(`../${rel}`, import.meta.url));

export interface BenchShape {
  namespaces: number;
  deployments: number;
  concurrency: number;
  /** The rest wave's prepareAhead (absent: the plan's default, none). */
  prepareAhead?: number;
  /** Twin timings; absent = the scenario schema's defaults. */
  timings?: Partial<Scenario['timings']>;
}

export function namespaceNames(n: number): string[] {
  const width = String(n).length;
  return Array.from({ length: n }, (_, i) => `ns-${String(i + 1).padStart(width, '0')}`);
}

/** A generated namespace's Deployments. */
export function deploymentNames(n: number): string[] {
  return Array.from({ length: n }, (_, j) => `app-${j + 1}`);
}

export async function benchScenario(shape: BenchShape): Promise<Scenario> {
  const base = await loadScenario(repoFile('examples/twin/field-report.yaml'));
  const defaults = scenarioSchema.shape.timings.parse(undefined);
  return {
    ...base,
    metadata: { name: `bench-${shape.namespaces}x${shape.deployments}` },
    timings: { ...defaults, ...shape.timings },
    // The field report's VirtualServices live in its four namespaces, which are not generated here.
    istioConfig: base.istioConfig.filter((o) => o.kind === 'Gateway'),
    dns: { ...base.dns, records: base.dns.records.map((r) => ({ ...r, ttl: 1 })) },
    namespaces: namespaceNames(shape.namespaces).map((name) => ({
      name,
      labels: { 'istio-injection': 'enabled' },
      workloads: deploymentNames(shape.deployments).map((workload) => ({
        kind: 'Deployment' as const,
        name: workload,
        replicas: 1,
        labels: {},
        service: { port: 8080 },
      })),
    })),
  };
}

/** The field report's plan on this twin: canary wave of one, then the rest at `concurrency`; only the start gate. */
export async function benchPlan(twin: Twin, shape: BenchShape, dir: string): Promise<Plan> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const doc = parse(await readFile(repoFile('examples/plans/field-report.yaml'), 'utf8')) as Record<string, any>;
  const names = namespaceNames(shape.namespaces);
  doc.metadata.name = `bench-${shape.namespaces}`;
  doc.cluster = { context: twin.context };
  doc.waves = [
    { name: 'canary', concurrency: 1, namespaces: names.slice(0, 1) },
    ...(names.length > 1
      ? [
          {
            name: 'rest',
            concurrency: shape.concurrency,
            ...(shape.prepareAhead ? { prepareAhead: shape.prepareAhead } : {}),
            namespaces: names.slice(1),
          },
        ]
      : []),
  ];
  // kubectl rollout restart deployment -n NS restarts all of them at once: so does meshmove here.
  doc.restart.maxConcurrent = shape.deployments;
  doc.restart.timeout = '5m';
  // Plain names: the benchmark measures the migration, not the signing of a decision.
  doc.identity = 'unverified';
  doc.approvers = ['alice', 'bob'];
  doc.gates = { start: true, namespace: false, dnsCutover: false, decommission: false, expiresAfter: '24h' };
  doc.verification = { crossNamespace: [], gateway: [], metricsWindow: '1s' };
  doc.dns.provider.url = `${twin.apiUrl}/_twin/dns`;
  doc.dns.resolvers = [`${twin.dns.host}:${twin.dns.port}`];
  doc.dns.ttl = '1s';
  doc.dns.stabilityWindow = '1s';
  doc.backup = { location: join(dir, 'backups') };
  const plan = validatePlan(doc, 'bench plan');
  await writeFile(join(dir, 'plan.json'), JSON.stringify(doc, null, 2));
  return plan;
}

/** A user bound to every verb on everything (the kubectl script's "admin" kubeconfig, but with its own token so its requests are counted apart). */
export const SCRIPT_USER = 'kubectl-script';
export const SCRIPT_RBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: bench-admin }
rules:
  - { apiGroups: ["*"], resources: ["*"], verbs: ["*"] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: bench-admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bench-admin }
subjects:
  - { kind: User, name: ${SCRIPT_USER} }
`;
