// The field-report plan, loaded for comparison with the field-report scenario.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { planSchema, type Plan } from '../../plan/schema.js';

export async function loadPlanFile(): Promise<Plan> {
  const text = await readFile(new URL('../../examples/plans/field-report.yaml', import.meta.url), 'utf8');
  return planSchema.parse(parse(text));
}
