// Logs and secrets through the real stdio transport: one structured stderr line per tool call with the
// API's real HTTP status, --log-level respected, and the API key in no output channel — even when the API
// echoes the Authorization header back in an error body.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, textOf, linkOf, decideOnPage, TEST_KEY, type StdioHarness } from "./helpers/stdio.js";
import { startRaw, rawText, type RawServer } from "./helpers/raw.js";
import { until } from "./helpers/http.js";

let api: SandboxApi;

beforeAll(async () => {
  api = await startSandboxApi();
});
afterAll(async () => {
  await api?.close();
});

interface LogLine {
  time: string;
  level: string;
  msg: string;
  tool?: string;
  side_effect?: string;
  ms?: number;
  upstream_status?: number | null;
  outcome?: string;
  error?: string;
  attempts?: number;
  caller?: string;
}

function logLines(stderr: string): LogLine[] {
  return stderr
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);
}

const toolLines = (stderr: string) => logLines(stderr).filter((l) => l.msg === "tool call");

/** Every file under dir, recursively, with its content. */
function filesUnder(dir: string): Array<[string, string]> {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [[p, readFileSync(p, "utf8")] as [string, string]];
  });
}

describe("one structured line per tool call", () => {
  let h: StdioHarness;
  beforeAll(async () => {
    h = await startStdio({ apiUrl: api.url, args: ["--timeout-headers", "1"], capabilities: { elicitation: {} }, onElicit: () => ({ action: "accept", content: { confirm: true } }) });
  });
  afterAll(() => h?.close());

  it("carries tool, side effect, duration and the API's actual HTTP status", async () => {
    const calls: Array<[string, Record<string, unknown>, number | null, string]> = [];
    const call = async (name: string, args: Record<string, unknown>, status: number | null, level: string) => {
      calls.push([name, args, status, level]);
      return h.client.callTool({ name, arguments: args });
    };
    await call("billing_credits_balance", {}, 200, "info");
    await call("billing_approvals_get", { approval_id: "apr_does_not_exist" }, 404, "info");
    api.inject("billing.plans.list", { kind: "status", status: 503 }, 4);
    await call("billing_plans_list", {}, 503, "warn");
    api.inject("billing.plans.list", { kind: "badJson" });
    await call("billing_plans_list", {}, 200, "warn");
    api.inject("billing.invoices.list", { kind: "hang" });
    await call("billing_invoices_list", {}, null, "warn");
    const req = await call("billing_approvals_request", { credits: 40 }, 200, "info");
    expect(req.isError, textOf(req)).toBeFalsy();
    const spend = await call("billing_topup", { credits: 25 }, 200, "info");
    expect(spend.isError, textOf(spend)).toBeFalsy();

    // Lines are written just after their answers (src/log.ts), so the last one may still be on its way.
    await until(() => toolLines(h.stderr()).length >= calls.length);
    const lines = toolLines(h.stderr());
    expect(lines).toHaveLength(calls.length);
    lines.forEach((line, i) => {
      const [name, , status, level] = calls[i]!;
      expect(line).toMatchObject({ tool: name, upstream_status: status, level });
      expect(line.side_effect).toBe(name === "billing_topup" ? "spend" : name === "billing_approvals_request" ? "compute" : "read");
      expect(typeof line.ms).toBe("number");
      expect(line.ms).toBeGreaterThanOrEqual(0);
      expect(line.caller).toMatch(/^fp_[0-9a-f]{16}$/);
      expect(Date.parse(line.time)).not.toBeNaN();
    });
    expect(lines[2]).toMatchObject({ attempts: 4, outcome: "error" });
    expect(lines[3]).toMatchObject({ error: "bad_json" });
    expect(lines[4]).toMatchObject({ error: "timeout_headers", outcome: "error" });
    expect(lines[4]!.ms).toBeGreaterThanOrEqual(950);
    expect(lines[6]).toMatchObject({ tool: "billing_topup", outcome: "ok" });
  });
});

