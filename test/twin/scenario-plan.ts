// The field-report plan, loaded for comparison with the field-report scenario.
import { fileURLToPath } from 'node:url';
import { loadPlan } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';

export async function loadPlanFile(): Promise<Plan> {
  return (await loadPlan(fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url)))).plan;
}
