import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests spawn real server processes and listeners; keep files isolated but parallel.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // The suite mostly waits on spawned servers, sockets and PostgreSQL, not on its own CPU: three files at a
    // time on the 2-core machines here runs it in about 55 s instead of 110 s with vitest's default (one
    // worker per core less one), and three full runs at that width passed.
    maxWorkers: 3,
    // Files share their worker's module cache (they keep no global state: every test starts its own
    // servers, sandbox and stores). Importing the SDKs, pg and Playwright once per worker instead of once per
    // file took the suite on Node 22 (with its OAuth, passkey and Inspector 2 files) from 122 s to 95 s.
    isolate: false,
  },
});
