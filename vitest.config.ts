import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(__filename);

// One copy of graphql, or type-graphql and Apollo see two "realms" (STACK.md gotcha 2).
const resolve = { alias: { graphql: require.resolve('graphql') } };

// Two tiers: `*.unit.test.ts` are pure and need nothing; every other test gets the real
// PostgreSQL that the global setup starts once per run (a fresh database per test file).
export default defineConfig({
  resolve,
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        resolve,
        test: { name: 'unit', include: ['test/**/*.unit.test.ts'] },
      },
      {
        resolve,
        test: {
          name: 'db',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
    ],
  },
});
