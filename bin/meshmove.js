#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/client/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('meshmove is not built: run `npm ci` (or `npm run build`) in the meshmove checkout first.\n');
  process.exit(2);
}
await import(entry.href);
