import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'compiler/**/*.test.ts', 'runtime/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Vitest's default on a 2-core machine is one fork; the suite is mostly single-threaded SEAL and
    // compile work, so two forks use both cores (the README's npm test time is from a run with two).
    maxWorkers: 2,
  },
});
