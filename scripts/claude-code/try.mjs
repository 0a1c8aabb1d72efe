// Drives a real Claude Code (the `claude` CLI) against this server, offline, the way the README tells a
// person to set it up, and checks what the person and the agent see:
//   1. `claude mcp add … -- node dist/src/cli.js --sandbox`, then `claude mcp list` says ✔ Connected; the same
//      again for hosted mode (`--transport http`, `claude mcp add --transport http … --header Authorization`),
//      and a read over the legacy SSE transport (`claude mcp add --transport sse …/sse`);
//   2. `claude -p` calls billing_credits_balance: the agent gets the balance;
//   3. `claude -p` calls billing_topup: nobody can answer the form, Claude Code cancels, nothing is charged;
//   4. the interactive terminal UI (in tmux): billing_topup shows the confirmation form; ticking the box and
//      accepting charges once; the next top-up, declined, charges nothing.
// The model is fake-model-api.mjs on loopback (Claude Code's ANTHROPIC_BASE_URL); the billing API is the
// server's embedded sandbox. Run by hand (not part of npm test: Claude Code is not a dependency):
//
//   npm install -g @anthropic-ai/claude-code --allow-scripts=@anthropic-ai/claude-code
//   npm run build && node scripts/claude-code/try.mjs     [CLAUDE_BIN=/path/to/claude]; step 4 needs tmux
// (npm 11 runs a global package's postinstall, which links Claude Code's native binary, only when allowed.)
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const REPO = join(import.meta.dirname, "..", "..");
const CLI = join(REPO, "dist", "src", "cli.js");
const local = join(REPO, "node_modules", ".bin", "claude");
const CLAUDE = process.env.CLAUDE_BIN ?? (existsSync(local) ? local : "claude");
const home = mkdtempSync(join(tmpdir(), "gbm-claude-code-"));
const apiLog = join(home, "model-requests.ndjson");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0;
const check = (ok, what, detail = "") => {
  if (!ok) failures++;
  process.stdout.write(`${ok ? "PASS" : "FAIL"}  ${what}${detail ? `\n      ${detail.replace(/\n/g, "\n      ")}` : ""}\n`);
};

if (!existsSync(CLI)) throw new Error("build first: npm run build");
const version = spawnSync(CLAUDE, ["--version"], { encoding: "utf8" });
if (version.status !== 0) throw new Error(`no Claude Code at ${CLAUDE}: ${version.error?.message ?? version.stderr}`);
process.stdout.write(`Claude Code ${version.stdout.trim()}; HOME=${home}\n`);

const model = spawn(process.execPath, [join(import.meta.dirname, "fake-model-api.mjs"), apiLog], { stdio: ["ignore", "pipe", "inherit"] });
const { port } = JSON.parse(await new Promise((r) => createInterface({ input: model.stdout }).once("line", r)));
const env = {
  ...process.env,
  HOME: home,
  ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
  ANTHROPIC_API_KEY: "sk-ant-offline-fake-key",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_AUTOUPDATER: "1",
};
const claude = (args) => spawnSync(CLAUDE, args, { env, cwd: home, encoding: "utf8", timeout: 120_000 });
/** The tool results Claude Code sent back to the model since `from` (what the agent saw). */
const toolResults = (from = 0) =>
  readFileSync(apiLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.id > from && e.last?.startsWith("[tool_result]")).map((e) => e.last);
const lastId = () => readFileSync(apiLog, "utf8").split("\n").filter(Boolean).length;

