// Drives a real OpenAI Codex CLI (`@openai/codex`) against this server, offline, and judges every outcome
// from the sandbox ledger (balance, top-up rows, approvals read through the API: ../lib/sandbox-ledger.mjs):
//   1. `codex mcp add geopera-billing --env … -- node dist/src/cli.js`, `codex mcp list` shows it;
//   2. `codex exec`: billing_credits_balance → the agent gets the ledger's balance; billing_approvals_request
//      → one pending approval, nothing charged; billing_topup → no person to ask, nothing charged;
//   3. the terminal UI (in tmux): Codex first asks whether to let the server run the tool (its own
//      prompt: Allow / … / Cancel), then shows our form ("Confirm this charge": True / False): True charges
//      once; False charges nothing; Cancel at Codex's own prompt never reaches the server;
//   4. the same against hosted mode (`codex mcp add --url …/mcp --bearer-token-env-var`).
// The model is fake-responses-api.mjs on loopback (a custom model provider, `wire_api = "responses"`); the
// billing API is a sandbox listener this script starts. Nothing else is contacted: update checks,
// analytics and the plugin/app sync are off in the throwaway CODEX_HOME. Run by hand (Codex is not a dependency):
//
//   npm install --prefix /tmp/codex @openai/codex@latest     (its native binary is an optional dependency)
//   npm run build && CODEX_BIN=/tmp/codex/node_modules/.bin/codex node scripts/codex/try.mjs     (needs tmux)
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLedger, chargedOnce, chargedNothing, describe } from "../lib/sandbox-ledger.mjs";
import { CLI, sleep, checks, clientVersion, startStandIn, startHosted } from "../lib/harness.mjs";
import { openTerminal, envLine } from "../lib/tmux.mjs";

const CODEX = process.env.CODEX_BIN ?? "codex";
const home = mkdtempSync(join(tmpdir(), "gbm-codex-"));
const codexHome = join(home, ".codex");
const apiLog = join(home, "model-requests.ndjson");
const { check, finish } = checks();

const version = clientVersion(CODEX, "Codex");
process.stdout.write(`${version}; HOME=${home}\n`);

const ledger = await startLedger();
const { model, port } = await startStandIn(join(import.meta.dirname, "fake-responses-api.mjs"), apiLog);
mkdirSync(codexHome);
// A custom provider (OpenAI's own is reached through its login); the folder trusted as a person would
// answer Codex's first-run question; no update check, no analytics, no plugin or app sync.
writeFileSync(
  join(codexHome, "config.toml"),
  `model = "fake-model"
model_provider = "loopback"
check_for_update_on_startup = false

[analytics]
enabled = false

# Without these Codex syncs its curated plugins and apps at start (DNS look-ups of github.com,
# api.github.com and chatgpt.com seen under strace); this server needs neither.
[features]
plugins = false
apps = false

[model_providers.loopback]
name = "stand-in model on loopback"
base_url = "http://127.0.0.1:${port}/v1"
env_key = "LOOPBACK_MODEL_KEY"
wire_api = "responses"

[projects."${home}"]
trust_level = "trusted"
`,
);
const env = { HOME: home, CODEX_HOME: codexHome, LOOPBACK_MODEL_KEY: "offline-fake-key", GBM_TOKEN: "gpra_try_codex_0001", PATH: process.env.PATH };
const codex = (args) => spawnSync(CODEX, args, { env, cwd: home, encoding: "utf8", timeout: 120_000 });
const entries = () => readFileSync(apiLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const lastId = () => entries().length;
/** What the model was told each tool returned since `from` (its RESULT answers). */
const seenSince = (from) => entries().filter((e) => e.id > from && /^RESULT:/.test(e.reply?.text ?? "")).map((e) => e.reply.text).join("\n");
/** Waits until the model has been handed a tool's outcome since `from` (the turn is over). */
const resultSince = async (from, ms = 30_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end && !seenSince(from)) await sleep(250);
  await sleep(1_000); // the screen catches up
  return Boolean(seenSince(from));
};
const ledgerAround = async (step) => {
  const before = await ledger.snapshot();
  await step();
  return ledger.diff(before, await ledger.snapshot());
};

