// The workflows for Temporal's sandbox, bundled once by `npm run build` into dist/workflows.bundle.js
// rather than by every worker at start: webpack costs a worker about 8 s and a peak of about 280 MB
// of memory that it never gives back (measured on the 2-core development machine).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workflows entry: TypeScript source in a checkout (tests), compiled JS in dist/. */
export function workflowsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/index.js', import.meta.url));
}

/** The workflow interceptors (workflows/interceptors.ts: the decision counter), bundled with the workflows. */
export function workflowInterceptorsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/interceptors.js', import.meta.url));
}

/** Where `npm run build` writes the bundle: dist/workflows.bundle.js. */
export function bundleFile(): string {
  return path.join(path.dirname(path.dirname(workflowsPath())), 'workflows.bundle.js');
}

function newestJs(dir: string, except: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestJs(p, except));
    else if (entry.name.endsWith('.js') && p !== except) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The prebuilt bundle, when the worker runs compiled code and the bundle is at least as new as
 * every compiled file (the build writes it last); otherwise undefined, and the worker bundles at start (a
 * checkout running TypeScript, or a `tsc` run without the build's bundling step).
 */
export function prebuiltBundle(): { codePath: string } | undefined {
  if (!workflowsPath().endsWith('.js')) return undefined;
  const codePath = bundleFile();
  if (!existsSync(codePath)) return undefined;
  return newestJs(path.dirname(codePath), codePath) <= statSync(codePath).mtimeMs ? { codePath } : undefined;
}
