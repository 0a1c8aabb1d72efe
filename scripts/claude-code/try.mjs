// Drives a real Claude Code (the `claude` CLI) against this server, offline, the way the README tells a
// person to set it up, and checks what the person and the agent see:
//   1. `claude mcp add … -- node dist/src/cli.js --sandbox`, then `claude mcp list` says ✔ Connected; the same
//      again for hosted mode (`--transport http`, `claude mcp add --transport http … --header Authorization`),
//      and a read over the legacy SSE transport (`claude mcp add --transport sse …/sse`);
//   2. `claude -p` calls billing_credits_balance: the agent gets the balance the API holds;
//      `claude -p` calls billing_approvals_request: one approval is drafted, nothing is charged;
//   3. `claude -p` calls billing_topup: nobody can answer the form, Claude Code cancels, nothing is charged;
//   4. the interactive terminal UI (in tmux): billing_topup shows the confirmation form; ticking the box and
//      accepting charges once; the next top-up (other credits), declined, charges nothing;
//   5. (stdio) the interactive UI without --allowedTools: Claude Code's own permission prompt comes first —
//      "No" there never reaches the server; "Yes" then shows our form, and only its Accept charges.
// Every outcome is judged from the sandbox ledger (balance, top-up rows, approvals read through the API:
// ../lib/sandbox-ledger.mjs), not from what the agent printed. The model is fake-model-api.mjs on loopback
// (Claude Code's ANTHROPIC_BASE_URL); the billing API is a sandbox listener this script starts, the server
// pointed at it with GEOPERA_API_URL. Run by hand (not part of npm test: Claude Code is not a dependency):
//
//   npm install --prefix /tmp/cc-latest @anthropic-ai/claude-code@latest     (its native binary comes as an
//     optional dependency; nothing to build)
//   npm run build && CLAUDE_BIN=/tmp/cc-latest/node_modules/.bin/claude node scripts/claude-code/try.mjs
// Steps 4–5 need tmux.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLedger, chargedOnce, chargedNothing, describe } from "../lib/sandbox-ledger.mjs";
import { REPO, CLI, sleep, checks, clientVersion, startStandIn, startHosted } from "../lib/harness.mjs";
import { openTerminal, envLine } from "../lib/tmux.mjs";

const local = join(REPO, "node_modules", ".bin", "claude");
const CLAUDE = process.env.CLAUDE_BIN ?? (existsSync(local) ? local : "claude");
const home = mkdtempSync(join(tmpdir(), "gbm-claude-code-"));
const apiLog = join(home, "model-requests.ndjson");
const { check, finish } = checks();

const version = clientVersion(CLAUDE, "Claude Code");
process.stdout.write(`Claude Code ${version}; node ${process.version}; HOME=${home}\n`);

const ledger = await startLedger();
const { model, port } = await startStandIn(join(import.meta.dirname, "fake-model-api.mjs"), apiLog);
const env = {
  ...process.env,
  HOME: home,
  ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
  ANTHROPIC_API_KEY: "sk-ant-offline-fake-key",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  // Else 2.1.3xx runs `ssh git@github.com` at start to fetch its official plugin marketplace (seen under strace).
  CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_AUTOUPDATER: "1",
};
const claude = (args) => spawnSync(CLAUDE, args, { env, cwd: home, encoding: "utf8", timeout: 120_000 });
/** The tool results Claude Code sent back to the model since `from` (what the agent saw). */
const toolResults = (from = 0) =>
  readFileSync(apiLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.id > from && e.last?.startsWith("[tool_result]")).map((e) => e.last);
const lastId = () => readFileSync(apiLog, "utf8").split("\n").filter(Boolean).length;
/** The tool calls the stand-in model sent since `from` (so a step can check it asked for its own arguments). */
const modelCalls = (from = 0) =>
  readFileSync(apiLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.id > from && e.reply?.tool && e.reply.tool !== "ToolSearch").map((e) => e.reply);
