// The lint rule that keeps workflows/ deterministic: it must flag Node builtins, value imports of
// activities and I/O libraries, and raw timers, and allow type-only activity imports.
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';

// The probe file does not exist: the type-aware rules get it from TypeScript's default project.
const eslint = new ESLint({
  overrideConfig: {
    files: ['workflows/probe.ts'],
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['workflows/probe.ts'] } } },
  },
});

const RULES = ['no-restricted-imports', 'no-restricted-globals', '@typescript-eslint/no-floating-promises'];

async function ruleHits(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: 'workflows/probe.ts' });
  const fatal = result!.messages.filter((m) => m.fatal).map((m) => m.message);
  if (fatal.length) throw new Error(`eslint could not lint the probe: ${fatal.join('; ')}`);
  return result!.messages.filter((m) => RULES.includes(m.ruleId ?? '')).map((m) => m.message);
}

describe('workflow determinism lint', () => {
  it.each([
    ["import { readFileSync } from 'node:fs'; export const f = readFileSync;", 'Node builtins'],
    ["import { createHash } from 'crypto'; export const f = createHash;", 'Node builtins'],
    ["import { createActivities } from '../activities/index.js'; export const f = createActivities;", 'type-only'],
    ["import { KubeConfig } from '@kubernetes/client-node'; export const f = KubeConfig;", 'No I/O libraries'],
    ["import { Client } from '@temporalio/client'; export const f = Client;", '@temporalio/workflow'],
    ['export const t = setTimeout(() => 1, 5);', 'sleep()'],
    ["import { sleep } from '@temporalio/workflow'; export function f(): void { sleep(10); }", 'Promises must be awaited'],
  ])('flags %s', async (code, expected) => {
    const hits = await ruleHits(code);
    expect(hits.join('\n')).toContain(expected);
  });

  it('allows type-only activity imports and the workflow SDK', async () => {
    const code =
      "import type { MigrationActivities } from '../activities/contract.js';\nimport { sleep } from '@temporalio/workflow';\nexport const f = (a: MigrationActivities) => [a, sleep];";
    expect(await ruleHits(code)).toEqual([]);
  });
});
