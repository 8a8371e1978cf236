import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // Hooks start and stop servers, databases and APNs mocks; on a loaded two-core CI machine that
    // outlasts vitest's 10 s default (a real hang still fails, a minute later).
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
