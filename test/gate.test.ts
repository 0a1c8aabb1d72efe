// The spend gate end to end: a spawned stdio server, the SDK Client playing each kind of desktop client,
// the sandbox API on a loopback port. Every assertion is about what reached the API and what the agent saw.
// The same suite runs against the file store (npm test) and against PostgreSQL (npm run test:pg sets
// GEOPERA_TEST_STORE=postgres: a throwaway server, one fresh database per state directory).
import { describe as describeBlock, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import type { ElicitRequest, ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio as startStdioServer, textOf, linkOf, decideOnPage, opensLinkAndConfirms, tempDir, CLI, TEST_KEY, type StdioHarness, type StdioOptions } from "./helpers/stdio.js";
import { startPostgres, type PgCluster } from "./helpers/postgres.js";
import { until } from "./helpers/http.js";
import { spendsAfter, chargesAfter } from "./helpers/spends.js";

const STORE = process.env.GEOPERA_TEST_STORE === "postgres" ? "postgres" : "file";
/** Suite titles name the store, so both runs read apart. */
const describe = (title: string, fn: () => void) => describeBlock(`${title} [${STORE} store]`, fn);

let api: SandboxApi;
let pg: PgCluster | undefined;
beforeAll(async () => {
  api = await startSandboxApi();
  if (STORE === "postgres") pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await api?.close();
  await pg?.stop();
});

/** One database per state directory, so a restarted server finds its own state, like the file store. */
const databases = new Map<string, string>();
async function storeFor(stateDir: string): Promise<string> {
  if (!pg) return `file:${stateDir}`;
  if (!databases.has(stateDir)) databases.set(stateDir, await pg.createDatabase());
  return databases.get(stateDir)!;
}

/** startStdio with the store under test: the default (files in the state directory), or its own database. */
async function startStdio(opts: StdioOptions): Promise<StdioHarness> {
  const stateDir = opts.stateDir ?? tempDir();
  const store = pg ? ["--store", await storeFor(stateDir)] : [];
  return startStdioServer({ ...opts, stateDir, args: [...store, ...(opts.args ?? [])] });
}

/** The audit lines as stored, and `audit verify` run the way an operator would for this store. */
async function auditLines(stateDir: string): Promise<string[]> {
  if (!pg) return readFileSync(join(stateDir, "audit.jsonl"), "utf8").trim().split("\n");
  return (await pg.query<{ line: string }>(await storeFor(stateDir), "SELECT line FROM gate_audit ORDER BY seq")).map((r) => r.line);
}
async function editAuditLine(stateDir: string, n: number, edit: (line: string) => string): Promise<void> {
  if (!pg) {
    const file = join(stateDir, "audit.jsonl");
    const lines = readFileSync(file, "utf8").trim().split("\n");
    lines[n - 1] = edit(lines[n - 1]!);
    writeFileSync(file, lines.join("\n") + "\n");
    return;
  }
  const url = await storeFor(stateDir);
  const [row] = await pg.query<{ line: string }>(url, "SELECT line FROM gate_audit WHERE seq = $1", [n]);
  await pg.query(url, "UPDATE gate_audit SET line = $2 WHERE seq = $1", [n, edit(row!.line)]);
}
async function auditVerify(stateDir: string, how: "file" | "store" = pg ? "store" : "file") {
  const target = how === "store" ? ["--store", await storeFor(stateDir)] : [join(stateDir, "audit.jsonl")];
  return spawnSync(process.execPath, [CLI, "audit", "verify", ...target], { encoding: "utf8" });
}

/** Spend requests that reached the API since `mark`. */
const spendsSince = (mark: number) => spendsAfter(api, mark);
const chargesSince = (mark: number) => chargesAfter(api, mark);

interface FormClient extends StdioHarness {
  asked: ElicitRequest["params"][];
}

async function formClient(answer: (req: ElicitRequest) => Promise<ElicitResult> | ElicitResult, extra: Partial<StdioOptions> = {}): Promise<FormClient> {
  const asked: ElicitRequest["params"][] = [];
  const h = await startStdio({
    apiUrl: api.url,
    capabilities: { elicitation: { form: {} } },
    onElicit: (req) => {
      asked.push(req.params);
      return answer(req);
    },
    ...extra,
  });
  return Object.assign(h, { asked });
}

const yes = (): ElicitResult => ({ action: "accept", content: { confirm: true } });

describe("form elicitation (Claude Code, Cursor, VS Code)", () => {
  let c: FormClient;
  let reply: (req: ElicitRequest) => Promise<ElicitResult> | ElicitResult = yes;
  beforeAll(async () => {
    c = await formClient((req) => reply(req), { args: ["--confirm-wait", "1"] });
  });
  afterAll(() => c.close());

  it("accept + confirm=true forwards exactly once, with our Idempotency-Key, after showing the charge", async () => {
    reply = yes;
    const mark = api.requests.length;
    const asked = c.asked.length;
    const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 120 } });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(c.asked.length - asked).toBe(1);
    const q = c.asked.at(-1)!;
    expect(q.message).toContain("Buy 120 credits");
    expect(q.message).toContain("org_demo");
    expect((q as { requestedSchema: { required: string[] } }).requestedSchema.required).toEqual(["confirm"]);
    const sent = spendsSince(mark);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent[0]!.charged).toBe(true);
    expect(textOf(r)).toContain(`Charged once (Idempotency-Key ${sent[0]!.idempotencyKey})`);
  });

  // Each refusal: the sentence the agent reads, and the outcome and reason on the per-call log line.
  const CLIENT_FAILED = /^billing_topup was not sent\. The client could not show the confirmation; nothing was charged\. /;
  const NOT_TICKED = /^billing_topup was not sent\. The person did not confirm the charge \(the form came back without its box ticked\); nothing was charged\. /;
  const refusals: Array<[string, () => Promise<ElicitResult> | ElicitResult, RegExp, string, string]> = [
    ["accept with confirm=false", () => ({ action: "accept", content: { confirm: false } }), NOT_TICKED, "declined", "no"],
    ["decline", () => ({ action: "decline" }), /^billing_topup was not sent\. The person declined; nothing was charged\. /, "declined", "declined"],
    ["cancel", () => ({ action: "cancel" }), /^billing_topup was not sent\. The person cancelled the confirmation; nothing was charged\. /, "cancelled", "cancelled"],
    // Never reaches the server as an answer: the SDK's client refuses content off the form's schema.
    ["an answer that is not a clear yes", () => ({ action: "accept", content: { confirm: "yes" } as never }), CLIENT_FAILED, "refused", "client_failed"],
    ["accept without content", () => ({ action: "accept" }), NOT_TICKED, "declined", "no"],
    ["a client that throws", () => Promise.reject(new Error("UI crashed")), CLIENT_FAILED, "refused", "client_failed"],
    ["a slow person (answer after the wait)", () => new Promise((r) => setTimeout(() => r(yes()), 1500)), /^billing_topup was not sent\. Nobody answered the confirmation within 1 s; nothing was charged\. /, "expired", "timeout"],
  ];
  for (const [name, answer, sentence, outcome, reason] of refusals) {
    it(`${name} forwards nothing, says so in a sentence and logs outcome ${outcome}`, async () => {
      reply = answer;
      const mark = api.requests.length;
      const logged = c.stderr().length;
      const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 7 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(sentence);
      expect(textOf(r)).not.toMatch(/not confirmed|\((no|failed|timeout|declined|cancelled)\)/);
      await new Promise((res) => setTimeout(res, 50));
      expect(spendsSince(mark)).toEqual([]);
      const line = c.stderr().slice(logged).split("\n").findLast((l) => l.includes('"msg":"tool call"'));
      expect(JSON.parse(line!)).toMatchObject({ tool: "billing_topup", outcome, reason, upstream_status: null });
      expect(line).not.toContain('"credits"');
    });
  }

  it("two separately confirmed identical spends are two keys and two charges", async () => {
    reply = yes;
    const mark = api.requests.length;
    await c.client.callTool({ name: "billing_topup", arguments: { credits: 3 } });
    await c.client.callTool({ name: "billing_topup", arguments: { credits: 3 } });
    const sent = chargesSince(mark);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.idempotencyKey).not.toBe(sent[1]!.idempotencyKey);
  });

  it("approving shows what the API says the approval charges", async () => {
    reply = yes;
    const req = await c.client.callTool({ name: "billing_approvals_request", arguments: { credits: 640 } });
    const id = (req.structuredContent as { id: string }).id;
    const mark = api.requests.length;
    const r = await c.client.callTool({ name: "billing_approvals_approve", arguments: { approval_id: id } });
    expect(r.isError, textOf(r)).toBeFalsy();
    const q = c.asked.at(-1)!;
    expect(q.message).toContain("Credits: 640");
    expect(q.message).toContain("Amount charged (AUD): 32");
    expect(chargesSince(mark)).toHaveLength(1);
    expect(r.structuredContent).toMatchObject({ id, status: "approved" });
  });

  it("a monthly run shows the API's estimate first", async () => {
    reply = yes;
    const mark = api.requests.length;
    const r = await c.client.callTool({ name: "billing_run_monthly_for_org", arguments: { organization_id: "org_demo" } });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(c.asked.at(-1)!.message).toContain("organization “org_demo”");
    // The person sees what the API says the run will charge (nested in the status answer).
    expect(c.asked.at(-1)!.message).toMatch(/What the billing API says:\nEstimated charge \(AUD\): \d+/);
    expect(api.requests.slice(mark).map((q) => q.operationId)).toEqual(["billing.status.get", "billing.run_monthly_for_org"]);
  });

  it("an approval the API cannot find is not asked about and not sent", async () => {
    reply = yes;
    const mark = api.requests.length;
    const asked = c.asked.length;
    const r = await c.client.callTool({ name: "billing_approvals_approve", arguments: { approval_id: "apr_nope" } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/404/);
    expect(c.asked.length).toBe(asked);
    expect(spendsSince(mark)).toEqual([]);
  });

  it("nothing the agent controls counts as a confirmation", async () => {
    reply = () => ({ action: "decline" });
    const mark = api.requests.length;
    for (const args of [{ credits: 5, confirmed: true }, { credits: 5, approved: true }, { credits: 5, confirm: true }]) {
      const r = await c.client.callTool({ name: "billing_topup", arguments: args });
      expect(r.isError).toBe(true);
    }
    const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 5 }, _meta: { confirmed: true, "com.geopera/confirmed": true } });
    expect(r.isError).toBe(true);
    expect(spendsSince(mark)).toEqual([]);
  });
});