/** Runs `step`, then returns what it changed in the ledger. */
const ledgerAround = async (step) => {
  const before = await ledger.snapshot();
  await step();
  return ledger.diff(before, await ledger.snapshot());
};

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
  const { balance } = await ledger.snapshot();
  const read = claude(["-p", `CALL ${tool("billing_credits_balance")} {}`, "--allowedTools", tool("billing_credits_balance")]);
  const readSeen = toolResults(mark).join("\n");
  check(read.status === 0 && new RegExp(`balance_credits\\W+${balance}\\b`).test(readSeen), `${how}: claude -p, billing_credits_balance → the agent gets the ledger's balance (${balance})`, readSeen.slice(0, 300));

  // 2'. Drafting an approval charges nothing and leaves one pending approval of those credits.
  let d = await ledgerAround(() => claude(["-p", `CALL ${tool("billing_approvals_request")} {"credits":300}`, "--allowedTools", tool("billing_approvals_request")]));
  check(chargedNothing(d) && d.newApprovals.length === 1 && d.newApprovals[0].credits === 300 && d.newApprovals[0].status === "pending", `${how}: claude -p, billing_approvals_request → one pending approval of 300, nothing charged`, describe(d));

  // 3. A spend in print mode: no person to ask.
  d = await ledgerAround(() => claude(["-p", `CALL ${tool("billing_topup")} {"credits":25}`, "--allowedTools", tool("billing_topup")]));
  check(chargedNothing(d), `${how}: claude -p, billing_topup → form cancelled, nothing charged`, describe(d));

  // 4. The terminal UI, as a person uses it, with billing_topup pre-allowed.
  await terminal(name, how, ["--allowedTools", tool("billing_topup")], async (t) => {
    let mark = lastId();
    let shown = false;
    let d = await ledgerAround(async () => {
      shown = await t.ask(`CALL ${tool("billing_topup")} {"credits":25}`, /Confirm this charge/);
      const form = t.screen();
      // 2.1.3xx shows the first lines of the message and folds the rest ("… (+4 more lines)"), the balance among them.
      const balanceShown = /Current balance \(credits\): \d+/.test(form);
      check(shown && /Buy 25 credits now/.test(form) && /Credits: 25/.test(form) && (balanceShown || /\+\d+ more lines/.test(form)), `${how}: the form shows the charge and the credits (balance ${balanceShown ? "shown" : "folded away by Claude Code"})`, form.split("\n").filter((l) => /requests your input|Confirm a charge|Credits:|Organization:|balance|more lines|Confirm this charge|Accept/.test(l)).join("\n"));
      await t.keys("Space", "Down", "Enter"); // tick the box, move to Accept, accept
      await t.waitFor(/RESULT:/);
    });
    check(shown && chargedOnce(d, 25), `${how}: ticked + Accept → charged once (25)`, describe(d));

    mark = lastId();
    d = await ledgerAround(async () => {
      shown = await t.ask(`CALL ${tool("billing_topup")} {"credits":40}`, /Confirm this charge/);
      const sent = modelCalls(mark).map((c) => c.input.credits);
      check(sent.length === 1 && sent[0] === 40, `${how}: the model asked for this step's top-up (40 credits)`, `model sent credits ${JSON.stringify(sent)}`);
      await t.keys("Down", "Right", "Enter"); // to the buttons, Decline, press it
      await t.waitFor(/RESULT:/, 10_000);
    });
    check(shown && chargedNothing(d), `${how}: Decline → nothing charged`, describe(d));
  });
}

/**
 * Claude Code's terminal UI in tmux with `args`; `body` gets { ask, keys, screen, waitFor }.
 * `ask(prompt, re)` types a prompt and waits until the screen matches `re`.
 */
async function terminal(name, how, args, body) {
  markOnboarded();
  const envOf = Object.fromEntries(Object.entries(env).filter(([k]) => /^(HOME|ANTHROPIC_|CLAUDE_CODE_|DISABLE_|PATH$)/.test(k)));
  const t = openTerminal("gbm-cc", `cd ${home} && ${envLine(envOf)} ${CLAUDE} ${args.join(" ")}`);
  try {
    check(await t.waitFor(/❯/), `${how}: interactive Claude Code started`);
    // The prompt shows before the MCP server is connected; a prompt sent earlier meets no billing tools.
    await sleep(5_000);
    await body(t);
  } catch (err) {
    check(false, `${how}: terminal UI`, `${err.stack}\n--- screen ---\n${t.screen()}`);
  } finally {
    t.close();
  }
}

