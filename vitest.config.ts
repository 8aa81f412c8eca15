import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Real-voice tests load a 60 MB model per file; one fork per core keeps RSS sane.
    pool: 'forks',
  },
});
