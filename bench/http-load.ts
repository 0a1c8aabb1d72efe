// Load driver for HTTP mode: N concurrent Streamable HTTP sessions, each calling billing_credits_balance
// in a loop for D seconds, against the built server (spawned) proxying the in-process sandbox API.
// Loopback only, bounded in sessions and time.
//
//   npx tsc -p tsconfig.json && node dist/bench/http-load.js [--duration 5] [--sessions 1,16,64]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setMaxListeners } from "node:events";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startSandboxApi } from "../src/sandbox/index.js";

// The SDK client hands one AbortSignal per transport to every fetch, and undici only drops its listener
// when the Request is garbage-collected: thousands of calls per session trip the leak warning. Client-side
// and harmless here; silence it for newly created signals.
setMaxListeners(0);

const MAX_SESSIONS = 256;
const MAX_DURATION_S = 60;
const CLI = join(import.meta.dirname, "..", "src", "cli.js");

const { values } = parseArgs({ options: { duration: { type: "string", default: "5" }, sessions: { type: "string", default: "1,16,64" } } });
const durationS = Number(values.duration);
const rounds = values.sessions!.split(",").map(Number);
if (!(durationS > 0 && durationS <= MAX_DURATION_S)) throw new Error(`--duration must be in (0, ${MAX_DURATION_S}] seconds`);
if (!rounds.every((n) => Number.isInteger(n) && n >= 1 && n <= MAX_SESSIONS)) throw new Error(`--sessions must be integers 1..${MAX_SESSIONS}`);

async function startServer(apiUrl: string) {
  const stateDir = mkdtempSync(join(tmpdir(), "gbm-bench-"));
  const proc = spawn(process.execPath, [CLI, "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--state-dir", stateDir, "--max-sessions-per-address", "1000"], {
    env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: apiUrl },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let buffered = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${buffered}`)), 10_000);
    proc.once("exit", (code) => reject(new Error(`server exited with ${code}:\n${buffered}`)));
    const onData = (d: Buffer) => {
      buffered += d.toString();
      const m = /"msg":"listening","url":"([^"]+)"/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        proc.stderr!.off("data", onData);
        proc.stderr!.resume(); // keep draining its (per-call) log lines
        resolve(m[1]!);
      }
    };
    proc.stderr!.on("data", onData);
  });
  return {
    url,
    async stop() {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

async function round(url: string, sessions: number): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      const transport = new StreamableHTTPClientTransport(new URL("/mcp", url), {
        requestInit: { headers: { Authorization: `Bearer gpra_bench_tenant_${String(i).padStart(4, "0")}` } },
      });
      const client = new Client({ name: "http-load", version: "1.0.0" });
      await client.connect(transport);
      await client.callTool({ name: "billing_credits_balance", arguments: {} }); // warm-up
      return client;
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationS * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const result = await client.callTool({ name: "billing_credits_balance", arguments: {} });
          if (result.isError) errors++;
          else latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1) : "-");
  console.log(
    [String(sessions).padStart(8), String(latencies.length).padStart(8), String(errors).padStart(6), (latencies.length / elapsedS).toFixed(0).padStart(8), pct(50).padStart(8), pct(99).padStart(8)].join(" "),
  );
}

const api = await startSandboxApi();
const server = await startServer(api.url);
try {
  console.log(`node ${process.version}, ${durationS}s per round, server ${server.url} → sandbox ${api.url}`);
  console.log(`${"sessions".padStart(8)} ${"calls".padStart(8)} ${"errors".padStart(6)} ${"calls/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}`);
  for (const n of rounds) {
    await round(server.url, n);
    api.reset();
  }
} finally {
  await server.stop();
  await api.close();
}
