// `meshmove demo --real` runs from the build (dist/): the lab must find scripts/lab-tools.sh from
// there as well as from the source tree (it once looked for dist/scripts/lab-tools.sh).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as Binaries from '../../lab/binaries.js';
import { labToolsScript } from '../../lab/binaries.js';

describe('labToolsScript', () => {
  const expected = path.resolve('scripts/lab-tools.sh');

  it('is scripts/lab-tools.sh from the source tree', () => {
    expect(labToolsScript()).toBe(expected);
  });

  it('is the same script from the build (dist/lab/binaries.js)', async () => {
    const built = path.resolve('dist/lab/binaries.js');
    expect(existsSync(built), 'dist/ is missing: npm ci builds it (or run npm run build)').toBe(true);
    const m = (await import(pathToFileURL(built).href)) as typeof Binaries;
    expect(m.labToolsScript()).toBe(expected);
  });
});
