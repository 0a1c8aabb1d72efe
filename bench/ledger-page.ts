// What one 100-row page of a 1,000,000-row ledger costs (issue 12, section 7): rows pulled from the API,
// the server's peak memory over idle, and time. The sandbox API (1,000,000 ledger rows) runs in this bench
// process behind a counting TCP proxy, so the rows counted are the ones that crossed the wire to the
// server; the server is the spawned stdio child whose /proc/<pid>/status we read (Linux only). Its peak RSS
// (VmHWM) is reset before each call (/proc/<pid>/clear_refs), so each figure is that call's own peak, and
// each call runs in a fresh server process (after two small warm-up calls).
//
//   npx tsc -p tsconfig.json && node dist/bench/ledger-page.js [--baseline-cli <path to an older dist/src/cli.js>]
//
// Rows: the API read directly with no limit (what a whole-ledger read costs: the pre-issue-12 approach,
// same run, no server), then our server on the first page and on a page at offset 500,000, then — with
// --baseline-cli — the same two calls through an older build of the server (e.g. main before issue 12:
//   mkdir /tmp/gbm-base && git archive <commit> | tar -x -C /tmp/gbm-base && ln -s "$PWD/node_modules" /tmp/gbm-base/ \
//     && (cd /tmp/gbm-base && npx tsc -p tsconfig.json)
// then --baseline-cli /tmp/gbm-base/dist/src/cli.js).
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, connect, type Server, type AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { startSandboxApi } from "../src/sandbox/index.js";
import { memOf } from "./lib/mem.js";

const CLI = join(import.meta.dirname, "..", "src", "cli.js");
const KEY = "gpra_bench_ledger_page_000";
const LEDGER_ROWS = 1_000_000;
/** The goals for one page: a few thousand rows upstream at most, peak within 16 MB of idle. */
const MAX_UPSTREAM_ROWS = 5_000;
const MAX_GROWTH_MB = 16;

const { values: opt } = parseArgs({ options: { "baseline-cli": { type: "string" } } });

/** A TCP proxy in front of the API that counts what the API sent back: bytes, and NDJSON rows (a "}" then "\n"). */
async function countingProxy(target: URL): Promise<{ url: string; counts: { bytes: number; rows: number }; close(): Promise<void> }> {
  const counts = { bytes: 0, rows: 0 };
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    let last = 0;
    upstream.on("data", (chunk: Buffer) => {
      counts.bytes += chunk.length;
      for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
        if ((i > 0 ? chunk[i - 1] : last) === 0x7d) counts.rows++;
      }
      last = chunk[chunk.length - 1]!;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Resets VmHWM to the current RSS, so the next reading is the peak since now. */
const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, "5");
const settle = (ms = 500) => new Promise((r) => setTimeout(r, ms));

interface Figure {
  what: string;
  rowsReturned: string;
  upstreamRows: number;
  upstreamMb: number;
  ms: number;
  idleMb?: number;
  peakMb?: number;
}

const PAGES = [
  ["first page (no limit: --max-rows 100)", {}],
  ["page at offset 500,000", { offset: 500_000 }],
] as const;

/** Each page in a fresh server process, so one call's memory cannot hide in the next one's idle figure. */
async function serverPages(label: string, cli: string, proxy: Awaited<ReturnType<typeof countingProxy>>): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const [what, args] of PAGES) figures.push(await onePage(`${label}: ${what}`, cli, proxy, args));
  return figures;
}

