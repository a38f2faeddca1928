// Start the mesh twin on the field-report scenario (optionally changed) and give tests the real
// KubeAccess over HTTP plus the twin's control endpoints (faults, request counters).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startTwin } from '../../twin/index.js';
import { parseScenario } from '../../twin/scenario.js';
import { createKubeAccess, type KubeAccess } from '../../activities/kube/index.js';
import { parsePlanText } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';

export const SCENARIO = new URL('../../examples/twin/field-report.yaml', import.meta.url);
export const PLAN_FILE = new URL('../../examples/plans/field-report.yaml', import.meta.url);

export function fieldReportPlan(patch?: (p: Plan) => void): Plan {
  const p = parsePlanText(readFileSync(PLAN_FILE, 'utf8'), fileURLToPath(PLAN_FILE));
  patch?.(p);
  return p;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ScenarioDoc = any;

export interface TwinHandle {
  kube: KubeAccess;
  apiUrl: string;
  kubeconfigPath: string;
  close(): Promise<void>;
  /** GET/PUT/DELETE on the twin's control API (/_twin/...). */
  control<T = unknown>(method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, body?: unknown): Promise<T>;
  requests(): Promise<{
    byObject: Record<string, number>;
    applied: Record<string, number>;
    byVerbResource: Record<string, number>;
    faulted: Record<string, number>;
    faultedTotal: number;
    total: number;
  }>;
}

/** Start a twin; `change` edits the parsed scenario first (a pitfall variant). */
export async function startFieldReportTwin(
  change?: (s: ScenarioDoc) => void,
  kubeOptions: { attempts?: number } = {},
): Promise<TwinHandle> {
  const doc = parse(readFileSync(SCENARIO, 'utf8')) as ScenarioDoc;
  change?.(doc);
  // Random ports: test files run in parallel, each with its own twin.
  const twin = await startTwin(parseScenario(doc, 'field-report variant'), { randomPorts: true });
  const kube = createKubeAccess({
    kubeconfig: twin.kubeconfigPath,
    rateLimit: { qps: 500, burst: 500 },
    attempts: kubeOptions.attempts ?? 4,
    maxInProcessDelayMs: 3_000,
  });
  const control = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${twin.apiUrl}${p}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    kube,
    apiUrl: twin.apiUrl,
    kubeconfigPath: twin.kubeconfigPath,
    close: () => Promise.resolve(twin.close()),
    control,
    requests: () => control('GET', '/_twin/requests'),
  };
}
