// Profiles one contender under the bench's load with `node --cpu-prof` and prints where its CPU went:
// self time by function (with file:line) and by file/package. For finding the cause of a missed goal.
//
//   node dist/bench/profile.js [--who ours|baseline|peer] [--mode stdio|http|cold|ledger] [--sessions 16]
//                              [--seconds 5] [--calls 5000] [--top 25]
import { parseArgs } from "node:util";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { RawStdio } from "./lib/rawstdio.js";
import { rawMcpTarget, runFor } from "./lib/load.js";
import { killAll } from "./lib/children.js";
import { BALANCE_TOOL, LEDGER_TOOL, REPO, cleanStateDirs, startHttp, startUpstream, stdioLaunch, type Contender } from "./lib/targets.js";

const { values: o } = parseArgs({
  options: {
    who: { type: "string", default: "ours" },
    mode: { type: "string", default: "stdio" },
    sessions: { type: "string", default: "16" },
    seconds: { type: "string", default: "5" },
    calls: { type: "string", default: "5000" },
    top: { type: "string", default: "25" },
    "ledger-rows": { type: "string", default: "1000000" },
  },
});
const who = o.who as Contender;
const mode = o.mode as "stdio" | "http" | "cold" | "ledger";
const dir = mkdtempSync(join(tmpdir(), "gbm-prof-"));
const PROF = ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "200"];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function summarize(file: string, top: number): void {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const where = (url: string) => {
    if (!url) return "(native/idle)";
    const path = url.replace(/^file:\/\//, "");
    const nm = path.lastIndexOf("/node_modules/");
    if (nm >= 0) return path.slice(nm + 14);
    return path.startsWith("node:") ? path : relative(REPO, path);
  };
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || "(anonymous)"}  ${where(f.url)}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const pkg = where(f.url).replace(/^(@[^/]+\/[^/]+|[^/@][^/]*)\/.*$/, (m, a: string) => (f.url.includes("/node_modules/") ? a : m));
    files.set(pkg, (files.get(pkg) ?? 0) + us);
  }
  // Inclusive ("total") time of the project's own functions: a sample counts for every distinct project
  // function on its stack. Shows which of our steps a call's time is spent under.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownKey = (f: ProfileNode["callFrame"]) => (f.url.includes("/dist/src/") && !f.url.includes("/node_modules/") ? `${f.functionName || "(anonymous)"}  ${where(f.url)}:${f.lineNumber + 1}` : undefined);
  const inclusive = new Map<string, number>();
  p.samples.forEach((leaf, i) => {
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const key = ownKey(byId.get(id)!.callFrame);
      if (key && !seen.has(key)) {
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
      }
    }
  });
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}\ntotal sampled ${(total / 1000).toFixed(0)} ms\n\nself time by function:`);
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
  console.log("\ninclusive time of the project's own functions (dist/src):");
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
  console.log("\nself time by file / package:");
  for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
}

async function main(): Promise<void> {
  const up = await startUpstream(Number(o["ledger-rows"]));
  try {
    if (mode === "http") {
      const srv = await startHttp(who, up.url, PROF);
      const target = await rawMcpTarget(srv.mcpUrl, BALANCE_TOOL[who], Number(o.sessions), who === "peer");
      await runFor(target, 1);
      const r = await runFor(target, Number(o.seconds));
      await target.close();
      console.log(`${who} http ${o.sessions} sessions: ${r.callsPerSec.toFixed(0)} calls/s, ${r.errors} errors`);
      await srv.stop();
    } else {
      const launch = stdioLaunch(who, up.url);
      const runs = mode === "cold" ? 10 : 1;
      for (let i = 0; i < runs; i++) {
        const rpc = new RawStdio({ ...launch, args: [...PROF, ...launch.args] });
        await rpc.handshake();
        await rpc.request("tools/list");
        if (mode === "stdio") {
          const t0 = performance.now();
          for (let c = 0; c < Number(o.calls); c++) await rpc.call(BALANCE_TOOL[who]);
          console.log(`${who} stdio: ${((performance.now() - t0) / Number(o.calls)).toFixed(3)} ms/call`);
        } else if (mode === "ledger") {
          const t0 = performance.now();
          await rpc.call(LEDGER_TOOL[who]!);
          console.log(`${who} ledger: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
        }
        await rpc.close();
      }
    }
  } finally {
    await up.close();
    cleanStateDirs();
  }
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`no profile written in ${dir} (did the server exit normally?)`);
  // For cold starts, one profile per spawn: show the last (warm file cache).
  summarize(join(dir, files.sort().at(-1)!), Number(o.top));
  console.log(`\nprofiles kept in ${dir}`);
  if (process.env.GBM_PROF_CLEAN) rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    killAll();
    process.exit(1);
  },
);