describe("operator caps", () => {
  it("over the per-call cap: refused, nobody asked, nothing sent", async () => {
    const c = await formClient(yes, { args: ["--max-credits-per-call", "100"] });
    try {
      const mark = api.requests.length;
      const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 101 } });
      expect(textOf(r)).toMatch(/over this server's limit of 100 credits per call/);
      expect(c.asked).toHaveLength(0);
      expect(spendsSince(mark)).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it("the daily cap counts what was already spent today", async () => {
    const c = await formClient(yes, { args: ["--max-credits-per-day", "150"] });
    try {
      const mark = api.requests.length;
      const first = await c.client.callTool({ name: "billing_topup", arguments: { credits: 100 } });
      expect(first.isError, textOf(first)).toBeFalsy();
      const second = await c.client.callTool({ name: "billing_topup", arguments: { credits: 60 } });
      expect(textOf(second)).toMatch(/over this server's limit of 150 credits per day/);
      expect(c.asked).toHaveLength(1);
      expect(chargesSince(mark)).toHaveLength(1);
    } finally {
      await c.close();
    }
  });
});

describe("confirmation page (Claude Desktop: no elicitation)", () => {
  let h: StdioHarness;
  beforeAll(async () => {
    h = await startStdio({ apiUrl: api.url });
  });
  afterAll(() => h.close());

  it("returns a link at once, forwards nothing until a person confirms on the page, then exactly once", async () => {
    const mark = api.requests.length;
    const first = await h.client.callTool({ name: "billing_topup", arguments: { credits: 42, description: "<script>alert(1)</script>" } });
    expect(first.isError).toBe(true);
    const link = linkOf(first);
    expect(textOf(first)).toMatch(/call billing_topup again with exactly the same arguments/);

    // Asking again before the person decided: the same question, not a second one.
    const again = await h.client.callTool({ name: "billing_topup", arguments: { credits: 42, description: "<script>alert(1)</script>" } });
    expect(linkOf(again)).toBe(link);

    const page = await fetch(link);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(html).toContain("Buy 42 credits");
    expect(html).toContain("org_demo");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;");

    const foreign = await decideOnPage(link, "confirm", "http://evil.example");
    expect(foreign.status).toBe(403);
    const noOrigin = await fetch(link, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "token=x&decision=confirm" });
    expect(noOrigin.status).toBe(403);
    const wrongToken = await fetch(link, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(link).origin }, body: "token=wrong&decision=confirm" });
    expect(wrongToken.status).toBe(403);
    expect(spendsSince(mark)).toEqual([]);

    expect((await decideOnPage(link, "confirm")).status).toBe(200);
    expect(spendsSince(mark)).toEqual([]);

    const done = await h.client.callTool({ name: "billing_topup", arguments: { credits: 42, description: "<script>alert(1)</script>" } });
    expect(done.isError, textOf(done)).toBeFalsy();
    expect(chargesSince(mark)).toHaveLength(1);

    // Used once: the next identical call needs a new confirmation.
    const after = await h.client.callTool({ name: "billing_topup", arguments: { credits: 42, description: "<script>alert(1)</script>" } });
    expect(after.isError).toBe(true);
    expect(linkOf(after)).not.toBe(link);
    expect(chargesSince(mark)).toHaveLength(1);
  });

  it("a confirmation does not release a call with other arguments", async () => {
    const mark = api.requests.length;
    const link = linkOf(await h.client.callTool({ name: "billing_topup", arguments: { credits: 11 } }));
    await decideOnPage(link, "confirm");
    const other = await h.client.callTool({ name: "billing_topup", arguments: { credits: 12 } });
    expect(other.isError).toBe(true);
    expect(linkOf(other)).not.toBe(link);
    expect(spendsSince(mark)).toEqual([]);
  });

  it("a declined page releases nothing", async () => {
    const mark = api.requests.length;
    const link = linkOf(await h.client.callTool({ name: "billing_topup", arguments: { credits: 13 } }));
    expect((await decideOnPage(link, "decline")).status).toBe(200);
    const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 13 } });
    expect(r.isError).toBe(true);
    expect(spendsSince(mark)).toEqual([]);
  });

  it("50 parallel re-calls after one confirmation → one upstream spend", async () => {
    const mark = api.requests.length;
    const link = linkOf(await h.client.callTool({ name: "billing_topup", arguments: { credits: 50 } }));
    await decideOnPage(link, "confirm");
    const results = await Promise.all(Array.from({ length: 50 }, () => h.client.callTool({ name: "billing_topup", arguments: { credits: 50 } })));
    expect(results.filter((r) => !r.isError)).toHaveLength(1);
    expect(spendsSince(mark)).toHaveLength(1);
    expect(chargesSince(mark)).toHaveLength(1);
  });
});

