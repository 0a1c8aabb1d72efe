#!/usr/bin/env node
// `npm run bundle`: builds dist/<name>-<version>.mcpb, the MCP Bundle Claude Desktop installs with one click.
// 1. Stage a copy holding only manifest.json, package.json, package-lock.json, README.md, .mcpbignore and
//    dist/src, and install production dependencies into it (npm ci --omit=dev --ignore-scripts: the
//    lockfile's exact versions, no devDependencies, no build step).
// 2. `mcpb validate` the manifest, `mcpb pack` the staging copy (.mcpbignore trims node_modules).
// 3. Check the result: `mcpb unpack` it, refuse it if anything but dist/src, node_modules and the
//    top-level files got in (or a devDependency did), and start the unpacked server on its embedded
//    sandbox: initialize, tools/list (15 tools), tools/call billing_credits_balance.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const mcpb = join(root, "node_modules", ".bin", "mcpb");
const out = join(root, "dist", `${pkg.name}-${pkg.version}.mcpb`);
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: "inherit" });

if (!existsSync(join(root, "dist", "src", "cli.js"))) throw new Error("dist/src/cli.js is missing: run the build first");
const stage = mkdtempSync(join(tmpdir(), "gbm-mcpb-stage-"));
const unpacked = mkdtempSync(join(tmpdir(), "gbm-mcpb-check-"));
try {
  for (const f of ["manifest.json", "package.json", "package-lock.json", "README.md", ".mcpbignore"]) cpSync(join(root, f), join(stage, f));
  cpSync(join(root, "dist", "src"), join(stage, "dist", "src"), { recursive: true });
  run("npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], stage);

  run(mcpb, ["validate", join(stage, "manifest.json")]);
  mkdirSync(join(root, "dist"), { recursive: true });
  rmSync(out, { force: true });
  run(mcpb, ["pack", stage, out]);

  // What went in.
  run(mcpb, ["unpack", out, unpacked]);
  const top = readdirSync(unpacked).sort();
  const allowed = ["README.md", "dist", "manifest.json", "node_modules", "package.json"];
  const extra = top.filter((f) => !allowed.includes(f));
  if (extra.length) throw new Error(`unexpected files in the bundle: ${extra.join(", ")}`);
  const distDirs = readdirSync(join(unpacked, "dist"));
  if (distDirs.join() !== "src") throw new Error(`dist/ in the bundle holds ${distDirs.join(", ")}; expected only src`);
  const dev = Object.keys(pkg.devDependencies ?? {}).filter((d) => existsSync(join(unpacked, "node_modules", d)));
  if (dev.length) throw new Error(`devDependencies in the bundle: ${dev.join(", ")}`);
  const missing = Object.keys(pkg.dependencies ?? {}).filter((d) => !existsSync(join(unpacked, "node_modules", d, "package.json")));
  if (missing.length) throw new Error(`dependencies missing from the bundle: ${missing.join(", ")}`);

  // Does it run? The unpacked server against its own embedded sandbox, over stdio.
  const answers = await smoke(join(unpacked, "dist", "src", "cli.js"));
  const tools = answers.get(2)?.result?.tools?.length;
  const balance = answers.get(3)?.result?.structuredContent?.balance_credits;
  if (tools !== 15 || typeof balance !== "number") throw new Error(`the unpacked bundle did not serve: tools=${tools}, balance=${balance}`);
  const files = countFiles(unpacked);
  console.log(`\nbundle: ${out}\n  ${(statSync(out).size / 1024).toFixed(0)} KiB packed, ${files} files; runs: ${tools} tools, sandbox balance ${balance} credits`);
} finally {
  rmSync(stage, { recursive: true, force: true });
  rmSync(unpacked, { recursive: true, force: true });
}

function countFiles(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1;
  return n;
}

/** initialize → tools/list → tools/call billing_credits_balance on `node cli --sandbox`; answers by id. */
function smoke(cli) {
  const state = mkdtempSync(join(tmpdir(), "gbm-mcpb-state-"));
  const child = spawn(process.execPath, [cli, "--sandbox", "--state-dir", state, "--log-level", "warn"], { stdio: ["pipe", "pipe", "inherit"], env: { PATH: process.env.PATH ?? "" } });
  const answers = new Map();
  const send = (m) => child.stdin.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\n");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill(), reject(new Error("the unpacked bundle did not answer within 15 s"))), 15_000);
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.id === undefined) continue;
        answers.set(msg.id, msg);
        if (msg.id === 1) {
          send({ method: "notifications/initialized" });
          send({ id: 2, method: "tools/list" });
          send({ id: 3, method: "tools/call", params: { name: "billing_credits_balance", arguments: {} } });
        }
        if (answers.has(2) && answers.has(3)) {
          clearTimeout(timer);
          child.stdin.end();
        }
      }
    });
    child.on("exit", () => {
      clearTimeout(timer);
      rmSync(state, { recursive: true, force: true });
      resolve(answers);
    });
    send({ id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bundle-check", version: "1.0.0" } } });
  });
}
