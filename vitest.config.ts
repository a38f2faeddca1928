import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal core bridge is a native module: worker threads that each load it crash
    // (docs/temporal-notes.md). Separate processes are safe.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // CI prints each test so a failure is easy to place.
    reporters: process.env.CI ? ['verbose'] : ['default'],
    // Machine logs (pino JSON on stderr) only for warnings and worse while testing.
    env: { MESHMOVE_LOG_LEVEL: process.env.MESHMOVE_LOG_LEVEL ?? 'error' },
  },
});
