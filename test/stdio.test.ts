// The catalog over a real stdio child process, against the sandbox API on a real loopback port.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { CATALOG } from "../src/tools/catalog.js";
import { startStdio, textOf, TEST_KEY, CLI, tempDir, type StdioHarness } from "./helpers/stdio.js";
import { until } from "./helpers/http.js";

const REQUIRED: Record<string, string[]> = {
  billing_approvals_approve: ["approval_id"],
  billing_approvals_get: ["approval_id"],
  billing_approvals_list: [],
  billing_approvals_reject: ["approval_id"],
  billing_approvals_request: ["credits"],
  billing_auto_topup_get: [],
  billing_credits_balance: [],
  billing_credits_transactions: [],
  billing_invoices_list: [],
  billing_plans_list: [],
  billing_run_monthly_for_org: ["organization_id"],
  billing_set_auto_topup: ["enabled", "threshold_credits", "topup_amount_credits"],
  billing_status_get: ["organization_id"],
  billing_stripe_invoices_list: [],
  billing_topup: ["credits"],
};

const SPEND_OPS = ["billing.topup", "billing.approvals.approve", "billing.run_monthly_for_org"];

let api: SandboxApi;
let h: StdioHarness;
const results: unknown[] = [];

async function call(name: string, args: Record<string, unknown> = {}) {
  const r = await h.client.callTool({ name, arguments: args });
  results.push(r);
  return r;
}

beforeAll(async () => {
  api = await startSandboxApi();
  h = await startStdio({ apiUrl: api.url, args: ["--max-rows", "10"] });
});
afterAll(async () => {
  await h?.close();
  await api?.close();
});

