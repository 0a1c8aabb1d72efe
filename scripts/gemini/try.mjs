// Drives a real Google Gemini CLI (`@google/gemini-cli`) against this server, offline, and judges every
// outcome from the sandbox ledger (balance, top-up rows, approvals read through the API:
// ../lib/sandbox-ledger.mjs). Gemini CLI declares no elicitation, so a spend goes through the confirmation
// page: the tool returns a loopback link, the person opens it and presses a button, then asks again.
//   1. `gemini mcp add geopera-billing -e … node dist/src/cli.js`, `gemini mcp list` says Connected;
//   2. `gemini -p` (headless; Gemini only offers tools that need no confirmation, so each is named in
//      --allowed-tools): billing_credits_balance → the agent gets the ledger's balance;
//      billing_approvals_request → one pending approval, nothing charged; billing_topup → the page link,
//      nothing charged, and the link dies with the process;
//   3. the terminal UI (in tmux): Gemini's own "Allow execution of MCP tool …?" comes first; Allow → the
//      page link; the page shows the charge; "Confirm and charge" (the page's own form POST), then the same
//      request again → charged once; a third time → nothing more; Decline on the page → nothing; "No" at
//      Gemini's prompt → nothing reaches the server;
//   4. hosted mode (`gemini mcp add -t http … -H "Authorization: Bearer …"`): reads and drafts work; a spend
//      is refused (a hosted client without elicitation gets nothing forwarded) and nothing is charged.
// The model is fake-gemini-api.mjs on loopback (GOOGLE_GEMINI_BASE_URL); usage statistics, telemetry and
// auto-update are off in the throwaway HOME. Run by hand (Gemini CLI is not a dependency):
//
//   npm install --prefix /tmp/gemini @google/gemini-cli@latest
//   npm run build && GEMINI_BIN=/tmp/gemini/node_modules/.bin/gemini node scripts/gemini/try.mjs     (needs tmux)
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLedger, chargedOnce, chargedNothing, describe } from "../lib/sandbox-ledger.mjs";
import { CLI, sleep, checks, clientVersion, startStandIn, startHosted } from "../lib/harness.mjs";
import { openTerminal, envLine } from "../lib/tmux.mjs";

const GEMINI = process.env.GEMINI_BIN ?? "gemini";
const home = mkdtempSync(join(tmpdir(), "gbm-gemini-"));
const apiLog = join(home, "model-requests.ndjson");
const { check, finish } = checks();

const version = clientVersion(GEMINI, "Gemini CLI");
process.stdout.write(`Gemini CLI ${version}; HOME=${home}\n`);

const ledger = await startLedger();
const { model, port } = await startStandIn(join(import.meta.dirname, "fake-gemini-api.mjs"), apiLog);
mkdirSync(join(home, ".gemini"));
// What a person who chose "Use Gemini API key" has, with nothing phoning home.
writeFileSync(
  join(home, ".gemini", "settings.json"),
  JSON.stringify({
    security: { auth: { selectedType: "gemini-api-key" } },
    general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
  }),
);
const env = {
  HOME: home,
  GEMINI_API_KEY: "offline-fake-key",
  GOOGLE_GEMINI_BASE_URL: `http://127.0.0.1:${port}`,
  GEMINI_CLI_TRUST_WORKSPACE: "true", // the answer to the first-run "trust this folder?" question
  PATH: process.env.PATH,
};
const gemini = (args) => spawnSync(GEMINI, args, { env, cwd: home, encoding: "utf8", timeout: 120_000 });
const entries = () => readFileSync(apiLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const lastId = () => entries().length;
/** What the model was handed back from tools since `from` (its RESULT answers). */
const seenSince = (from) => entries().filter((e) => e.id > from && /^RESULT:/.test(e.reply?.text ?? "")).map((e) => e.reply.text).join("\n");
const resultSince = async (from, ms = 30_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end && !seenSince(from)) await sleep(250);
  await sleep(1_000);
  return seenSince(from);
};
const ledgerAround = async (step) => {
  const before = await ledger.snapshot();
  await step();
  return ledger.diff(before, await ledger.snapshot());
};
const pageLink = (text) => /http:\/\/127\.0\.0\.1:\d+\/confirm\/[\w-]+/.exec(text)?.[0];

