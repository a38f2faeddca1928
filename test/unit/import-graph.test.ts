// The product's import graph: what `meshmove worker` (and every other command) loads when the CLI
// starts. The simulators (twin/, lab/) and their dependencies load only when a demo, twin or lab
// command runs (dynamic import), so a worker in a cluster never loads a simulated cluster.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every file reached from `entry` by static value imports and re-exports (type-only ones left out), with the path that reached it. */
function staticGraph(entry: string): Map<string, string[]> {
  const reached = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  const statement = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"](\.[^'"]+)['"]/gm;
  while (queue.length) {
    const file = queue.shift()!;
    for (const [, spec] of readFileSync(resolve(root, file), 'utf8').matchAll(statement)) {
      let target = resolve(dirname(resolve(root, file)), spec!).replace(/\.js$/, '.ts');
      if (!existsSync(target)) target = target.replace(/\.ts$/, '/index.ts');
      if (!existsSync(target)) continue;
      const rel = relative(root, target);
      if (!reached.has(rel)) {
        reached.set(rel, [...reached.get(file)!, rel]);
        queue.push(rel);
      }
    }
  }
  return reached;
}

describe('what the CLI and the worker load', () => {
  for (const entry of ['client/main.ts', 'worker/worker.ts', 'activities/index.ts']) {
    it(`${entry} reaches no simulator module by a static import`, () => {
      const graph = staticGraph(entry);
      expect(graph.size).toBeGreaterThan(3);
      const simulators = [...graph].filter(([f]) => f.startsWith('twin/') || f.startsWith('lab/')).map(([, via]) => via.join(' → '));
      expect(simulators).toEqual([]);
    });
  }

  it('the check sees through re-exports and index files (it would catch a static import of the twin)', () => {
    const graph = staticGraph('client/commands/twin.ts');
    expect(graph.has('client/snapshot/command.ts')).toBe(true);
    expect([...graph.keys()].some((f) => f.startsWith('twin/'))).toBe(false);
    expect([...staticGraph('test/support/temporal.ts').keys()]).toContain('worker/worker.ts');
    expect([...staticGraph('twin/index.ts').keys()]).toContain('twin/apiserver/index.ts');
  });
});

describe('what the workflow sandbox loads', () => {
  // The sandbox evaluates the workflow modules again for every workflow it starts (every
  // namespace's child): a zod schema built at import time cost ~24 ms of CPU per child at 200
  // namespaces (bench/compare.ts with --cpu-prof). plan/model.ts holds what the workflows need.
  it('workflows/index.ts reaches no module that imports zod', () => {
    const graph = staticGraph('workflows/index.ts');
    expect(graph.has('plan/model.ts')).toBe(true);
    const withZod = [...graph]
      .filter(([f]) => /^\s*import\s+(?!type\b)[^;]*?from\s+['"]zod(?:\/[^'"]*)?['"]/m.test(readFileSync(resolve(root, f), 'utf8')))
      .map(([, via]) => via.join(' → '));
    expect(withZod).toEqual([]);
  });

  it('the check would see a zod import (plan/schema.ts has one)', () => {
    expect(readFileSync(resolve(root, 'plan/schema.ts'), 'utf8')).toMatch(/^import \{ z \} from 'zod';$/m);
    expect(staticGraph('plan/load.ts').has('plan/schema.ts')).toBe(true);
  });
});