/**
 * 5. No --allowedTools: Claude Code's own permission prompt comes before our form. 2.1.3xx starts in auto
 * mode, whose safety check runs on Anthropic's side; through a loopback gateway it first says it cannot
 * check and will ask instead (Enter stays in auto mode), then asks "Do you want to proceed?" with No
 * selected. Older releases ask at once with Yes first. "No" never calls the server.
 */
async function permissionPrompt(name, how) {
  const topup = `mcp__${name}__billing_topup`;
  await terminal(name, how, [], async (t) => {
    const proceedPrompt = async (prompt) => {
      await t.ask(prompt, /Do you want to proceed\?|Enter to stay in auto mode/);
      if (/Enter to stay in auto mode/.test(t.screen())) {
        await sleep(1_000);
        await t.keys("Enter");
      }
      const shown = await t.waitFor(/Do you want to proceed\?/);
      await sleep(1_000); // a key sent while the prompt is still being drawn is lost
      return shown;
    };
    const noSelected = () => /❯ (\d\. )?No\b/.test(t.screen());
    let asked = false;
    let d = await ledgerAround(async () => {
      asked = await proceedPrompt(`CALL ${topup} {"credits":35}`);
      const screen = t.screen();
      check(asked && !/Confirm this charge/.test(screen), `${how}: without --allowedTools, Claude Code's permission prompt comes first (our form not yet shown)`, screen.split("\n").filter((l) => /auto mode|proceed|Yes|No\b|Billing Topup|credits:/.test(l)).join("\n"));
      await t.keys(noSelected() ? "Enter" : "Escape"); // "No" at Claude Code's prompt
      await sleep(3_000);
    });
    check(asked && chargedNothing(d), `${how}: permission prompt → No: nothing reaches the server, nothing charged`, describe(d));

    let shown = false;
    d = await ledgerAround(async () => {
      asked = await proceedPrompt(`CALL ${topup} {"credits":35}`);
      await t.keys(...(noSelected() ? ["Down", "Enter"] : ["Enter"])); // "Yes"
      shown = await t.waitFor(/Confirm this charge/);
      await t.keys("Space", "Down", "Enter");
      await t.waitFor(/RESULT:/);
    });
    check(asked && shown && chargedOnce(d, 35), `${how}: permission prompt → Yes, then our form → ticked + Accept: charged once (35)`, describe(d));
  });
}

let hosted;
try {
  // 1. stdio, set up as in the README (node + the built CLI instead of the global command).
  const serverEnv = Object.entries(ledger.serverEnv).flatMap(([k, v]) => ["--env", `${k}=${v}`]);
  const add = claude(["mcp", "add", "geopera-billing", ...serverEnv, "--", process.execPath, CLI, "--state-dir", join(home, "state")]);
  check(add.status === 0, "stdio: claude mcp add", add.stdout + add.stderr);
  const list = claude(["mcp", "list"]);
  check(/geopera-billing: .*✔ Connected/.test(list.stdout), "stdio: claude mcp list → ✔ Connected", list.stdout.trim());
  await exercise("geopera-billing", "stdio");
  await permissionPrompt("geopera-billing", "stdio");
  claude(["mcp", "remove", "geopera-billing", "-s", "local"]);

  // 1'. Hosted mode: the server over Streamable HTTP, Claude Code with the README's bearer header.
  let url;
  ({ server: hosted, url } = await startHosted(join(home, "state-http"), ledger.url));
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
  const { balance } = await ledger.snapshot();
  claude(["-p", "CALL mcp__geopera-billing-sse__billing_credits_balance {}", "--allowedTools", "mcp__geopera-billing-sse__billing_credits_balance"]);
  const sseSeen = toolResults(mark).join("\n");
  check(new RegExp(`balance_credits\\W+${balance}\\b`).test(sseSeen), `sse: claude -p, billing_credits_balance → the agent gets the ledger's balance (${balance})`, sseSeen.slice(0, 300));
} finally {
  hosted?.kill();
  model.kill();
  await ledger.close();
  rmSync(home, { recursive: true, force: true });
}
finish();