/** The person opens the link and presses a button, as a browser does: GET, then the form's POST with its Origin. */
async function onPage(link, decision) {
  const page = await (await fetch(link)).text();
  const token = /name="token" value="([^"]+)"/.exec(page)?.[1];
  const res = await fetch(link, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(link).origin },
    body: new URLSearchParams({ token: token ?? "", decision }).toString(),
  });
  return { page, status: res.status, after: await res.text() };
}

async function headless(name, how) {
  const tool = (t) => `mcp_${name}_${t}`;
  const { balance } = await ledger.snapshot();
  let mark = lastId();
  const read = gemini(["-p", "CALL billing_credits_balance {}", "--allowed-tools", tool("billing_credits_balance")]);
  const seen = seenSince(mark);
  check(read.status === 0 && new RegExp(`balance_credits\\W+${balance}\\b`).test(seen), `${how}: gemini -p, billing_credits_balance → the agent gets the ledger's balance (${balance})`, seen.slice(0, 300) || read.stderr.slice(-600));

  let d = await ledgerAround(() => gemini(["-p", 'CALL billing_approvals_request {"credits":300}', "--allowed-tools", tool("billing_approvals_request")]));
  check(chargedNothing(d) && d.newApprovals.length === 1 && d.newApprovals[0].credits === 300 && d.newApprovals[0].status === "pending", `${how}: gemini -p, billing_approvals_request → one pending approval of 300, nothing charged`, describe(d));
}

async function terminalSpends(name, how, hosted) {
  const t = openTerminal("gbm-gemini", `cd ${home} && ${envLine(env)} ${GEMINI}`);
  const allowPrompt = new RegExp(`Allow execution of MCP tool "billing_topup" from server "${name}"\\?`);
  /** Asks for a top-up; Gemini's prompt appears; `answer` keys; returns what the model was handed. */
  const spend = async (credits, answer) => {
    const from = lastId();
    const asked = await t.ask(`CALL billing_topup {"credits":${credits}}`, allowPrompt);
    await sleep(1_000); // a key sent while the prompt is still being drawn is lost
    await t.keys(...answer);
    return { asked, seen: await resultSince(from, answer[0] === "Escape" ? 5_000 : 30_000) };
  };
  try {
    check(await t.waitFor(/Type your message/), `${how}: interactive Gemini CLI started`);
    for (let i = 0; i < 120 && !/1 MCP server/.test(t.screen()); i++) await sleep(250);
    await sleep(1_000);

    if (hosted) {
      let r;
      const d = await ledgerAround(async () => (r = await spend(25, ["Enter"])));
      check(r.asked && chargedNothing(d) && /billing_approvals_request/.test(r.seen) && !pageLink(r.seen), `${how}: Allow → refused (no elicitation in a hosted session), no page link, pointed to billing_approvals_request; nothing charged`, `${describe(d)}\nthe agent saw: ${r.seen.slice(0, 400)}`);
      return;
    }

    // Yes: Allow → link → page confirm → the same request again → charged once.
    let r, link, visit;
    let d = await ledgerAround(async () => {
      r = await spend(25, ["Enter"]); // "1. Allow once"
      link = pageLink(r.seen);
    });
    check(r.asked, `${how}: Gemini's own prompt comes first (Allow execution of MCP tool "billing_topup"?)`);
    check(Boolean(link) && chargedNothing(d), `${how}: Allow → the agent gets the confirmation page link; nothing charged yet`, `${describe(d)}\nlink: ${link}`);
    d = await ledgerAround(async () => (visit = await onPage(link, "confirm")));
    check(/Buy 25 credits now/.test(visit.page) && /Current balance/.test(visit.page) && visit.status === 200 && chargedNothing(d), `${how}: the page shows the charge and the balance; "Confirm and charge" alone charges nothing`, `${describe(d)}; POST → ${visit.status}`);
    d = await ledgerAround(async () => (r = await spend(25, ["Enter"])));
    check(chargedOnce(d, 25), `${how}: the same request again (Allow) → charged once (25)`, `${describe(d)}\nthe agent saw: ${r.seen.slice(0, 200)}`);
    d = await ledgerAround(async () => (r = await spend(25, ["Enter"])));
    check(chargedNothing(d) && Boolean(pageLink(r.seen)), `${how}: and once more → a new link, nothing more charged`, describe(d));

    // No on the page.
    d = await ledgerAround(async () => {
      r = await spend(40, ["Enter"]);
      visit = await onPage(pageLink(r.seen), "decline");
      r = await spend(40, ["Enter"]);
    });
    check(visit.status === 200 && chargedNothing(d), `${how}: Decline on the page, then the same request again → nothing charged`, describe(d));

    // No at Gemini's own prompt.
    d = await ledgerAround(async () => (r = await spend(45, ["Escape"])));
    check(r.asked && chargedNothing(d) && !pageLink(r.seen), `${how}: "No" (Esc) at Gemini's prompt → nothing reaches the server, nothing charged`, describe(d));
  } catch (err) {
    check(false, `${how}: terminal UI`, `${err.stack}\n--- screen ---\n${t.screen()}`);
  } finally {
    t.close();
  }
}

