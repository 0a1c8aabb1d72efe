// The sandbox billing API as its own loopback listener, so a client script can judge outcomes from the
// ledger itself (balance, top-up rows, approvals) through the API's own operations, not from the text a
// client or model printed. The MCP server is pointed at it with GEOPERA_API_URL/GEOPERA_API_KEY instead of
// --sandbox (which would start a second, private sandbox inside the server process).
//
//   const ledger = await startLedger();   ledger.serverEnv → env for `geopera-billing-mcp` (stdio);
//   await ledger.snapshot() → { balance, topups: [{credits,…}], approvals: [{id,credits,status}] }
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Not a real credential: the sandbox accepts any key of the right shape. */
export const LEDGER_KEY = "gpra_try_clients_ledger_0001";

export async function startLedger() {
  const child = spawn(process.execPath, [join(import.meta.dirname, "sandbox-server.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const sandbox = {
    url: await new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", (l) => resolve(JSON.parse(l).url));
      child.once("exit", (code) => reject(new Error(`sandbox exited (${code}); build first: npm run build`)));
    }),
    close: async () => {
      child.kill("SIGTERM");
    },
  };

  /** One operation through the sandbox's HTTP API; NDJSON and JSON answers both come back as a list of rows. */
  async function call(operationId, body = {}) {
    try {
      return await callOnce(operationId, body);
    } catch (err) {
      // A kept-alive connection the sandbox closed while a client ran: once more on a fresh one.
      if (err instanceof TypeError) return callOnce(operationId, body);
      throw err;
    }
  }
  async function callOnce(operationId, body) {
    const res = await fetch(`${sandbox.url}/v1/op/${operationId}`, {
      method: "POST",
      headers: { authorization: `Bearer ${LEDGER_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${operationId}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  return {
    url: sandbox.url,
    serverEnv: { GEOPERA_API_URL: sandbox.url, GEOPERA_API_KEY: LEDGER_KEY },
    /** Balance, every top-up row, every approval — read from the API. */
    async snapshot() {
      const [{ balance_credits }] = await call("billing.credits.balance");
      const topups = await call("billing.credits.transactions", { reason: "topup" });
      const approvals = await call("billing.approvals.list");
      return { balance: balance_credits, topups, approvals };
    },
    /** What changed between two snapshots: new top-up rows, new approvals, the balance moved by. */
    diff(before, after) {
      const seen = new Set(before.topups.map((r) => r.id));
      const known = new Set(before.approvals.map((a) => a.id));
      return {
        balanceDelta: after.balance - before.balance,
        newTopups: after.topups.filter((r) => !seen.has(r.id)),
        newApprovals: after.approvals.filter((a) => !known.has(a.id)),
      };
    },
    close: () => sandbox.close(),
  };
}

/** The verdicts every client script checks, from a diff: charged exactly `credits` once, or nothing. */
export const chargedOnce = (d, credits) => d.newTopups.length === 1 && d.newTopups[0].credits === credits && d.balanceDelta === credits;
export const chargedNothing = (d) => d.newTopups.length === 0 && d.balanceDelta === 0;
export const describe = (d) =>
  `balance ${d.balanceDelta >= 0 ? "+" : ""}${d.balanceDelta}; new top-up rows: ${JSON.stringify(d.newTopups.map((r) => r.credits))}; new approvals: ${JSON.stringify(d.newApprovals.map((a) => ({ credits: a.credits, status: a.status })))}`;