describe("tools/list", () => {
  it("lists all 15 tools with derived schemas, hints and our side-effect label", async () => {
    const { tools } = await h.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(Object.keys(REQUIRED).sort());
    for (const t of tools) {
      const rec = CATALOG.find((r) => r.name === t.name)!;
      expect(t.name).toMatch(/^[a-z_]+$/);
      expect(t.title).toBeTruthy();
      expect(t.description!.length).toBeGreaterThan(20);
      expect(t._meta?.["com.geopera/side_effect"]).toBe(rec.sideEffect);
      expect(t.annotations?.readOnlyHint).toBe(rec.sideEffect === "read");
      expect(t.annotations?.openWorldHint).toBe(true);
      expect(typeof t.annotations?.destructiveHint).toBe("boolean");
      expect(typeof t.annotations?.idempotentHint).toBe("boolean");
      if (rec.sideEffect === "spend") {
        expect(t.annotations).toMatchObject({ destructiveHint: true, idempotentHint: false });
      }
      expect([...((t.inputSchema.required as string[] | undefined) ?? [])].sort()).toEqual([...REQUIRED[t.name]!].sort());
      expect(t.inputSchema.additionalProperties).toBe(false);
      for (const [field, schema] of Object.entries(t.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${t.name}.${field} has a description`).toBeTruthy();
      }
    }
    const readCount = tools.filter((t) => t.annotations?.readOnlyHint).length;
    expect(readCount).toBe(9);
  });

  it("keeps tools/list compact", async () => {
    const { tools } = await h.client.listTools();
    // As on the wire: the whole JSON-RPC answer.
    const bytes = Buffer.byteLength(JSON.stringify({ result: { tools }, jsonrpc: "2.0", id: 1 }));
    console.log(`tools/list: ${bytes} bytes`);
    expect(bytes).toBeLessThan(8192);
  });
});

describe("every tool, once", () => {
  it("reads return their data", async () => {
    const reads: Array<[string, Record<string, unknown>]> = [
      ["billing_credits_balance", {}],
      ["billing_credits_transactions", { limit: 5 }],
      ["billing_invoices_list", { limit: 3 }],
      ["billing_stripe_invoices_list", {}],
      ["billing_plans_list", {}],
      ["billing_status_get", { organization_id: "org_demo" }],
      ["billing_auto_topup_get", {}],
      ["billing_approvals_list", { status: "pending" }],
      ["billing_approvals_get", { approval_id: "apr_seed_1" }],
    ];
    for (const [name, args] of reads) {
      const r = await call(name, args);
      expect(r.isError, `${name}: ${textOf(r)}`).toBeFalsy();
      expect(r.structuredContent, name).toBeTruthy();
    }
  });

  it("NDJSON rows arrive as rows, bounded, with how to page on", async () => {
    const five = await call("billing_credits_transactions", { limit: 5 });
    const sc = five.structuredContent as { rows: unknown[]; count: number; truncated: boolean; next_offset: number };
    expect(sc.rows).toHaveLength(5);
    // The API was asked for one row more than the page, so it is known that more follow, and how to get them.
    expect(sc.truncated).toBe(true);
    expect(sc.next_offset).toBe(5);
    expect(textOf(five)).toMatch(/^5 rows \(more after these\)\./);
    expect(textOf(five)).toContain("More rows: call billing_credits_transactions again with offset=5.");
    const all = await call("billing_credits_transactions", { offset: 2 });
    const cut = all.structuredContent as { rows: unknown[]; truncated: boolean; next_offset: number };
    expect(cut.rows).toHaveLength(10);
    expect(cut.truncated).toBe(true);
    expect(cut.next_offset).toBe(12);
    expect(textOf(all)).toContain("call billing_credits_transactions again with offset=12");
    // The sandbox's 40-row ledger ends: the last page says nothing more.
    const end = await call("billing_credits_transactions", { offset: 35 });
    expect(end.structuredContent).toMatchObject({ count: 5, truncated: false });
    expect(textOf(end)).not.toContain("More rows");
  });

  it("single-record streams come back as that record", async () => {
    const r = await call("billing_credits_balance");
    expect(r.structuredContent).toMatchObject({ organization_id: "org_demo", balance_credits: expect.any(Number) });
  });

  it("compute tools change state and return the reference's output", async () => {
    const req = await call("billing_approvals_request", { credits: 250, expiry_hours: 24 });
    expect(req.isError, textOf(req)).toBeFalsy();
    const approval = req.structuredContent as { id: string; status: string };
    expect(approval.status).toBe("pending");
    const rej = await call("billing_approvals_reject", { approval_id: approval.id, reason: "not now" });
    expect(rej.structuredContent).toMatchObject({ id: approval.id, status: "rejected" });
    const set = await call("billing_set_auto_topup", { enabled: true, threshold_credits: 100, topup_amount_credits: 500 });
    expect(set.structuredContent).toMatchObject({ enabled: true, threshold_credits: 100 });
    const get = await call("billing_auto_topup_get");
    expect(get.structuredContent).toMatchObject({ enabled: true, topup_amount_credits: 500 });
  });

  it("spend tools forward nothing without a person's confirmation", async () => {
    const before = api.requests.length;
    for (const [name, args] of [
      ["billing_topup", { credits: 100 }],
      ["billing_approvals_approve", { approval_id: "apr_seed_1" }],
      ["billing_run_monthly_for_org", { organization_id: "org_demo" }],
    ] as const) {
      const r = await call(name, args);
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/Nothing was charged/);
    }
    const spends = api.requests.slice(before).filter((q) => SPEND_OPS.includes(q.operationId));
    expect(spends).toEqual([]);
    expect(api.charges()).toEqual([]);
  });
});

describe("bad input is refused before anything leaves", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["billing_status_get", {}, /organization_id/],
    ["billing_approvals_request", { credits: "5" }, /credits/],
    ["billing_approvals_request", { credits: 2.5 }, /credits/],
    ["billing_approvals_request", { credits: -5 }, /credits/],
    ["billing_credits_transactions", { limit: 100000 }, /limit/],
    ["billing_credits_balance", { confirmed: true }, /confirmed/],
    ["billing_topup", { credits: 10, approved: true }, /approved/],
  ];
  for (const [name, args, field] of cases) {
    it(`${name} ${JSON.stringify(args)}`, async () => {
      const before = api.requests.length;
      const r = await call(name, args);
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(field);
      expect(api.requests.length).toBe(before);
    });
  }
});

describe("upstream errors are clear", () => {
  it("5xx carries the status and the API's words", async () => {
    api.inject("billing.plans.list", { kind: "status", status: 500, body: JSON.stringify({ error: { code: "boom", message: "database unavailable" } }), contentType: "application/json" });
    const r = await call("billing_plans_list");
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/HTTP 500/);
    expect(textOf(r)).toMatch(/database unavailable/);
  });

  it("401 says the key is missing or wrong, without printing it", async () => {
    const bad = await startStdio({ apiUrl: api.url, apiKey: "not_a_geopera_key" });
    try {
      const r = await bad.client.callTool({ name: "billing_credits_balance", arguments: {} });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/HTTP 401.*key.*missing, wrong or expired/);
      expect(textOf(r)).not.toContain("not_a_geopera_key");
      await until(() => bad.stderr().includes('"msg":"tool call"')); // its log line, written just after the answer
      expect(bad.stderr()).not.toContain("not_a_geopera_key");
    } finally {
      await bad.close();
    }
  });

  it("403 names the missing scope", async () => {
    const ro = await startStdio({ apiUrl: api.url, apiKey: "gpra_ro_readonly_key_123" });
    try {
      const r = await ro.client.callTool({ name: "billing_approvals_request", arguments: { credits: 5 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/HTTP 403/);
      expect(textOf(r)).toMatch(/billing:write/);
    } finally {
      await ro.close();
    }
  });

  it("a network failure says what failed", async () => {
    const dead = await startStdio({ apiUrl: "http://127.0.0.1:9", args: ["--timeout-connect", "1"] });
    try {
      const r = await dead.client.callTool({ name: "billing_credits_balance", arguments: {} });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/could not connect to the billing API at http:\/\/127\.0\.0\.1:9/);
    } finally {
      await dead.close();
    }
  });
});

describe("secrets and stdout", () => {
  it("the key reached the API but appears in no result and no log line", async () => {
    expect(api.requests.some((r) => r.authorization === `Bearer ${TEST_KEY}`)).toBe(true);
    for (const r of results) expect(JSON.stringify(r)).not.toContain(TEST_KEY);
    await until(() => h.stderr().includes('"msg":"tool call"'));
    expect(h.stderr()).not.toContain(TEST_KEY);
    for (const line of h.stderr().trim().split("\n")) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it("stdout carries only JSON-RPC messages", async () => {
    const child = spawn(process.execPath, [CLI, "--state-dir", tempDir()], {
      env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: api.url, GEOPERA_API_KEY: TEST_KEY },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const send = (m: object) => child.stdin.write(JSON.stringify(m) + "\n");
    send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "billing_credits_balance", arguments: {} } });
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (out.includes('"id":3')) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    child.stdin.end();
    await new Promise((r) => child.on("exit", r));
    const lines = out.trim().split("\n");
    expect(lines.length).toBe(3);
    for (const l of lines) expect(JSON.parse(l).jsonrpc).toBe("2.0");
  });
});