let hostedServer;
try {
  // 1. stdio.
  const serverEnv = Object.entries(ledger.serverEnv).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const add = gemini(["mcp", "add", "-s", "user", ...serverEnv, "geopera-billing", process.execPath, CLI, "--state-dir", join(home, "state")]);
  check(add.status === 0, "stdio: gemini mcp add", (add.stdout + add.stderr).trim());
  const list = gemini(["mcp", "list"]);
  check(/geopera-billing: .*Connected/.test(list.stdout + list.stderr), "stdio: gemini mcp list → Connected", (list.stdout + list.stderr).trim());
  await headless("geopera-billing", "stdio");

  // Headless spend: the link is all the agent gets, and it dies with the process.
  let mark = lastId();
  const d = await ledgerAround(() => gemini(["-p", 'CALL billing_topup {"credits":25}', "--allowed-tools", "mcp_geopera-billing_billing_topup"]));
  const link = pageLink(seenSince(mark));
  let dead = false;
  try {
    await fetch(link);
  } catch {
    dead = true;
  }
  check(Boolean(link) && chargedNothing(d) && dead, "stdio: gemini -p, billing_topup → the page link, nothing charged; the link is gone when gemini exits", `${describe(d)}\nlink: ${link}`);

  await terminalSpends("geopera-billing", "stdio", false);
  gemini(["mcp", "remove", "-s", "user", "geopera-billing"]);

  // 4. Hosted mode over Streamable HTTP.
  let url;
  ({ server: hostedServer, url } = await startHosted(join(home, "state-http"), ledger.url));
  const addHttp = gemini(["mcp", "add", "-s", "user", "-t", "http", "-H", "Authorization: Bearer gpra_try_gemini_0001", "geopera-billing-http", `${url}/mcp`]);
  check(addHttp.status === 0, "http: gemini mcp add -t http … -H Authorization", (addHttp.stdout + addHttp.stderr).trim());
  const listHttp = gemini(["mcp", "list"]);
  check(/geopera-billing-http: .*Connected/.test(listHttp.stdout + listHttp.stderr), "http: gemini mcp list → Connected", (listHttp.stdout + listHttp.stderr).trim());
  await headless("geopera-billing-http", "http");
  await terminalSpends("geopera-billing-http", "http", true);
} finally {
  hostedServer?.kill();
  model.kill();
  await ledger.close();
  rmSync(home, { recursive: true, force: true });
}
finish();