describe("--log-level", () => {
  async function session(level: string) {
    const h = await startStdio({ apiUrl: api.url, args: ["--log-level", level] });
    try {
      await h.client.callTool({ name: "billing_credits_balance", arguments: {} });
      api.inject("billing.approvals.list", { kind: "status", status: 500 });
      await h.client.callTool({ name: "billing_approvals_list", arguments: {} });
      await h.client.callTool({ name: "billing_topup", arguments: { credits: 5 } }); // page channel: waits for a person
      await new Promise((r) => setTimeout(r, 100));
      return h.stderr();
    } finally {
      await h.close();
    }
  }

  it("silent → nothing at all on stderr; error → nothing for these calls", async () => {
    const [silent, error] = await Promise.all([session("silent"), session("error")]);
    expect(silent).toBe("");
    expect(error).toBe("");
  });

  it("warn → only the failing call; info → every call; debug → more (call start, upstream answers)", async () => {
    const [warn, info, debug] = await Promise.all([session("warn"), session("info"), session("debug")]);
    expect(logLines(warn).map((l) => [l.level, l.msg, l.tool])).toEqual([["warn", "tool call", "billing_approvals_list"]]);
    expect(toolLines(info).map((l) => l.tool)).toEqual(["billing_credits_balance", "billing_approvals_list", "billing_topup"]);
    expect(logLines(info).some((l) => l.level === "debug")).toBe(false);
    const dbg = logLines(debug);
    expect(dbg.length).toBeGreaterThan(logLines(info).length);
    expect(dbg.filter((l) => l.msg === "tool call start").map((l) => l.tool)).toEqual(["billing_credits_balance", "billing_approvals_list", "billing_topup"]);
    expect(dbg.some((l) => l.msg === "upstream answered" && l.tool === "billing_credits_balance")).toBe(true);
  });
});

