import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Block-device tests mount, chroot and run package managers: minutes, not milliseconds.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Two cores: run files two at a time so loop-device tests contend as real hosts would,
    // without starving each other.
    maxWorkers: 2,
  },
});