/** Claude Code's first-run screens need the network; these settings are what a person who already went through them has. */
function markOnboarded() {
  const cfgPath = join(home, ".claude.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.hasCompletedOnboarding = true;
  cfg.customApiKeyResponses = { approved: [env.ANTHROPIC_API_KEY.slice(-20)], rejected: [] };
  for (const p of Object.values(cfg.projects ?? {})) p.hasTrustDialogAccepted = true;
  writeFileSync(cfgPath, JSON.stringify(cfg));
}

/** Steps 2–4 for one configured server `name` (`how` labels the output). */
async function exercise(name, how) {
  const tool = (t) => `mcp__${name}__${t}`;
  // 2. A read in print mode.
  let mark = lastId();
  const read = claude(["-p", `CALL ${tool("billing_credits_balance")} {}`, "--allowedTools", tool("billing_credits_balance")]);
  const readSeen = toolResults(mark).join("\n");
  check(read.status === 0 && /balance_credits/.test(readSeen), `${how}: claude -p, billing_credits_balance → the agent gets the balance`, readSeen.slice(0, 300));

  // 3. A spend in print mode: no person to ask.
  mark = lastId();
  claude(["-p", `CALL ${tool("billing_topup")} {"credits":25}`, "--allowedTools", tool("billing_topup")]);
  const printSpend = toolResults(mark).join("\n");
  check(/The person cancelled the confirmation; nothing was charged/.test(printSpend), `${how}: claude -p, billing_topup → form cancelled, nothing charged`, printSpend.slice(0, 300));

  // 4. The terminal UI, as a person uses it.
  markOnboarded();
  const tmux = (...a) => execFileSync("tmux", a, { encoding: "utf8" });
  const screen = () => tmux("capture-pane", "-t", "gbm-cc", "-p");
  const keys = async (...k) => {
    for (const key of k) {
      tmux("send-keys", "-t", "gbm-cc", key);
      await sleep(300);
    }
  };
  const waitFor = async (re, ms = 30_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (re.test(screen())) return true;
      await sleep(250);
    }
    return false;
  };
  const envArgs = Object.entries(env).filter(([k]) => /^(HOME|ANTHROPIC_|CLAUDE_CODE_|DISABLE_|PATH$)/.test(k)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
  tmux("new-session", "-d", "-s", "gbm-cc", "-x", "160", "-y", "50", `cd ${home} && env ${envArgs} ${CLAUDE} --allowedTools ${tool("billing_topup")}; sleep 30`);
  try {
    check(await waitFor(/❯/), `${how}: interactive Claude Code started`);
    // The prompt shows before the MCP server is connected; a prompt sent earlier meets no billing tools.
    await sleep(5_000);
    const spend = async (credits) => {
      tmux("send-keys", "-t", "gbm-cc", "-l", `CALL ${tool("billing_topup")} {"credits":${credits}}`);
      await keys("Enter");
      return waitFor(/Confirm this charge/);
    };
    mark = lastId();
    const shown = await spend(25);
    const form = screen();
    check(shown && /Buy 25 credits now/.test(form) && /Current balance \(credits\): \d+/.test(form), `${how}: the form shows the charge, the credits and the balance`, form.split("\n").filter((l) => /requests your input|Confirm a charge|Credits:|Organization:|balance|Confirm this charge|Accept/.test(l)).join("\n"));
    await keys("Space", "Down", "Enter"); // tick the box, move to Accept, accept
    await waitFor(/RESULT:/);
    await sleep(500);
    const yes = toolResults(mark).join("\n");
    check(/"credits\\*":25.*succeeded/.test(yes), `${how}: ticked + Accept → charged once`, yes.slice(0, 300));

    mark = lastId();
    await spend(40);
    await keys("Down", "Right", "Enter"); // to the buttons, Decline, press it
    await sleep(3_000);
    const no = toolResults(mark).join("\n");
    check(/The person declined; nothing was charged/.test(no), `${how}: Decline → nothing charged`, no.slice(0, 300));
  } finally {
    spawnSync("tmux", ["kill-session", "-t", "gbm-cc"]);
  }
}

let hosted;
try {
  // 1. stdio, set up as in the README (node + the built CLI instead of the global command).
  const add = claude(["mcp", "add", "geopera-billing", "--", process.execPath, CLI, "--sandbox", "--state-dir", join(home, "state")]);
  check(add.status === 0, "stdio: claude mcp add", add.stdout + add.stderr);
  const list = claude(["mcp", "list"]);
  check(/geopera-billing: .*✔ Connected/.test(list.stdout), "stdio: claude mcp list → ✔ Connected", list.stdout.trim());
  await exercise("geopera-billing", "stdio");
  claude(["mcp", "remove", "geopera-billing", "-s", "local"]);

  // 1'. Hosted mode: the server over Streamable HTTP, Claude Code with the README's bearer header.
  hosted = spawn(process.execPath, [CLI, "--sandbox", "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--state-dir", join(home, "state-http")], { stdio: ["ignore", "ignore", "pipe"] });
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: hosted.stderr }).on("line", (l) => l.includes('"listening"') && resolve(JSON.parse(l).url));
    hosted.once("exit", (code) => reject(new Error(`HTTP server exited (${code})`)));
  });
  const addHttp = claude(["mcp", "add", "--transport", "http", "geopera-billing-http", `${url}/mcp`, "--header", "Authorization: Bearer gpra_try_claude_code_0001"]);
  check(addHttp.status === 0, "http: claude mcp add --transport http … --header Authorization", addHttp.stdout + addHttp.stderr);
  const listHttp = claude(["mcp", "list"]);
  check(/geopera-billing-http: .*✔ Connected/.test(listHttp.stdout), "http: claude mcp list → ✔ Connected", listHttp.stdout.trim());
  await exercise("geopera-billing-http", "http");

  // 1''. The legacy HTTP+SSE transport on the same listener: connects and reads.
  claude(["mcp", "add", "--transport", "sse", "geopera-billing-sse", `${url}/sse`, "--header", "Authorization: Bearer gpra_try_claude_code_0001"]);
  const listSse = claude(["mcp", "list"]);
  check(/geopera-billing-sse: .*✔ Connected/.test(listSse.stdout), "sse: claude mcp list → ✔ Connected", listSse.stdout.trim().split("\n").filter((l) => l.includes("-sse")).join("\n"));
  const mark = lastId();
  claude(["-p", "CALL mcp__geopera-billing-sse__billing_credits_balance {}", "--allowedTools", "mcp__geopera-billing-sse__billing_credits_balance"]);
  const sseSeen = toolResults(mark).join("\n");
  check(/balance_credits/.test(sseSeen), "sse: claude -p, billing_credits_balance → the agent gets the balance", sseSeen.slice(0, 300));
} finally {
  hosted?.kill();
  model.kill();
  rmSync(home, { recursive: true, force: true });
}
process.stdout.write(failures ? `${failures} check(s) failed\n` : "all checks passed\n");
process.exit(failures ? 1 : 0);
