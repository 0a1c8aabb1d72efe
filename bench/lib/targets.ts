// How each contender is launched against the shared upstream, over stdio and over Streamable HTTP, plus the
// upstream itself and RSS readings from /proc. Loopback only.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Launch } from "./rawstdio.js";
import { closeFd, stderrFile, track } from "./children.js";

export const REPO = join(import.meta.dirname, "..", "..", "..");
const DIST = join(REPO, "dist");
export const OURS_CLI = join(DIST, "src", "cli.js");
export const BASELINE = join(DIST, "bench", "baseline-server.js");
export const BASELINE_V2 = join(DIST, "bench", "baseline-v2-server.js");
export const UPSTREAM = join(DIST, "bench", "upstream.js");
export const PEER_BIN = join(REPO, "node_modules", "@ivotoby", "openapi-mcp-server", "bin", "mcp-server.js");
export const OPENAPI = join(REPO, "bench", "openapi.json");

/** A key of the shape the sandbox accepts (gpra_ + ≥ 7 more); not a real credential. */
export const BENCH_KEY = "gpra_bench_key_000001";

export type Contender = "baseline" | "peer" | "ours";
export const CONTENDERS: readonly Contender[] = ["baseline", "peer", "ours"];

/** The tool each contender exposes for billing.credits.balance, and for the ledger (where it has one). */
export const BALANCE_TOOL: Record<Contender, string> = { baseline: "billing_credits_balance", peer: "billing-credits-balance", ours: "billing_credits_balance" };
/**
 * The 2026-07-28 path has its own two contenders (bench/lib/modern.ts): the thin v2 baseline
 * (bench/baseline-v2-server.ts) and ours. The v2 baseline has the v1 baseline's tool name.
 */
export type ModernContender = "baseline-v2" | "ours";
export const MODERN_CONTENDERS: readonly ModernContender[] = ["baseline-v2", "ours"];

export const LEDGER_TOOL: Partial<Record<Contender, string>> = { peer: "billing-credits-transactions", ours: "billing_credits_transactions" };

const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? tmpdir() });

const stateDirs: string[] = [];
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gbm-bench-"));
  stateDirs.push(dir);
  return dir;
}
export function cleanStateDirs(): void {
  for (const d of stateDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Each contender as a user would launch it over stdio, with its defaults (the peer with --verbose false). */
export function stdioLaunch(who: Contender | "baseline-v2", apiUrl: string): Launch {
  switch (who) {
    case "baseline":
      return { command: process.execPath, args: [BASELINE], env: { ...baseEnv(), GEOPERA_API_URL: apiUrl, GEOPERA_API_KEY: BENCH_KEY } };
    case "baseline-v2":
      return { command: process.execPath, args: [BASELINE_V2], env: { ...baseEnv(), GEOPERA_API_URL: apiUrl, GEOPERA_API_KEY: BENCH_KEY } };
    case "peer":
      return {
        command: process.execPath,
        args: [PEER_BIN, "--api-base-url", apiUrl, "--openapi-spec", OPENAPI, "--headers", `Authorization:Bearer ${BENCH_KEY}`, "--verbose", "false"],
        env: baseEnv(),
      };
    case "ours":
      return { command: process.execPath, args: [OURS_CLI, "--state-dir", stateDir()], env: { ...baseEnv(), GEOPERA_API_URL: apiUrl, GEOPERA_API_KEY: BENCH_KEY } };
  }
}

export interface Running {
  /** Streamable HTTP endpoint. */
  mcpUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Starts a contender in Streamable HTTP mode and waits until it listens. `nodeArgs` go before the script. */
export async function startHttp(who: Contender | "baseline-v2", apiUrl: string, nodeArgs: string[] = []): Promise<Running> {
  let launch: Launch;
  let ready: RegExp | undefined;
  const mcpUrl = (m: RegExpExecArray) => `${m[1]}/mcp`;
  let healthUrl: string | undefined;
  let healthMcpUrl = "";
  if (who === "peer") {
    const port = await freePort();
    const base = stdioLaunch("peer", apiUrl);
    launch = { ...base, args: [...base.args, "--transport", "http", "--host", "127.0.0.1", "--port", String(port)] };
    healthUrl = `http://127.0.0.1:${port}/health`;
    healthMcpUrl = `http://127.0.0.1:${port}/mcp`;
  } else if (who === "baseline" || who === "baseline-v2") {
    launch = { command: process.execPath, args: [who === "baseline" ? BASELINE : BASELINE_V2, "--http", "0"], env: { ...baseEnv(), GEOPERA_API_URL: apiUrl } };
    ready = /"msg":"listening","url":"([^"]+)"/;
  } else {
    // HTTP mode brings its own key per session (Authorization: Bearer), so only the URL is set. All bench
    // sessions come from one loopback address, so the per-address session cap (default 32) is lifted.
    launch = { command: process.execPath, args: [OURS_CLI, "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--state-dir", stateDir(), "--max-sessions-per-address", "1000"], env: { ...baseEnv(), GEOPERA_API_URL: apiUrl } };
    ready = /"msg":"listening"[^\n]*"url":"([^"]+)"/;
  }
  const log = stderrFile(`${who}-http`);
  const child = track(spawn(launch.command, [...nodeArgs, ...launch.args], { env: launch.env, stdio: ["ignore", "ignore", log.fd] }));
  closeFd(log.fd);
  const url = await new Promise<string>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, value?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new Error(`${who} (http) did not start:\n${log.tail()}`)), 15_000);
    child.once("exit", (code) => finish(new Error(`${who} (http) exited with ${code}:\n${log.tail()}`)));
    const poll = setInterval(() => {
      if (ready) {
        const m = ready.exec(log.tail());
        if (m) finish(undefined, mcpUrl(m));
      }
      // The peer with --verbose false says nothing when it listens: ask its health endpoint instead.
      if (healthUrl) {
        fetch(healthUrl).then(
          (r) => (r.ok ? finish(undefined, healthMcpUrl) : undefined),
          () => {},
        );
      }
    }, 20);
  });
  return {
    mcpUrl: url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const hard = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await gone;
      clearTimeout(hard);
    },
  };
}

export interface Upstream {
  url: string;
  pid: number;
  /** Drops the sandbox's request log (it records every call) and its state, between phases. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function startUpstream(ledgerRows: number): Promise<Upstream> {
  const child = track(spawn(process.execPath, [UPSTREAM, String(ledgerRows)], { stdio: ["pipe", "pipe", "inherit"] }));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.once("exit", (code) => reject(new Error(`upstream exited with ${code}`)));
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve((JSON.parse(buf.slice(0, nl)) as { url: string }).url);
    });
  });
  return {
    url,
    pid: child.pid!,
    async reset() {
      const res = await fetch(`${url}/__sandbox/reset`, { method: "POST" });
      await res.arrayBuffer();
    },
    async close() {
      const gone = new Promise((r) => child.once("exit", r));
      child.stdin!.end();
      await gone;
    },
  };
}

export interface Rss {
  /** Resident set now, MB. */
  rssMb: number;
  /** Peak resident set over the process's life (VmHWM), MB. */
  hwmMb: number;
}

export function readRss(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
}

/**
 * CPU time the process has used so far, all threads, in ns (/proc/<pid>/task/<tid>/schedstat, first
 * field). Per-call CPU is steadier than latency or throughput when other work shares the machine.
 */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}