describe("secrets: the API echoing the Authorization header", () => {
  it("echoAuth on reads, compute, a spend's preview and the spend itself → the key is in no result and no log line", async () => {
    const h = await startStdio({ apiUrl: api.url, args: ["--log-level", "debug"], capabilities: { elicitation: {} }, onElicit: () => ({ action: "accept", content: { confirm: true } }) });
    try {
      const results: unknown[] = [];
      const echoOn = async (op: string, name: string, args: Record<string, unknown>) => {
        api.inject(op, { kind: "echoAuth" });
        const before = api.requests.length;
        const r = await h.client.callTool({ name, arguments: args });
        results.push(r);
        // The echo really happened: the API's answer carried the key.
        expect(api.requests.slice(before).some((q) => q.operationId === op && q.status === 400)).toBe(true);
        return r;
      };
      const read = await echoOn("billing.plans.list", "billing_plans_list", {});
      expect(textOf(read)).toMatch(/HTTP 400 .*Received Authorization: Bearer \[REDACTED\]/);
      await echoOn("billing.approvals.request", "billing_approvals_request", { credits: 3 });
      await echoOn("billing.credits.balance", "billing_topup", { credits: 3 }); // the gate's preview read
      const spent = await echoOn("billing.topup", "billing_topup", { credits: 4 }); // the confirmed spend's answer
      expect(textOf(spent)).toMatch(/\[REDACTED\]/);
      expect(api.requests.filter((q) => q.operationId === "billing.plans.list").every((q) => q.authorization === `Bearer ${TEST_KEY}`)).toBe(true);
      for (const r of results) expect(JSON.stringify(r)).not.toContain(TEST_KEY);
      expect(h.stderr()).not.toContain(TEST_KEY);
      expect(h.stderr().length).toBeGreaterThan(0);
    } finally {
      await h.close();
    }
  });

  it("a credential of no known shape is hidden verbatim, in results and logs", async () => {
    const odd = "sk_live_PLAIN-secret.9876";
    const h = await startStdio({ apiUrl: api.url, apiKey: odd, args: ["--log-level", "debug"] });
    try {
      api.inject("billing.plans.list", { kind: "echoAuth" });
      const echoed = await h.client.callTool({ name: "billing_plans_list", arguments: {} });
      const refused = await h.client.callTool({ name: "billing_credits_balance", arguments: {} }); // 401: not a gpra_/gpst_ key
      expect(textOf(echoed)).toMatch(/Bearer \[REDACTED\]/);
      expect(textOf(refused)).toMatch(/HTTP 401/);
      for (const r of [echoed, refused]) expect(JSON.stringify(r)).not.toContain("PLAIN-secret");
      expect(h.stderr()).not.toContain("PLAIN-secret");
    } finally {
      await h.close();
    }
  });

  it("a full session: the key appears on no channel — stdout bytes, stderr, results, state directory files", async () => {
    const s: RawServer = await startRaw({ apiUrl: api.url, args: ["--log-level", "debug"] });
    const results: unknown[] = [];
    const call = async (name: string, args: Record<string, unknown>) => {
      const r = await s.call(name, args);
      results.push(r);
      return r;
    };
    try {
      await s.request("tools/list");
      for (const [name, args] of [
        ["billing_credits_balance", {}],
        ["billing_credits_transactions", { limit: 3 }],
        ["billing_invoices_list", {}],
        ["billing_stripe_invoices_list", {}],
        ["billing_plans_list", {}],
        ["billing_status_get", { organization_id: "org_demo" }],
        ["billing_auto_topup_get", {}],
        ["billing_approvals_list", {}],
        ["billing_approvals_get", { approval_id: "apr_seed_1" }],
        ["billing_approvals_request", { credits: 12 }],
        ["billing_set_auto_topup", { enabled: false, threshold_credits: 10, topup_amount_credits: 20 }],
      ] as const) {
        await call(name, args);
      }
      for (const [op, name, args] of [
        ["billing.credits.transactions", "billing_credits_transactions", {}],
        ["billing.approvals.reject", "billing_approvals_reject", { approval_id: "apr_seed_1" }],
        ["billing.status.get", "billing_run_monthly_for_org", { organization_id: "org_demo" }],
      ] as const) {
        api.inject(op, { kind: "echoAuth" });
        await call(name, args);
      }
      api.inject("*", { kind: "status", status: 500, body: JSON.stringify({ error: { code: "echo", message: `token ${TEST_KEY} rejected` } }) });
      await call("billing_plans_list", {});
      api.clearFaults();
      await call("billing_credits_balance", { bogus: TEST_KEY }); // an agent pasting the key into arguments

      // A spend through the confirmation page: asked, confirmed, sent, answered — journal and audit written.
      const first = await call("billing_topup", { credits: 30, description: "log test" });
      const link = linkOf(first.result);
      expect((await decideOnPage(link, "confirm")).status).toBe(200);
      api.inject("billing.topup", { kind: "echoAuth" });
      const charged = await call("billing_topup", { credits: 30, description: "log test" });
      expect(rawText(charged)).toMatch(/\[REDACTED\]/);

      await s.close();
      const files = filesUnder(s.stateDir);
      expect(files.some(([p]) => p.endsWith("audit.jsonl"))).toBe(true);
      const channels: Array<[string, string]> = [
        ["stdout", s.stdout()],
        ["stderr", s.stderr()],
        ["results", JSON.stringify(results)],
        ...files,
      ];
      for (const [where, text] of channels) {
        expect(text.includes(TEST_KEY), `key found in ${where}`).toBe(false);
        expect(text.includes("live_key_0123456789"), `key tail found in ${where}`).toBe(false);
      }
      // The channels were really exercised: debug logging of every call, and redacted echoes in results.
      expect(toolLines(s.stderr()).length).toBe(results.length - 1); // the bogus-argument call never reaches a handler
      expect(JSON.stringify(results)).toContain("Bearer [REDACTED]");
      expect(s.badLines).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