async function onePage(what: string, cli: string, proxy: Awaited<ReturnType<typeof countingProxy>>, args: Record<string, unknown>): Promise<Figure> {
  const stateDir = mkdtempSync(join(tmpdir(), "gbm-ledger-page-"));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, "--state-dir", stateDir, "--log-level", "warn"],
    env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: proxy.url, GEOPERA_API_KEY: KEY },
    stderr: "ignore",
  });
  const client = new Client({ name: "ledger-page-bench", version: "1.0.0" });
  await client.connect(transport);
  const pid = transport.pid!;
  try {
    await client.listTools();
    // Warm the upstream path and the NDJSON path with small calls, then let the process settle.
    await client.callTool({ name: "billing_credits_balance", arguments: {} });
    await client.callTool({ name: "billing_credits_transactions", arguments: { limit: 5 } });
    await settle();
    const idle = memOf(pid);
    resetPeak(pid);
    const before = { ...proxy.counts };
    const t0 = performance.now();
    const r = await client.callTool({ name: "billing_credits_transactions", arguments: args }, undefined, { timeout: 120_000 });
    const ms = performance.now() - t0;
    await settle(200); // let the last bytes the API sent before the hang-up reach the proxy's count
    const after = memOf(pid);
    const sc = r.structuredContent as { rows?: unknown[] } | undefined;
    if (r.isError || !sc?.rows) throw new Error(`${what}: unexpected answer: ${JSON.stringify(r).slice(0, 300)}`);
    return {
      what,
      rowsReturned: String(sc.rows.length),
      upstreamRows: proxy.counts.rows - before.rows,
      upstreamMb: (proxy.counts.bytes - before.bytes) / 1024 / 1024,
      ms,
      idleMb: idle.rssMb,
      peakMb: after.hwmMb,
    };
  } finally {
    await client.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** The whole ledger read from the API with no limit and no server: what every page cost before issue 12. */
async function directFullRead(proxy: Awaited<ReturnType<typeof countingProxy>>, body: Record<string, unknown>, what: string): Promise<Figure> {
  const before = { ...proxy.counts };
  const t0 = performance.now();
  const res = await fetch(`${proxy.url}/v1/op/billing.credits.transactions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  let lines = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) lines++;
  }
  const ms = performance.now() - t0;
  await settle(100);
  return { what, rowsReturned: `${lines} (all)`, upstreamRows: proxy.counts.rows - before.rows, upstreamMb: (proxy.counts.bytes - before.bytes) / 1024 / 1024, ms };
}

async function main(): Promise<void> {
  const api = await startSandboxApi({ ledgerRows: LEDGER_ROWS });
  const proxy = await countingProxy(new URL(api.url));
  const figures: Figure[] = [];
  try {
    figures.push(await directFullRead(proxy, {}, "API read directly, no limit (a whole-ledger read, as before issue 12)"));
    figures.push(await directFullRead(proxy, { offset: 500_000 }, "API read directly from offset 500,000, no limit"));
    const ours = await serverPages("ours", CLI, proxy);
    figures.push(...ours);
    if (opt["baseline-cli"]) figures.push(...(await serverPages("baseline", opt["baseline-cli"], proxy)));

    const fmt = (n: number | undefined, d = 1) => (n === undefined ? "—" : n.toFixed(d));
    console.log(`node ${process.version}, ${availableParallelism()} CPUs (nproc), ${new Date().toISOString()}; ledger ${LEDGER_ROWS.toLocaleString("en-US")} rows`);
    console.log("");
    console.log("| call | rows returned | rows pulled upstream | MB pulled upstream | ms | server RSS idle (MB) | server peak during call (MB) | peak − idle (MB) |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const f of figures) {
      const growth = f.peakMb !== undefined && f.idleMb !== undefined ? f.peakMb - f.idleMb : undefined;
      console.log(`| ${f.what} | ${f.rowsReturned} | ${f.upstreamRows.toLocaleString("en-US")} | ${fmt(f.upstreamMb, 2)} | ${fmt(f.ms, 0)} | ${fmt(f.idleMb)} | ${fmt(f.peakMb)} | ${fmt(growth)} |`);
    }
    console.log("");
    let ok = true;
    for (const f of ours) {
      const growth = f.peakMb! - f.idleMb!;
      const pass = f.upstreamRows <= MAX_UPSTREAM_ROWS && growth <= MAX_GROWTH_MB;
      ok &&= pass;
      console.log(`${f.what}: ${f.upstreamRows} rows upstream (goal ≤ ${MAX_UPSTREAM_ROWS}), peak − idle ${fmt(growth)} MB (goal ≤ ${MAX_GROWTH_MB}): ${pass ? "OK" : "OVER GOAL"}`);
    }
    if (!ok) process.exitCode = 1;
  } finally {
    await proxy.close();
    await api.close();
  }
}

await main();