async function exercise(how) {
  // 2. exec mode.
  const { balance } = await ledger.snapshot();
  let mark = lastId();
  const read = codex(["exec", "--skip-git-repo-check", "CALL billing_credits_balance {}"]);
  const seen = seenSince(mark);
  check(read.status === 0 && new RegExp(`balance_credits\\W+${balance}\\b`).test(seen), `${how}: codex exec, billing_credits_balance → the agent gets the ledger's balance (${balance})`, seen.slice(0, 300) || read.stderr.slice(-600));

  // Codex asks before any MCP tool not annotated read-only; `exec` has nobody to ask ("approval policy is
  // never"), so the draft is refused by Codex itself. The TUI below drafts it.
  mark = lastId();
  let d = await ledgerAround(() => codex(["exec", "--skip-git-repo-check", 'CALL billing_approvals_request {"credits":300}']));
  check(chargedNothing(d) && d.newApprovals.length === 0, `${how}: codex exec, billing_approvals_request → Codex refuses without asking anyone, nothing drafted or charged`, `${describe(d)}\nthe agent saw: ${seenSince(mark).slice(0, 300)}`);

  mark = lastId();
  d = await ledgerAround(() => codex(["exec", "--skip-git-repo-check", 'CALL billing_topup {"credits":25}']));
  check(chargedNothing(d), `${how}: codex exec, billing_topup → nobody to ask, nothing charged`, `${describe(d)}\nthe agent saw: ${seenSince(mark).slice(0, 300)}`);

  // 3. The terminal UI.
  const t = openTerminal("gbm-codex", `cd ${home} && ${envLine(env)} ${CODEX}`);
  try {
    check(await t.waitFor(/Ask Codex to do anything/), `${how}: interactive Codex started`);
    // MCP servers start after the prompt shows ("Starting MCP servers (0/1)"); a prompt sent earlier meets no billing tools.
    await sleep(3_000);
    for (let i = 0; i < 120 && /Starting MCP server/i.test(t.screen()); i++) await sleep(250);
    await sleep(2_000);
    const spend = async (credits, answerAllow, answerForm) => {
      const from = lastId();
      const allow = await t.ask(`CALL billing_topup {"credits":${credits}}`, /Allow the geopera-billing\S* MCP server to run tool "billing_topup"\?/);
      await sleep(1_000); // a key sent while a prompt is still being drawn is lost
      await t.keys(...answerAllow);
      const form = answerForm ? await t.waitFor(/Confirm this charge/) : false;
      const screen = t.screen();
      await sleep(1_000);
      if (answerForm) await t.keys(...answerForm);
      await resultSince(from);
      return { allow, form, screen };
    };
    let r;
    d = await ledgerAround(async () => {
      const from = lastId();
      const allow = await t.ask('CALL billing_approvals_request {"credits":300}', /Allow the geopera-billing\S* MCP server to run tool "billing_approvals_request"\?/);
      await sleep(1_000);
      await t.keys("Enter"); // Allow
      await resultSince(from);
      check(allow, `${how}: Codex asks before billing_approvals_request too`);
    });
    check(chargedNothing(d) && d.newApprovals.length === 1 && d.newApprovals[0].credits === 300 && d.newApprovals[0].status === "pending", `${how}: Allow → one pending approval of 300 drafted, nothing charged`, describe(d));

    d = await ledgerAround(async () => (r = await spend(25, ["Enter"], ["Enter"]))); // Allow; "1. True"
    check(r.allow, `${how}: Codex's own prompt comes first (Allow the server to run billing_topup?)`);
    check(r.form && /Buy 25 credits now/.test(r.screen) && /Current balance \(credits\): \d+/.test(r.screen), `${how}: our form shows the charge, the credits and the balance`, r.screen.split("\n").filter((l) => /Confirm a charge|Credits:|Organization:|balance|Confirm this charge|True|False/.test(l)).join("\n"));
    check(chargedOnce(d, 25), `${how}: Allow, then True → charged once (25)`, describe(d));

    d = await ledgerAround(async () => (r = await spend(40, ["Enter"], ["Down", "Enter"]))); // Allow; "2. False"
    check(r.form && chargedNothing(d), `${how}: Allow, then False → nothing charged`, describe(d));

    d = await ledgerAround(async () => (r = await spend(45, ["4", "Enter"], null))); // "4. Cancel" at Codex's prompt
    check(r.allow && chargedNothing(d), `${how}: Cancel at Codex's prompt → nothing charged`, describe(d));
  } catch (err) {
    check(false, `${how}: terminal UI`, `${err.stack}\n--- screen ---\n${t.screen()}`);
  } finally {
    t.close();
  }
}

let hosted;
try {
  // 1. stdio.
  const serverEnv = Object.entries(ledger.serverEnv).flatMap(([k, v]) => ["--env", `${k}=${v}`]);
  const add = codex(["mcp", "add", "geopera-billing", ...serverEnv, "--", process.execPath, CLI, "--state-dir", join(home, "state")]);
  check(add.status === 0, "stdio: codex mcp add", (add.stdout + add.stderr).trim());
  const list = codex(["mcp", "list"]);
  check(/geopera-billing\s.*enabled/.test(list.stdout), "stdio: codex mcp list shows the server enabled", list.stdout.trim());
  await exercise("stdio");
  codex(["mcp", "remove", "geopera-billing"]);

  // 4. Hosted mode over Streamable HTTP with a bearer token from the environment.
  let url;
  ({ server: hosted, url } = await startHosted(join(home, "state-http"), ledger.url));
  const addHttp = codex(["mcp", "add", "geopera-billing-http", "--url", `${url}/mcp`, "--bearer-token-env-var", "GBM_TOKEN"]);
  check(addHttp.status === 0, "http: codex mcp add --url … --bearer-token-env-var", (addHttp.stdout + addHttp.stderr).trim());
  await exercise("http");
} finally {
  // The TUI leaves a `codex app-server` daemon running from CODEX_HOME after it exits; end ours (by pid).
  // Only the daemon's own binary under CODEX_HOME: a tmux server started by this script also carries the
  // path in its arguments, and other sessions may live in it.
  const daemon = join(codexHome, "packages", "app-server-daemon");
  for (const line of spawnSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).stdout.split("\n"))
    if (line.trim().split(/\s+/)[1]?.startsWith(daemon)) {
      try {
        process.kill(Number.parseInt(line, 10));
      } catch {}
    }
  hosted?.kill();
  model.kill();
  await ledger.close();
  await sleep(1_000); // the daemon may still be writing under CODEX_HOME as it ends
  rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}
finish();
