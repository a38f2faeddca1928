// The worker loads the build's workflow bundle only when it runs compiled code and the bundle is at
// least as new as every compiled file; otherwise it bundles at start (never a stale bundle).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import type * as BundleModule from '../../worker/bundle.js';

/** worker/bundle.ts compiled into a dist-like tree in a temporary folder, and that tree. */
async function distTree(): Promise<{ dist: string; load: () => Promise<typeof BundleModule> }> {
  const dist = path.join(mkdtempSync(path.join(tmpdir(), 'meshmove-dist-')), 'dist');
  mkdirSync(path.join(dist, 'worker'), { recursive: true });
  mkdirSync(path.join(dist, 'workflows'), { recursive: true });
  const source = readFileSync(path.resolve('worker/bundle.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  writeFileSync(path.join(dist, 'worker', 'bundle.js'), outputText);
  writeFileSync(path.join(dist, 'workflows', 'index.js'), 'export {};\n');
  let n = 0;
  return { dist, load: () => import(`${pathToFileURL(path.join(dist, 'worker', 'bundle.js')).href}?${n++}`) };
}

const at = (file: string, seconds: number) => utimesSync(file, seconds, seconds);

describe('prebuiltBundle', () => {
  it('is undefined when the worker runs TypeScript (a checkout): it bundles at start', async () => {
    const { prebuiltBundle, workflowsPath } = await import('../../worker/bundle.js');
    expect(workflowsPath()).toMatch(/workflows\/index\.ts$/);
    expect(prebuiltBundle()).toBeUndefined();
  });

  it("is the build's dist/workflows.bundle.js when it is at least as new as every compiled file", async () => {
    const { dist, load } = await distTree();
    const bundle = path.join(dist, 'workflows.bundle.js');
    expect((await load()).prebuiltBundle()).toBeUndefined(); // none written yet
    writeFileSync(bundle, '// bundle\n');
    for (const f of ['worker/bundle.js', 'workflows/index.js']) at(path.join(dist, f), 1_000);
    at(bundle, 2_000);
    const m = await load();
    expect(m.bundleFile()).toBe(bundle);
    expect(m.prebuiltBundle()).toEqual({ codePath: bundle });
  });

  it('is undefined when a compiled file is newer than the bundle (tsc ran without the bundling step)', async () => {
    const { dist, load } = await distTree();
    const bundle = path.join(dist, 'workflows.bundle.js');
    writeFileSync(bundle, '// bundle\n');
    at(path.join(dist, 'worker/bundle.js'), 1_000);
    at(bundle, 2_000);
    mkdirSync(path.join(dist, 'workflows', 'engine'));
    const newer = path.join(dist, 'workflows', 'engine', 'runbook.js');
    copyFileSync(path.join(dist, 'workflows', 'index.js'), newer);
    at(path.join(dist, 'workflows', 'index.js'), 1_000);
    at(newer, 3_000);
    expect((await load()).prebuiltBundle()).toBeUndefined();
  });
});
