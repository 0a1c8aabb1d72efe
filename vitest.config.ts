import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests spawn real server processes and listeners; keep files isolated but parallel.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
  },
});
