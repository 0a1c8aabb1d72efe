// `npm run bench`: one run, loopback only, bounded in count and time. Four contenders against one upstream:
//   floor    — direct undici calls to the upstream (no MCP);
//   baseline — bench/baseline-server.ts, the SDK + undici with one forwarding tool (the least a proxy costs);
//   peer     — @ivotoby/openapi-mcp-server fed bench/openapi.json (the same 15 operations);
//   ours     — dist/src/cli.js.
// Then the 2026-07-28 path (issue 13), its own table: ours against the thin v2 baseline
// (bench/baseline-v2-server.ts, the same one tool on @modelcontextprotocol/server), both driven by the v2
// SDK's Client pinned to 2026-07-28 (bench/lib/modern.ts): stdio latency, cold start, stateless HTTP at the
// largest --sessions level. Ours reports "not served" there (goals n/a) while it speaks only 2025.
// Upstream: the embedded sandbox API (src/sandbox) in a child process (bench/upstream.ts), seeded with a
// 1,000,000-row ledger; the same process for all four. Prints a markdown table, then pass/fail per goal.
//
//   npm run bench [-- --quick] [-- --calls 2000 --seconds 5 --sessions 1,16,64 --cold-runs 10 --no-peer-ledger] [-- --report-only]
// Exit 1 when a goal fails (bench/lib/goals.ts), unless --report-only. Progress goes to stderr, the report to stdout.
import { parseArgs } from "node:util";
import { cpus, availableParallelism, loadavg } from "node:os";
import { readFileSync } from "node:fs";
import { CATALOG } from "../src/tools/catalog.js";
import { RawStdio, ok } from "./lib/rawstdio.js";
import { killAll } from "./lib/children.js";
import { emptyResult, floorCaller, floorLedger, floorTarget, merge, rawMcpTarget, runFor, sdkMcpTarget, type LoadResult, type LoadTarget } from "./lib/load.js";
import { fmt, fmtRatio, median, percentile, ratio } from "./lib/stats.js";
import { NOT_SERVED, modernGoals, verdict, type Goal } from "./lib/goals.js";
import { isNotServed, modernHttpTarget, modernStdio, MODERN_VERSION, type ModernStdio } from "./lib/modern.js";
import {
  BALANCE_TOOL,
  CONTENDERS,
  MODERN_CONTENDERS,
  type ModernContender,
  LEDGER_TOOL,
  cpuNs,
  OPENAPI,
  cleanStateDirs,
  readRss,
  startHttp,
  startUpstream,
  stdioLaunch,
  type Contender,
  type Running,
  type Upstream,
} from "./lib/targets.js";

