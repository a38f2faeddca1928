// Shared inputs for the preflight decision tables: the field report's plan and the webhook
// configurations Istio's charts render for its two control planes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePlanText } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';

const PLAN_FILE = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
export const plan: Plan = parsePlanText(readFileSync(PLAN_FILE, 'utf8'), PLAN_FILE);

export const sourceMwc = istioInjectorWebhookConfiguration('default', {
  isDefault: true,
  istiodNamespace: 'istio-system',
}) as unknown as V1MutatingWebhookConfiguration;
export const targetMwc = istioInjectorWebhookConfiguration('istio-1-16-5', {
  isDefault: false,
  istiodNamespace: 'istio-1-16-5',
}) as unknown as V1MutatingWebhookConfiguration;

export function withPlan(patch: (p: Plan) => void): Plan {
  const p = structuredClone(plan);
  patch(p);
  return p;
}