describe("expiry", () => {
  it("a confirmation page past its time confirms nothing and releases nothing", async () => {
    const h = await startStdio({ apiUrl: api.url, args: ["--confirm-ttl", "1"] });
    try {
      const mark = api.requests.length;
      const link = linkOf(await h.client.callTool({ name: "billing_topup", arguments: { credits: 9 } }));
      await new Promise((r) => setTimeout(r, 1100));
      expect((await decideOnPage(link, "confirm")).status).toBeGreaterThanOrEqual(400);
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 9 } });
      expect(r.isError).toBe(true);
      expect(linkOf(r)).not.toBe(link);
      expect(spendsSince(mark)).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it("a confirmed but unused confirmation lapses too", async () => {
    const h = await startStdio({ apiUrl: api.url, args: ["--confirm-ttl", "1"] });
    try {
      const mark = api.requests.length;
      const link = linkOf(await h.client.callTool({ name: "billing_topup", arguments: { credits: 8 } }));
      await decideOnPage(link, "confirm");
      await new Promise((r) => setTimeout(r, 1100));
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 8 } });
      expect(r.isError).toBe(true);
      expect(spendsSince(mark)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe("URL elicitation (VS Code): the client opens our page", () => {
  it("forwards once after the person confirms on the page opened by the client", async () => {
    const opened: string[] = [];
    const h = await startStdio({
      apiUrl: api.url,
      args: ["--confirm-via", "page"],
      capabilities: { elicitation: { form: {}, url: {} } },
      onElicit: opensLinkAndConfirms(opened, 100),
    });
    try {
      const mark = api.requests.length;
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 21 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(opened).toHaveLength(1);
      expect(chargesSince(mark)).toHaveLength(1);
    } finally {
      await h.close();
    }
  });

  it("declining to open the link sends nothing", async () => {
    const h = await startStdio({ apiUrl: api.url, args: ["--confirm-via", "page"], capabilities: { elicitation: { url: {} } }, onElicit: () => ({ action: "decline" }) });
    try {
      const mark = api.requests.length;
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 22 } });
      expect(r.isError).toBe(true);
      expect(spendsSince(mark)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe("--confirm-via form on a client without forms", () => {
  it("fails closed with an explanation and a way forward", async () => {
    const h = await startStdio({ apiUrl: api.url, args: ["--confirm-via", "form"] });
    try {
      const mark = api.requests.length;
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
      expect(textOf(r)).toMatch(/cannot show one.*billing_approvals_request/s);
      expect(spendsSince(mark)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe("idempotency owned by the proxy", () => {
  it("retries after 503, 429 and a connection reset reuse the same key and byte-identical body", async () => {
    const c = await formClient(yes);
    try {
      const mark = api.requests.length;
      api.inject("billing.topup", { kind: "status", status: 503 });
      api.inject("billing.topup", { kind: "status", status: 429, retryAfter: "0" });
      api.inject("billing.topup", { kind: "reset" });
      const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 31, description: "retry me" } });
      expect(r.isError, textOf(r)).toBeFalsy();
      const sent = spendsSince(mark);
      expect(sent).toHaveLength(4);
      expect(new Set(sent.map((s) => s.idempotencyKey)).size).toBe(1);
      expect(new Set(sent.map((s) => s.rawBody)).size).toBe(1);
      expect(chargesSince(mark)).toHaveLength(1);
      expect(c.asked).toHaveLength(1);
    } finally {
      api.clearFaults();
      await c.close();
    }
  });

  it("a spend charged but never answered is re-sent only with its own key, never charged twice", async () => {
    const c = await formClient(yes);
    try {
      const mark = api.requests.length;
      api.inject("billing.topup", { kind: "chargeThenReset" }, 4);
      const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 77 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/may or may not have gone through/);
      expect(chargesSince(mark)).toHaveLength(1);
      const again = await c.client.callTool({ name: "billing_topup", arguments: { credits: 77 } });
      expect(again.isError, textOf(again)).toBeFalsy();
      expect(textOf(again)).toMatch(/re-sent the earlier unanswered request/);
      const sent = spendsSince(mark);
      expect(new Set(sent.map((s) => s.idempotencyKey)).size).toBe(1);
      expect(chargesSince(mark)).toHaveLength(1);
      expect(c.asked).toHaveLength(1);
    } finally {
      api.clearFaults();
      await c.close();
    }
  });

  it("after a restart mid-spend, the spend is reported and re-sent only with its own key after a person confirms again", async () => {
    const stateDir = tempDir();
    const first = await formClient(yes, { stateDir, args: ["--timeout-headers", "30"] });
    const mark = api.requests.length;
    api.inject("billing.topup", { kind: "hang" });
    void first.client.callTool({ name: "billing_topup", arguments: { credits: 55 } }).catch(() => {});
    for (let i = 0; i < 100 && spendsSince(mark).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(spendsSince(mark)).toHaveLength(1);
    process.kill(first.pid()!, "SIGKILL");
    await first.close().catch(() => {});

    const second = await formClient(yes, { stateDir });
    try {
      const r = await second.client.callTool({ name: "billing_topup", arguments: { credits: 55 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(second.asked).toHaveLength(1);
      expect(second.asked[0]!.message).toMatch(/never answered/);
      await until(() => /spend in doubt from an earlier run/.test(second.stderr()));
      const sent = spendsSince(mark);
      expect(sent).toHaveLength(2);
      expect(sent[0]!.idempotencyKey).toBe(sent[1]!.idempotencyKey);
      expect(sent[0]!.rawBody).toBe(sent[1]!.rawBody);
      expect(chargesSince(mark)).toHaveLength(1);
    } finally {
      api.clearFaults();
      await second.close();
    }
  });
});

describe("audit", () => {
  it("records asked, confirmed, sent, answered in a chain that verifies, with no secret; tampering is named", async () => {
    const stateDir = tempDir();
    const c = await formClient(yes, { stateDir });
    await c.client.callTool({ name: "billing_topup", arguments: { credits: 15 } });
    await c.close();
    const lines = await auditLines(stateDir);
    expect(lines.join("\n")).not.toContain(TEST_KEY);
    const events = lines.map((l) => JSON.parse(l) as { event: string; caller: string; key?: string });
    expect(events.map((e) => e.event)).toEqual(["asked", "confirmed", "sent", "answered"]);
    expect(events[0]!.caller).toMatch(/^fp_[0-9a-f]{16}$/);
    expect(events[2]!.key).toMatch(/^[0-9a-f-]{36}$/);

    const ok = await auditVerify(stateDir);
    expect(ok.status).toBe(0);
    expect(ok.stderr + ok.stdout).toMatch(/OK, 4 line/);
    const viaStore = await auditVerify(stateDir, "store");
    expect(viaStore.stderr + viaStore.stdout).toMatch(/OK, 4 line/);

    await editAuditLine(stateDir, 2, (line) => line.replace('"confirmed"', '"declined"'));
    const bad = await auditVerify(stateDir);
    expect(bad.status).toBe(1);
    expect(bad.stderr + bad.stdout).toMatch(/BROKEN at line 3/);
  });
});

describe("operator switches", () => {
  it("--read-only lists the 9 reads and the gate cannot reopen a spend", async () => {
    const c = await formClient(yes, { args: ["--read-only"] });
    try {
      const { tools } = await c.client.listTools();
      expect(tools).toHaveLength(9);
      const mark = api.requests.length;
      // Not registered, so unknown: SDK v2 answers a protocol error (-32602, as the spec says for an unknown
      // tool) where SDK 1.x answered an isError result. Either way nothing is asked and nothing is sent.
      const r = await c.client.callTool({ name: "billing_topup", arguments: { credits: 5 } }).catch((e: Error & { code?: number }) => e);
      expect((r as { code?: number }).code).toBe(-32602);
      expect((r as Error).message).toMatch(/billing_topup not found/);
      expect(c.asked).toHaveLength(0);
      expect(api.requests.length).toBe(mark);
    } finally {
      await c.close();
    }
  });
});