const BUDGET_MS = 8 * 60_000;
const LEDGER_TIMEOUT_MS = 150_000;

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    calls: { type: "string" },
    warmup: { type: "string" },
    seconds: { type: "string" },
    "warm-seconds": { type: "string" },
    sessions: { type: "string" },
    "cold-runs": { type: "string" },
    "ledger-rows": { type: "string" },
    "no-peer-ledger": { type: "boolean", default: false },
    "http-client": { type: "string", default: "raw" },
    "report-only": { type: "boolean", default: false },
  },
});
const quick = opt.quick!;
const num = (v: string | undefined, full: number, fast: number, min: number, max: number, name: string) => {
  const n = v === undefined ? (quick ? fast : full) : Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be in [${min}, ${max}]`);
  return n;
};
const CFG = {
  calls: num(opt.calls, 2_000, 300, 10, 50_000, "calls"),
  warmup: num(opt.warmup, 200, 50, 0, 5_000, "warmup"),
  seconds: num(opt.seconds, 5, 1, 0.5, 30, "seconds"),
  warmSeconds: num(opt["warm-seconds"], 1, 0.3, 0, 10, "warm-seconds"),
  coldRuns: num(opt["cold-runs"], 10, 3, 1, 50, "cold-runs"),
  ledgerRows: num(opt["ledger-rows"], 1_000_000, 100_000, 1, 5_000_000, "ledger-rows"),
  sessions: (opt.sessions ?? "1,16,64").split(",").map(Number),
  peerLedger: !opt["no-peer-ledger"],
  httpClient: opt["http-client"] as "raw" | "sdk",
};
if (CFG.httpClient !== "raw" && CFG.httpClient !== "sdk") throw new Error("--http-client must be raw or sdk");
if (!CFG.sessions.every((n) => Number.isInteger(n) && n >= 1 && n <= 256)) throw new Error("--sessions must be integers in [1, 256]");

const watchdog = setTimeout(() => {
  process.stderr.write(`bench: over the ${BUDGET_MS / 60_000}-minute budget, stopping\n`);
  killAll();
  process.exit(1);
}, BUDGET_MS);
watchdog.unref();
process.on("SIGINT", () => {
  killAll();
  process.exit(130);
});

const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** bench/openapi.json must describe the same 15 operations as the catalog, or the peer is not comparable. */
function checkOpenApi(): void {
  const doc = JSON.parse(readFileSync(OPENAPI, "utf8")) as { paths: Record<string, unknown> };
  const documented = Object.keys(doc.paths).map((p) => p.replace("/v1/op/", "")).sort();
  const ours = CATALOG.map((r) => r.operationId).sort();
  if (documented.join() !== ours.join()) throw new Error(`bench/openapi.json is out of date with src/tools/catalog.ts:\n  openapi: ${documented.join(", ")}\n  catalog: ${ours.join(", ")}`);
}

// ---------------------------------------------------------------------------------------------------------
interface Figures {
  /** Server CPU (all threads) per stdio call, µs. */
  stdioCpuUs?: number;
  /** Server CPU per HTTP call at each concurrency, µs. */
  httpCpuUs: Map<number, number>;
  p50?: number;
  p99?: number;
  latencyErrors?: number;
  http: Map<number, LoadResult>;
  coldMs?: number;
  coldSamples?: number[];
  listBytes?: number;
  /** The tools/list result object alone, without the JSON-RPC envelope. */
  listResultBytes?: number;
  listTools?: number;
  idleRssMb?: number;
  ledgerHwmMb?: number;
  ledgerIdleMb?: number;
  ledgerSeconds?: number;
  ledgerNote?: string;
}
type Who = Contender | "floor";
const fig: Record<Who, Figures> = {
  floor: { http: new Map(), httpCpuUs: new Map() },
  baseline: { http: new Map(), httpCpuUs: new Map() },
  peer: { http: new Map(), httpCpuUs: new Map() },
  ours: { http: new Map(), httpCpuUs: new Map() },
};

/** The 2026-07-28 path's figures, per contender (bench/lib/modern.ts). */
interface ModernFig {
  p50?: number;
  p99?: number;
  latencyErrors?: number;
  http?: LoadResult;
  /**
   * Spawn → server/discover → first tools/call answered, median ms. No tools/list before the call: after one,
   * the v2 client compiles an output-schema validator for every listed tool (15 for ours, none for the
   * baseline) on the next call, a client cost that would land on ours alone.
   */
  coldCallMs?: number;
  /** Why a client pinned to 2026-07-28 could not connect, per transport (ours only; the baseline must). */
  notServed: { stdio?: string; http?: string };
}
const modern: Record<ModernContender, ModernFig> = { "baseline-v2": { notServed: {} }, ours: { notServed: {} } };
const MODERN_CALLERS = Math.max(...CFG.sessions);
/** Both the v2 baseline and ours name the balance tool alike. */
const MODERN_TOOL = BALANCE_TOOL.ours;

/** The order contenders take in slice `i`: rotated each time, so none always runs first or last. */
function rotation<T>(items: readonly T[], i: number): T[] {
  const k = i % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
const ALL: readonly Who[] = ["floor", ...CONTENDERS];
const BLOCK = 250;
const SLICES = 3;

/**
 * Sequential calls over stdio (floor: undici), all four alive at once and measured in interleaved blocks of
 * BLOCK calls, so drift on a shared machine lands on all of them alike.
 */
async function stdioLatency(apiUrl: string): Promise<void> {
  const floor = floorCaller(apiUrl);
  const rpcs: Partial<Record<Contender, RawStdio>> = {};
  try {
    for (const who of CONTENDERS) {
      const rpc = (rpcs[who] = new RawStdio(stdioLaunch(who, apiUrl)));
      await rpc.handshake();
      const first = await rpc.call(BALANCE_TOOL[who]);
      const text = JSON.stringify(first.message?.result ?? first.message?.error);
      if (!ok(first) || !text.includes("balance_credits")) throw new Error(`${who}: ${BALANCE_TOOL[who]} did not return the balance: ${text}\n${rpc.stderr()}`);
    }
    const call: Record<Who, () => Promise<boolean>> = {
      floor: () => floor.call(),
      baseline: async () => ok(await rpcs.baseline!.call(BALANCE_TOOL.baseline)),
      peer: async () => ok(await rpcs.peer!.call(BALANCE_TOOL.peer)),
      ours: async () => ok(await rpcs.ours!.call(BALANCE_TOOL.ours)),
    };
    for (const who of ALL) for (let i = 0; i < CFG.warmup; i++) await call[who]();
    const lat: Record<Who, number[]> = { floor: [], baseline: [], peer: [], ours: [] };
    const errors: Record<Who, number> = { floor: 0, baseline: 0, peer: 0, ours: 0 };
    const cpu: Record<Contender, number> = { baseline: 0, peer: 0, ours: 0 };
    const blocks = Math.ceil(CFG.calls / BLOCK);
    const step = Math.max(1, Math.round(blocks / 4));
    for (let b = 0; b * BLOCK < CFG.calls; b++) {
      if (b > 0 && b % step === 0) progress(`  stdio latency: ${b * BLOCK}/${CFG.calls} calls each`);
      const n = Math.min(BLOCK, CFG.calls - b * BLOCK);
      for (const who of rotation(ALL, b)) {
        const pid = who === "floor" ? undefined : rpcs[who]!.pid;
        const cpu0 = pid === undefined ? 0 : cpuNs(pid);
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          const good = await call[who]();
          const ms = performance.now() - t0;
          if (good) lat[who].push(ms);
          else errors[who]++;
        }
        if (pid !== undefined) cpu[who as Contender] += cpuNs(pid) - cpu0;
      }
    }
    for (const who of CONTENDERS) fig[who].stdioCpuUs = cpu[who] / 1000 / CFG.calls;
    for (const who of ALL) {
      fig[who].p50 = percentile(lat[who], 50);
      fig[who].p99 = percentile(lat[who], 99);
      fig[who].latencyErrors = errors[who];
    }
  } finally {
    await floor.close();
    for (const rpc of Object.values(rpcs)) await rpc.close();
  }
}

/**
 * One concurrency level over Streamable HTTP: a target per contender (N sessions each, all open at once),
 * each warmed up, then measured in SLICES interleaved slices of seconds/SLICES.
 */
async function httpLevel(n: number, apiUrl: string, http: Partial<Record<Contender, Running>>): Promise<void> {
  const targets: Partial<Record<Who, LoadTarget>> = {};
  try {
    targets.floor = await floorTarget(apiUrl, n);
    for (const who of CONTENDERS) {
      const url = http[who]!.mcpUrl;
      targets[who] = CFG.httpClient === "sdk" ? await sdkMcpTarget(url, BALANCE_TOOL[who], n) : await rawMcpTarget(url, BALANCE_TOOL[who], n, who === "peer");
    }
    for (const who of ALL) await runFor(targets[who]!, CFG.warmSeconds);
    const total: Record<Who, LoadResult> = { floor: emptyResult(n), baseline: emptyResult(n), peer: emptyResult(n), ours: emptyResult(n) };
    const cpu: Record<Contender, number> = { baseline: 0, peer: 0, ours: 0 };
    for (let s = 0; s < SLICES; s++) {
      progress(`  HTTP ${n} session${n === 1 ? "" : "s"}: slice ${s + 1}/${SLICES}`);
      for (const who of rotation(ALL, s)) {
        const pid = who === "floor" ? undefined : http[who]!.pid;
        const cpu0 = pid === undefined ? 0 : cpuNs(pid);
        merge(total[who], await runFor(targets[who]!, CFG.seconds / SLICES));
        if (pid !== undefined) cpu[who as Contender] += cpuNs(pid) - cpu0;
      }
    }
    for (const who of ALL) fig[who].http.set(n, total[who]);
    for (const who of CONTENDERS) fig[who].httpCpuUs.set(n, total[who].calls ? cpu[who] / 1000 / total[who].calls : NaN);
  } finally {
    for (const t of Object.values(targets)) await t.close().catch(() => {});
  }
}

/** Spawn → initialize → tools/list answered, in ms; plus the tools/list answer's size on the wire. */
async function coldStart(who: Contender, apiUrl: string): Promise<{ ms: number; bytes: number; resultBytes: number; tools: number }> {
  const t0 = performance.now();
  const rpc = new RawStdio(stdioLaunch(who, apiUrl));
  try {
    await rpc.handshake();
    const list = await rpc.request("tools/list");
    const ms = performance.now() - t0;
    const tools = (list.message?.result?.tools as unknown[] | undefined)?.length ?? 0;
    if (tools === 0) throw new Error(`${who}: tools/list failed: ${JSON.stringify(list.message)}\n${rpc.stderr()}`);
    return { ms, bytes: list.bytes, resultBytes: Buffer.byteLength(JSON.stringify(list.message?.result)), tools };
  } finally {
    await rpc.close();
  }
}

async function idleRss(who: Contender, apiUrl: string): Promise<number> {
  const rpc = new RawStdio(stdioLaunch(who, apiUrl));
  try {
    await rpc.handshake();
    await rpc.request("tools/list");
    for (let i = 0; i < 20; i++) await rpc.call(BALANCE_TOOL[who]);
    await sleep(300);
    return readRss(rpc.pid).rssMb;
  } finally {
    await rpc.close();
  }
}

/** The whole ledger through a contender over stdio (no limit): peak RSS (VmHWM) and time. */
async function ledgerPass(who: Contender, apiUrl: string): Promise<void> {
  const tool = LEDGER_TOOL[who]!;
  const rpc = new RawStdio(stdioLaunch(who, apiUrl));
  try {
    await rpc.handshake();
    for (let i = 0; i < 20; i++) await rpc.call(BALANCE_TOOL[who]);
    await sleep(300);
    fig[who].ledgerIdleMb = readRss(rpc.pid).rssMb;
    const t0 = performance.now();
    const answer = await Promise.race([rpc.call(tool), sleep(LEDGER_TIMEOUT_MS).then(() => undefined)]);
    const seconds = (performance.now() - t0) / 1000;
    const rss = readRss(rpc.pid);
    if (answer === undefined) {
      fig[who].ledgerNote = `no answer within ${LEDGER_TIMEOUT_MS / 1000} s`;
      fig[who].ledgerHwmMb = rss.hwmMb;
      return;
    }
    if (!ok(answer)) {
      fig[who].ledgerNote = `error: ${JSON.stringify(answer.message?.error ?? answer.message?.result).slice(0, 300)}`;
      return;
    }
    fig[who].ledgerSeconds = seconds;
    fig[who].ledgerHwmMb = rss.hwmMb;
    const sc = answer.message?.result?.structuredContent as { count?: number; truncated?: boolean } | undefined;
    // Ours reads one --max-rows page (plus one row) of the ledger since issue 12, not the whole of it.
    if (sc?.truncated === true) fig[who].ledgerNote = `read a ${sc.count}-row page, not the ${CFG.ledgerRows} rows (the rest is never read)`;
    if (answer.message === undefined) fig[who].ledgerNote = `answered with one ${fmt(answer.bytes / 1e6, 0)} MB line`;
  } finally {
    await rpc.close();
  }
}


/**
 * Connects a pinned client over stdio; for ours, a "not served" failure is recorded rather than thrown (the
 * baseline v2 must always connect).
 */
async function modernConnect(who: ModernContender, apiUrl: string): Promise<ModernStdio | undefined> {
  try {
    return await modernStdio(stdioLaunch(who, apiUrl), MODERN_TOOL);
  } catch (err) {
    if (who === "ours" && isNotServed(err)) {
      modern.ours.notServed.stdio = (err as Error).message.split("\n")[0];
      return undefined;
    }
    throw err;
  }
}

/** 2026-07-28 over stdio: sequential calls on one connection each, interleaved in blocks as above. */
async function modernStdioLatency(apiUrl: string): Promise<void> {
  const conns: Partial<Record<ModernContender, ModernStdio>> = {};
  try {
    for (const who of MODERN_CONTENDERS) {
      const c = await modernConnect(who, apiUrl);
      if (!c) continue;
      conns[who] = c;
      const text = await c.callText();
      if (!text.includes("balance_credits")) throw new Error(`${who} (${MODERN_VERSION}): ${MODERN_TOOL} did not return the balance: ${text}\n${c.stderr()}`);
    }
    const active = MODERN_CONTENDERS.filter((w) => conns[w] !== undefined);
    for (const who of active) for (let i = 0; i < CFG.warmup; i++) await conns[who]!.call();
    const lat: Record<ModernContender, number[]> = { "baseline-v2": [], ours: [] };
    const errors: Record<ModernContender, number> = { "baseline-v2": 0, ours: 0 };
    for (let b = 0; b * BLOCK < CFG.calls; b++) {
      const n = Math.min(BLOCK, CFG.calls - b * BLOCK);
      for (const who of rotation(active, b)) {
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          const good = await conns[who]!.call().catch(() => false);
          const ms = performance.now() - t0;
          if (good) lat[who].push(ms);
          else errors[who]++;
        }
      }
    }
    for (const who of active) {
      modern[who].p50 = percentile(lat[who], 50);
      modern[who].p99 = percentile(lat[who], 99);
      modern[who].latencyErrors = errors[who];
    }
  } finally {
    for (const c of Object.values(conns)) await c.close().catch(() => {});
  }
}

/** 2026-07-28 cold start: spawn → server/discover → first tools/call answered, round-robin, medians. */
async function modernColdStart(apiUrl: string): Promise<void> {
  const active = MODERN_CONTENDERS.filter((w) => modern[w].notServed.stdio === undefined);
  const call: Record<ModernContender, number[]> = { "baseline-v2": [], ours: [] };
  for (let run = 0; run <= CFG.coldRuns; run++) {
    for (const who of active) {
      const t0 = performance.now();
      const c = await modernConnect(who, apiUrl);
      if (!c) throw new Error(`${who} (${MODERN_VERSION}): not served on a cold start after serving it for the latency run`);
      try {
        const good = await c.call();
        const ms = performance.now() - t0;
        if (!good) throw new Error(`${who} (${MODERN_VERSION}) cold start: the first call failed\n${c.stderr()}`);
        if (run > 0) call[who].push(ms);
      } finally {
        await c.close();
      }
    }
  }
  for (const who of active) modern[who].coldCallMs = median(call[who]);
}

/** 2026-07-28 on stateless Streamable HTTP: MODERN_CALLERS pinned clients per contender, interleaved slices. */
async function modernHttp(apiUrl: string): Promise<void> {
  const running: Partial<Record<ModernContender, Running>> = {};
  const targets: Partial<Record<ModernContender, LoadTarget>> = {};
  try {
    for (const who of MODERN_CONTENDERS) running[who] = await startHttp(who, apiUrl);
    for (const who of MODERN_CONTENDERS) {
      try {
        targets[who] = await modernHttpTarget(running[who]!.mcpUrl, MODERN_TOOL, MODERN_CALLERS);
      } catch (err) {
        if (who === "ours" && isNotServed(err)) modern.ours.notServed.http = (err as Error).message.split("\n")[0];
        else throw err;
      }
    }
    const active = MODERN_CONTENDERS.filter((w) => targets[w] !== undefined);
    for (const who of active) await runFor(targets[who]!, CFG.warmSeconds);
    const total: Record<ModernContender, LoadResult> = { "baseline-v2": emptyResult(MODERN_CALLERS), ours: emptyResult(MODERN_CALLERS) };
    for (let s = 0; s < SLICES; s++) {
      progress(`  ${MODERN_VERSION} HTTP ${MODERN_CALLERS} callers: slice ${s + 1}/${SLICES}`);
      for (const who of rotation(active, s)) merge(total[who], await runFor(targets[who]!, CFG.seconds / SLICES));
    }
    for (const who of active) modern[who].http = total[who];
  } finally {
    for (const t of Object.values(targets)) await t.close().catch(() => {});
    for (const r of Object.values(running)) await r.stop().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------
const loadAtStart = loadavg()[0]!;

async function main(): Promise<0 | 1> {
  const startedAt = performance.now();
  checkOpenApi();
  progress(`upstream: sandbox API with a ${CFG.ledgerRows.toLocaleString("en-US")}-row ledger in a child process`);
  const up: Upstream = await startUpstream(CFG.ledgerRows);
  const running: Running[] = [];
  try {
    // 1. Latency over stdio, sequential calls, interleaved.
    progress(`stdio latency: ${CFG.warmup} warm-up + ${CFG.calls} sequential calls each, in interleaved blocks of ${BLOCK}`);
    await stdioLatency(up.url);
    await up.reset();

    // 2. Cold start, round-robin so drift hits all three alike; the first round only warms the file cache.
    progress(`cold start: 1 + ${CFG.coldRuns} spawns each`);
    const cold: Record<Contender, number[]> = { baseline: [], peer: [], ours: [] };
    for (let run = 0; run <= CFG.coldRuns; run++) {
      if (run > 0 && run % Math.max(1, Math.round(CFG.coldRuns / 3)) === 0) progress(`  cold start: ${run}/${CFG.coldRuns}`);
      for (const who of CONTENDERS) {
        const c = await coldStart(who, up.url);
        fig[who].listBytes = c.bytes;
        fig[who].listResultBytes = c.resultBytes;
        fig[who].listTools = c.tools;
        if (run > 0) cold[who].push(c.ms);
      }
    }
    for (const who of CONTENDERS) {
      fig[who].coldMs = median(cold[who]);
      fig[who].coldSamples = cold[who];
    }

    // 3. Throughput over Streamable HTTP: all servers up at once, idle while another is measured.
    progress(`HTTP: ${CFG.sessions.join("/")} sessions × ${CFG.warmSeconds} s warm-up + ${CFG.seconds} s each, in ${SLICES} interleaved slices`);
    const http: Partial<Record<Contender, Running>> = {};
    for (const who of CONTENDERS) {
      http[who] = await startHttp(who, up.url);
      running.push(http[who]!);
    }
    for (const n of CFG.sessions) {
      await httpLevel(n, up.url, http);
      await up.reset();
    }
    for (const r of running.splice(0)) await r.stop();

    // 4. The 2026-07-28 path: ours against the thin v2 baseline, both through a client pinned to it.
    progress(`${MODERN_VERSION}: stdio latency (${CFG.warmup} + ${CFG.calls} calls), cold start (1 + ${CFG.coldRuns}), stateless HTTP at ${MODERN_CALLERS} callers`);
    await modernStdioLatency(up.url);
    if (modern.ours.notServed.stdio) progress(`  ours over stdio: ${NOT_SERVED} (${modern.ours.notServed.stdio})`);
    await modernColdStart(up.url);
    await up.reset();
    await modernHttp(up.url);
    if (modern.ours.notServed.http) progress(`  ours over HTTP: ${NOT_SERVED} (${modern.ours.notServed.http})`);
    await up.reset();

    // 5. Memory: idle RSS of each, then the whole ledger through ours (and the peer) over stdio.
    progress("RSS: idle, then the whole ledger (no limit) through ours and the peer");
    for (const who of CONTENDERS) fig[who].idleRssMb = await idleRss(who, up.url);
    await floorLedger(up.url); // unmeasured: warms the upstream's row generator (JIT) so no contender pays for it
    const fl = await floorLedger(up.url);
    fig.floor.ledgerSeconds = fl.seconds;
    fig.floor.ledgerNote = `${fmt(fl.bytes / 1e6, 0)} MB of NDJSON`;
    progress(`  the ${CFG.ledgerRows.toLocaleString("en-US")}-row ledger through ours`);
    await ledgerPass("ours", up.url);
    if (CFG.peerLedger) {
      progress(`  the ${CFG.ledgerRows.toLocaleString("en-US")}-row ledger through the peer (it buffers the whole answer: the slowest step)`);
      await ledgerPass("peer", up.url);
    }
  } finally {
    for (const r of running) await r.stop().catch(() => {});
    await up.close().catch(() => {});
    cleanStateDirs();
  }
  return report((performance.now() - startedAt) / 1000);
}

// ---------------------------------------------------------------------------------------------------------
function report(totalSeconds: number): 0 | 1 {
  const f = fig;
  const row = (label: string, vals: (string | undefined)[]) => `| ${label} | ${vals.map((v) => v ?? "–").join(" | ")} |`;
  const lines: string[] = [];
  lines.push("| Figure | floor | baseline | peer | ours | ours ÷ baseline | ours ÷ peer | ours − floor |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|");
  lines.push(row("stdio latency p50 (ms)", [fmt(f.floor.p50, 3), fmt(f.baseline.p50, 3), fmt(f.peer.p50, 3), fmt(f.ours.p50, 3), fmtRatio(ratio(f.ours.p50, f.baseline.p50)), fmtRatio(ratio(f.ours.p50, f.peer.p50)), `+${fmt((f.ours.p50 ?? NaN) - (f.floor.p50 ?? NaN), 3)} ms`]));
  lines.push(row("stdio latency p99 (ms)", [fmt(f.floor.p99, 3), fmt(f.baseline.p99, 3), fmt(f.peer.p99, 3), fmt(f.ours.p99, 3), fmtRatio(ratio(f.ours.p99, f.baseline.p99)), fmtRatio(ratio(f.ours.p99, f.peer.p99)), `+${fmt((f.ours.p99 ?? NaN) - (f.floor.p99 ?? NaN), 3)} ms`]));
  for (const n of CFG.sessions) {
    const cps = (w: Who) => f[w].http.get(n)?.callsPerSec;
    lines.push(row(`HTTP calls/s, ${n} session${n === 1 ? "" : "s"}`, [fmt(cps("floor"), 0), fmt(cps("baseline"), 0), fmt(cps("peer"), 0), fmt(cps("ours"), 0), fmtRatio(ratio(cps("ours"), cps("baseline"))), fmtRatio(ratio(cps("ours"), cps("peer"))), fmtRatio(ratio(cps("ours"), cps("floor"))) + " of floor"]));
  }
  for (const n of CFG.sessions) {
    const p = (w: Who) => percentile(f[w].http.get(n)?.latenciesMs ?? [], 50);
    lines.push(row(`HTTP call p50 at ${n} session${n === 1 ? "" : "s"} (ms)`, [fmt(p("floor"), 2), fmt(p("baseline"), 2), fmt(p("peer"), 2), fmt(p("ours"), 2), fmtRatio(ratio(p("ours"), p("baseline"))), fmtRatio(ratio(p("ours"), p("peer"))), `+${fmt(p("ours") - p("floor"), 2)} ms`]));
  }
  const cpuRow = (label: string, v: (w: Contender) => number | undefined) =>
    lines.push(row(label, [undefined, fmt(v("baseline"), 0), fmt(v("peer"), 0), fmt(v("ours"), 0), fmtRatio(ratio(v("ours"), v("baseline"))), fmtRatio(ratio(v("ours"), v("peer"))), undefined]));
  cpuRow("server CPU per stdio call (µs)", (w) => f[w].stdioCpuUs);
  for (const n of CFG.sessions) cpuRow(`server CPU per HTTP call, ${n} session${n === 1 ? "" : "s"} (µs)`, (w) => f[w].httpCpuUs.get(n));
  lines.push(row("cold start to tools/list, median (ms)", [undefined, fmt(f.baseline.coldMs, 0), fmt(f.peer.coldMs, 0), fmt(f.ours.coldMs, 0), fmtRatio(ratio(f.ours.coldMs, f.baseline.coldMs)), fmtRatio(ratio(f.ours.coldMs, f.peer.coldMs)), undefined]));
  const lb = (w: Contender) => (f[w].listBytes === undefined ? undefined : `${f[w].listBytes!.toLocaleString("en-US")} (${f[w].listTools} tool${f[w].listTools === 1 ? "" : "s"})`);
  lines.push(row("tools/list answer on the wire (bytes)", [undefined, lb("baseline"), lb("peer"), lb("ours"), undefined, fmtRatio(ratio(f.ours.listBytes, f.peer.listBytes)), undefined]));
  lines.push(row("idle RSS after 20 calls (MB)", [undefined, fmt(f.baseline.idleRssMb, 1), fmt(f.peer.idleRssMb, 1), fmt(f.ours.idleRssMb, 1), fmtRatio(ratio(f.ours.idleRssMb, f.baseline.idleRssMb)), fmtRatio(ratio(f.ours.idleRssMb, f.peer.idleRssMb)), undefined]));
  const rowsLabel = CFG.ledgerRows.toLocaleString("en-US");
  lines.push(row(`peak RSS (VmHWM) passing the ${rowsLabel}-row ledger (MB)`, [undefined, "(no ledger tool)", f.peer.ledgerHwmMb !== undefined ? fmt(f.peer.ledgerHwmMb, 1) : !CFG.peerLedger ? "(skipped)" : f.peer.ledgerNote ? "failed (see notes)" : undefined, fmt(f.ours.ledgerHwmMb, 1), undefined, fmtRatio(ratio(f.ours.ledgerHwmMb, f.peer.ledgerHwmMb)), undefined]));
  lines.push(row(`time to pass the ${rowsLabel}-row ledger (s)`, [fmt(f.floor.ledgerSeconds, 2), undefined, f.peer.ledgerSeconds === undefined && f.peer.ledgerNote ? "failed (see notes)" : fmt(f.peer.ledgerSeconds, 2), fmt(f.ours.ledgerSeconds, 2), undefined, fmtRatio(ratio(f.ours.ledgerSeconds, f.peer.ledgerSeconds)), fmtRatio(ratio(f.ours.ledgerSeconds, f.floor.ledgerSeconds)) + " of floor"]));

  // The 2026-07-28 path: its own table, ours against the thin v2 baseline.
  const m = modern;
  const mLines: string[] = [];
  const callersLabel = `${MODERN_CALLERS} caller${MODERN_CALLERS === 1 ? "" : "s"}`;
  mLines.push(`| Figure (${MODERN_VERSION}, v2 SDK client pinned to it) | baseline v2 | ours (${MODERN_VERSION}) | ours ÷ baseline v2 |`);
  mLines.push("|---|---:|---:|---:|");
  const mRow = (label: string, transport: "stdio" | "http", v: (w: ModernContender) => number | undefined, digits: number) => {
    const gone = m.ours.notServed[transport] !== undefined;
    mLines.push(row(label, [fmt(v("baseline-v2"), digits), gone ? NOT_SERVED : fmt(v("ours"), digits), gone ? undefined : fmtRatio(ratio(v("ours"), v("baseline-v2")))]));
  };
  mRow("stdio latency p50 (ms)", "stdio", (w) => m[w].p50, 3);
  mRow("stdio latency p99 (ms)", "stdio", (w) => m[w].p99, 3);
  mRow(`stateless HTTP calls/s, ${callersLabel}`, "http", (w) => m[w].http?.callsPerSec, 0);
  mRow(`stateless HTTP call p50 at ${callersLabel} (ms)`, "http", (w) => (m[w].http ? percentile(m[w].http!.latenciesMs, 50) : undefined), 2);
  mRow("cold start to first tools/call, median (ms)", "stdio", (w) => m[w].coldCallMs, 0);

  // Goals.
  const goals: Goal[] = [];
  const g = (goal: string, measured: string, pass: boolean | undefined) => goals.push({ goal, measured, pass });
  const r50 = ratio(f.ours.p50, f.baseline.p50);
  g("stdio p50 ≤ 1.15× baseline", `${fmt(f.ours.p50, 3)} vs ${fmt(f.baseline.p50, 3)} ms = ${fmtRatio(r50)}`, r50 === undefined ? undefined : r50 <= 1.15);
  const above = (f.ours.p50 ?? NaN) - (f.floor.p50 ?? NaN);
  g("stdio p50 ≤ floor + 1 ms", `+${fmt(above, 3)} ms`, Number.isFinite(above) ? above <= 1 : undefined);
  for (const n of CFG.sessions) {
    const rb = ratio(f.ours.http.get(n)?.callsPerSec, f.baseline.http.get(n)?.callsPerSec);
    g(`HTTP calls/s ≥ 0.9× baseline (${n} session${n === 1 ? "" : "s"})`, fmtRatio(rb), rb === undefined ? undefined : rb >= 0.9);
  }
  for (const n of CFG.sessions) {
    const rp = ratio(f.ours.http.get(n)?.callsPerSec, f.peer.http.get(n)?.callsPerSec);
    g(`HTTP calls/s ≥ 3× peer (${n} session${n === 1 ? "" : "s"})`, fmtRatio(rp), rp === undefined ? undefined : rp >= 3);
  }
  const rc = ratio(f.ours.coldMs, f.baseline.coldMs);
  g("cold start ≤ 1.2× baseline", `${fmt(f.ours.coldMs, 0)} vs ${fmt(f.baseline.coldMs, 0)} ms = ${fmtRatio(rc)}`, rc === undefined ? undefined : rc <= 1.2);
  g("tools/list ≤ 8 KB (8,192 bytes on the wire)", `${f.ours.listBytes?.toLocaleString("en-US")} bytes (result object alone ${f.ours.listResultBytes?.toLocaleString("en-US")})`, f.ours.listBytes === undefined ? undefined : f.ours.listBytes <= 8192);
  const limit = (f.baseline.idleRssMb ?? NaN) + 48;
  g(`peak RSS in the ${rowsLabel}-row stream ≤ baseline idle + 48 MB`, `${fmt(f.ours.ledgerHwmMb, 1)} vs ${fmt(limit, 1)} MB`, f.ours.ledgerHwmMb === undefined || !Number.isFinite(limit) ? undefined : f.ours.ledgerHwmMb <= limit);

  goals.push(
    ...modernGoals({
      callers: MODERN_CALLERS,
      served: { stdio: m.ours.notServed.stdio === undefined, http: m.ours.notServed.http === undefined },
      p50: { baseline: m["baseline-v2"].p50, ours: m.ours.p50 },
      callsPerSec: { baseline: m["baseline-v2"].http?.callsPerSec, ours: m.ours.http?.callsPerSec },
      coldMs: { baseline: m["baseline-v2"].coldCallMs, ours: m.ours.coldCallMs },
    }),
  );

  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  const out: string[] = [];
  out.push(`## Benchmark — ${new Date().toISOString().slice(0, 10)}, ${availableParallelism()} cores (nproc), ${cpu}, Node ${process.version}${quick ? " — QUICK MODE, not the figures the goals are stated for" : ""}`);
  out.push("");
  out.push(...lines);
  out.push("");
  out.push(...mLines);
  out.push("");
  out.push("| Goal | Measured | Result |");
  out.push("|---|---|---|");
  for (const x of goals) out.push(`| ${x.goal} | ${x.measured} | ${x.pass === undefined ? "n/a" : x.pass ? "PASS" : "FAIL"} |`);
  out.push("");
  const met = goals.filter((x) => x.pass === true).length;
  out.push(`Goals met: ${met}/${goals.length}.`);
  out.push("");
  out.push("Method:");
  out.push(`- Upstream: the embedded sandbox API (src/sandbox) in a child process, ${rowsLabel}-row ledger; the same process for every contender. The balance call is POST /v1/op/billing.credits.balance (one NDJSON row).`);
  out.push(`- stdio latency: a bare JSON-RPC client on the child's pipes (no SDK on the client side), ${CFG.warmup} warm-up then ${CFG.calls} sequential balance calls each; all four alive at once and measured in interleaved blocks of ${BLOCK} calls (order rotated per block); floor = the same request by undici on one keep-alive connection.`);
  const driver =
    CFG.httpClient === "sdk"
      ? "the SDK's Client + StreamableHTTPClientTransport, one per session"
      : "a lean Streamable HTTP driver (bench/lib/rawhttp.ts: undici keep-alive, hand-written JSON-RPC, answers read from the POST's JSON/SSE body or, for the peer, from the session's GET stream), one session per loop";
  out.push(`- HTTP: ${driver}, each session calling the balance tool back to back for ${CFG.seconds} s (in ${SLICES} slices interleaved with the other contenders, order rotated) after ${CFG.warmSeconds} s warm-up; every session initializes first and sends its own Authorization: Bearer. Floor = N concurrent undici loops on N keep-alive connections. The driver runs in the bench process and shares the ${availableParallelism()} cores with the server and the upstream.`);
  out.push(`- Cold start: spawn → initialize → tools/list answered, median of ${CFG.coldRuns} (after one unmeasured spawn). tools/list bytes = the answer's JSON-RPC line on stdout.`);
  out.push(
    `- ${MODERN_VERSION} path: ours against the thin v2 baseline (bench/baseline-v2-server.ts: the v1 baseline's one forwarding tool on @modelcontextprotocol/server, serveStdio over stdio, createMcpHandler + toNodeHandler over HTTP, both in their default posture). Both are driven by @modelcontextprotocol/client's Client with versionNegotiation { mode: { pin: "${MODERN_VERSION}" } } (server/discover at connect, no fallback; over stdio a StdioClientTransport subclass, so the probe runs in place on the one child instead of a sibling spawn): stdio latency = ${CFG.warmup} warm-up then ${CFG.calls} sequential balance calls on one connection each, interleaved in blocks of ${BLOCK}; cold start = spawn → server/discover → first tools/call answered (no tools/list first: after one the client compiles an output-schema validator per listed tool on the next call, ours' 15 against the baseline's none), median of ${CFG.coldRuns} after one unmeasured; HTTP = ${MODERN_CALLERS} pinned clients (own bearer each, no session: one POST per call) calling back to back for ${CFG.seconds} s in ${SLICES} interleaved slices after ${CFG.warmSeconds} s warm-up. The SDK client's own cost is in both contenders' figures; the 2025 rows above use bare drivers. "${NOT_SERVED}" = the pinned connect failed with EraNegotiationFailed: ${m.ours.notServed.stdio || m.ours.notServed.http ? [m.ours.notServed.stdio && `stdio: ${m.ours.notServed.stdio}`, m.ours.notServed.http && `HTTP: ${m.ours.notServed.http}`].filter(Boolean).join("; ") : "not the case in this run"}.`,
  );
  out.push("- Server CPU per call: CPU time of the server process, all threads (/proc/<pid>/task/*/schedstat), summed over its own measured blocks/slices and divided by its calls; steadier than latency or calls/s when other work shares the machine. Not a goal, a diagnostic.");
  out.push("- RSS: /proc/<pid>/status of the server process; idle = VmRSS after initialize, tools/list and 20 calls; peak = VmHWM after the ledger call without limit returned (ours keeps 100 rows and counts the rest; the peer buffers the whole answer).");
  out.push("- Contenders run with their defaults: stderr of every server goes to a file (ours logs one JSON line per call there); the peer runs with --verbose false (its quietest). Errors during a measurement are counted, not timed:");
  const errs: string[] = [];
  for (const w of ["floor", ...CONTENDERS] as Who[]) {
    if (f[w].latencyErrors) errs.push(`${w} stdio: ${f[w].latencyErrors}`);
    for (const [n, r] of f[w].http) if (r.errors) errs.push(`${w} HTTP ${n}: ${r.errors} (${r.firstError?.slice(0, 120)})`);
    if (f[w].ledgerNote) errs.push(`${w} ledger: ${f[w].ledgerNote}`);
  }
  for (const w of MODERN_CONTENDERS) {
    if (m[w].latencyErrors) errs.push(`${w} ${MODERN_VERSION} stdio: ${m[w].latencyErrors}`);
    const r = m[w].http;
    if (r?.errors) errs.push(`${w} ${MODERN_VERSION} HTTP ${r.sessions}: ${r.errors} (${r.firstError?.slice(0, 120)})`);
  }
  out.push(`  ${errs.length ? errs.join("; ") : "none"}.`);
  out.push(`- Whole run: ${fmt(totalSeconds, 0)} s. 1-minute load average ${fmt(loadAtStart, 2)} at start, ${fmt(loadavg()[0], 2)} at end (the bench itself keeps about 2 busy); anything else running on the machine shifts absolute figures more than ratios.`);
  process.stdout.write(out.join("\n") + "\n");
  const v = verdict(goals, opt["report-only"]!);
  progress(v.line.replace(/^bench: /, ""));
  return v.code;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    killAll();
    process.exit(1);
  },
);
