// Resident memory of the stdio server on big NDJSON answers. The sandbox API runs in this (bench)
// process, so its memory never counts against the server; the server is the spawned child whose
// /proc/<pid>/status VmHWM (peak RSS) and VmRSS we read. Linux only.
//
//   npx tsc -p tsconfig.json && node dist/bench/rss.js
//
// Rows: a bare SDK server (baseline, same run), then our server idle, after a call on a 100,000-row ledger,
// and — in a fresh process — on a 1,000,000-row ledger (billing_credits_transactions with no limit: one
// --max-rows page is read, not the ledger; bench/ledger-page.ts measures what that saves).
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { memOf } from "./lib/mem.js";

const CLI = join(import.meta.dirname, "..", "src", "cli.js");
const KEY = "gpra_bench_rss_key_000000";
/** Targets from issue 6. */
const MAX_PEAK_MB = 160;
const MAX_GROWTH_MB = 16;


async function spawnClient(args: string[], env: Record<string, string>) {
  const transport = new StdioClientTransport({ command: process.execPath, args, env: { PATH: process.env.PATH ?? "", ...env }, stderr: "ignore" });
  const client = new Client({ name: "rss-bench", version: "1.0.0" });
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error("no child pid");
  return { client, pid, close: () => client.close() };
}

/** Lets the child settle (GC, lazy init) before a figure is read. */
const settle = (ms = 500) => new Promise((r) => setTimeout(r, ms));

async function ourServer(api: SandboxApi) {
  const stateDir = mkdtempSync(join(tmpdir(), "gbm-rss-"));
  const c = await spawnClient([CLI, "--state-dir", stateDir, "--log-level", "warn"], { GEOPERA_API_URL: api.url, GEOPERA_API_KEY: KEY });
  await c.client.listTools();
  return {
    ...c,
    async close() {
      await c.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

async function bigAnswer(client: Client, expectRows: number) {
  const t0 = performance.now();
  const r = await client.callTool({ name: "billing_credits_transactions", arguments: {} }, undefined, { timeout: 120_000 });
  const ms = performance.now() - t0;
  // Since issue 12 a call reads one page of the ledger (plus one row), not all of it: the rest is never read.
  const sc = r.structuredContent as { count?: number; truncated?: boolean } | undefined;
  if (r.isError || !sc?.count || (expectRows > sc.count && sc.truncated !== true)) throw new Error(`unexpected answer: ${JSON.stringify(r).slice(0, 300)}`);
  return { ms, rows: sc.count, bytes: Buffer.byteLength(JSON.stringify(r)) };
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  const fmt = (n: number) => n.toFixed(1);

  const bare = await spawnClient([join(import.meta.dirname, "rss.js"), "--bare"], {});
  await bare.client.listTools();
  await settle();
  const bareMem = memOf(bare.pid);
  await bare.close();
  rows.push(["bare SDK server (baseline), idle", "—", "—", fmt(bareMem.rssMb), fmt(bareMem.hwmMb)]);

  const api100k = await startSandboxApi({ ledgerRows: 100_000 });
  const api1m = await startSandboxApi({ ledgerRows: 1_000_000 });
  let peak100k = NaN;
  let peak1m = NaN;
  try {
    const a = await ourServer(api100k);
    try {
      await a.client.callTool({ name: "billing_credits_balance", arguments: {} }); // warm the upstream path
      await settle();
      const idle = memOf(a.pid);
      rows.push(["geopera-billing-mcp, idle (after one small call)", "—", "—", fmt(idle.rssMb), fmt(idle.hwmMb)]);
      const run = await bigAnswer(a.client, 100_000);
      await settle();
      const after = memOf(a.pid);
      peak100k = after.hwmMb;
      rows.push(["after a call on a 100,000-row ledger", `${run.rows} of 100,000`, fmt(run.ms), fmt(after.rssMb), fmt(after.hwmMb)]);
    } finally {
      await a.close();
    }

    const b = await ourServer(api1m);
    try {
      await b.client.callTool({ name: "billing_credits_balance", arguments: {} });
      const run = await bigAnswer(b.client, 1_000_000);
      await settle();
      const after = memOf(b.pid);
      peak1m = after.hwmMb;
      rows.push(["fresh process, after a call on a 1,000,000-row ledger", `${run.rows} of 1,000,000`, fmt(run.ms), fmt(after.rssMb), fmt(after.hwmMb)]);
    } finally {
      await b.close();
    }
  } finally {
    await api100k.close();
    await api1m.close();
  }

  console.log(`node ${process.version}, ${availableParallelism()} CPUs (nproc), ${new Date().toISOString()}`);
  console.log("");
  console.log("| server state | rows returned | call ms | RSS now (MB) | peak RSS, VmHWM (MB) |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log("");
  const growth = peak1m - peak100k;
  const ok = peak1m <= MAX_PEAK_MB && growth <= MAX_GROWTH_MB;
  console.log(
    `1M peak − 100k peak = ${fmt(growth)} MB (target ≤ ${MAX_GROWTH_MB}); 1M peak ${fmt(peak1m)} MB (target ≤ ${MAX_PEAK_MB}): ${ok ? "OK" : "OVER TARGET"}`,
  );
  if (!ok) process.exitCode = 1;
}

if (process.argv[2] === "--bare") {
  // The baseline: the SDK's own McpServer over stdio with one trivial tool, nothing of ours.
  const { McpServer } = await import("@modelcontextprotocol/sdk/server/mcp.js");
  const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
  const server = new McpServer({ name: "bare", version: "0.0.0" });
  server.registerTool("ping", { description: "ping" }, () => ({ content: [{ type: "text", text: "pong" }] }));
  await server.connect(new StdioServerTransport());
} else {
  await main();
}
