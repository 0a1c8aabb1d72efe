// What every scripts/<client>/try.mjs shares: PASS/FAIL lines and the exit code, the client's version
// (after checking the server is built), the stand-in model API started as its own process, and the server
// in hosted mode (Streamable HTTP and SSE on one listener) against the sandbox API.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const REPO = join(import.meta.dirname, "..", "..");
export const CLI = join(REPO, "dist", "src", "cli.js");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `check(ok, what, detail)` prints one PASS/FAIL line; `finish()` prints the verdict and exits 1 on any FAIL. */
export function checks() {
  let failures = 0;
  return {
    check(ok, what, detail = "") {
      if (!ok) failures++;
      process.stdout.write(`${ok ? "PASS" : "FAIL"}  ${what}${detail ? `\n      ${detail.replace(/\n/g, "\n      ")}` : ""}\n`);
    },
    finish() {
      process.stdout.write(failures ? `${failures} check(s) failed\n` : "all checks passed\n");
      process.exit(failures ? 1 : 0);
    },
  };
}

/** The client's `--version` output; throws (naming the missing step) when the server is not built or the client is missing. */
export function clientVersion(bin, name) {
  if (!existsSync(CLI)) throw new Error("build first: npm run build");
  const version = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (version.status !== 0) throw new Error(`no ${name} at ${bin}: ${version.error?.message ?? version.stderr}`);
  return version.stdout.trim();
}

/** Starts a stand-in model API (a script built on stand-in.mjs) logging to `log`; resolves with the process and its port. */
export async function startStandIn(script, log) {
  const model = spawn(process.execPath, [script, log], { stdio: ["ignore", "pipe", "inherit"] });
  const { port } = JSON.parse(await new Promise((r) => createInterface({ input: model.stdout }).once("line", r)));
  return { model, port };
}

/** This server in hosted mode on a free loopback port against `apiUrl`; resolves with the process and its base URL. */
export async function startHosted(stateDir, apiUrl) {
  const server = spawn(process.execPath, [CLI, "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--state-dir", stateDir], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, GEOPERA_API_URL: apiUrl },
  });
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: server.stderr }).on("line", (l) => l.includes('"listening"') && resolve(JSON.parse(l).url));
    server.once("exit", (code) => reject(new Error(`HTTP server exited (${code})`)));
  });
  return { server, url };
}
