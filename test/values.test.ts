// Text an agent or the API controls never corrupts what is stored or returned (issue 12, part 1). Two real
// servers (spawned stdio processes spoken to in raw JSON-RPC, so every stdout byte is seen) against the
// sandbox API: A has no elicitation (every spend is refused and audited), B answers every form "yes" (spends
// are journaled and sent). Generated hostile strings (helpers/hostile.ts: quotes, backslashes, escape
// look-alikes, U+2028/2029, NUL, lone surrogates, `Bearer `/`gpra_`/`gpst_` tokens) go into every string
// argument of every tool, and into the API's answers (the sandbox's fault switch crafts them). For every
// input: the answer is a tool result (never a JSON-RPC error); a successful result's JSON text parses and
// says what its structuredContent says; what the API applied is reported as applied. At the end: every
// line of audit.jsonl and journal.jsonl parses, `audit verify` passes, no credential is anywhere (stdout,
// stderr, results, state files, spend bodies sent), and each server restarts on its state and answers.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { startSandboxApi, type SandboxApi, type Fault } from "../src/sandbox/index.js";
import { redact, redactValue } from "../src/redact.js";
import { startRaw, type RawServer, type RpcMessage } from "./helpers/raw.js";
import { CLI, TEST_KEY } from "./helpers/stdio.js";
import { hostile, CREDENTIAL, type Hostile } from "./helpers/hostile.js";
import { startPostgres } from "./helpers/postgres.js";
import { skipped, NO_POSTGRES } from "./helpers/skip.js";

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1); // multiplier
const AGENT_RUNS = 30 * RUNS;
const ANSWER_RUNS = 40 * RUNS;
const SPEND_RUNS = 20 * RUNS;
const PG_RUNS = 15 * RUNS;
const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const FORM = { elicitation: { form: {} } };
const LOGS = ["--log-level", "debug"];

let api: SandboxApi;
let a: RawServer; // no elicitation
let b: RawServer; // form elicitation, always "yes"
/** Every credential token generated so far: none may appear anywhere outbound. */
const needles = new Set<string>();
/** Form questions B was asked. */
const asked: string[] = [];
const count: Record<string, number> = {};

beforeAll(async () => {
  api = await startSandboxApi();
  [a, b] = await Promise.all([startRaw({ apiUrl: api.url, args: LOGS }), startRaw({ apiUrl: api.url, args: LOGS, capabilities: FORM })]);
}, 30_000);
afterAll(async () => {
  console.log(`values: seed ${SEED}; generated inputs: ${Object.entries(count).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  await a?.close();
  await b?.close();
  await api?.close();
});

const note = (h: Hostile) => {
  for (const n of h.needles) needles.add(n);
  return h.text;
};

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(k), strings(x, out);
  return out;
}

/** No credential in this text: not the server's key, no generated token. (One expect per text: they are many.) */
function assertClean(text: string, where: string): void {
  const found = [TEST_KEY, ...needles].find((n) => text.includes(n));
  expect(found, `${where} holds the credential ${found}`).toBeUndefined();
}
/** The same for a value, and no string or key in it shaped like a credential. */
function assertCleanValue(v: unknown, where: string): void {
  assertClean(JSON.stringify(v), where);
  const shaped = strings(v).find((s) => CREDENTIAL.test(s));
  expect(shaped, `${where} holds a credential-shaped string`).toBeUndefined();
}

/**
 * The value as structuredContent arrives: SDK 1.x re-parses every tools/call result with zod
 * (CallToolResultSchema, structuredContent a z.record) and returns that copy, whose TOP-level keys are
 * assigned — so a top-level "__proto__" key the API sent is dropped there (nested values are kept as they
 * are). The text keeps it. Ours builds both from one value (results.ts); this is the SDK's copy.
 */
function asStructured(x: unknown): unknown {
  if (x === null || typeof x !== "object" || Array.isArray(x) || !Object.hasOwn(x, "__proto__")) return x;
  return Object.fromEntries(Object.entries(x as Record<string, unknown>).filter(([k]) => k !== "__proto__"));
}

/**
 * A tools/call answer: a result, never a JSON-RPC error; no credential in it; when successful, its text
 * is the JSON of its structuredContent (one object, one JSON value, or one line per row after a summary).
 */
function checkResult(m: RpcMessage, what: string): NonNullable<RpcMessage["result"]> & { structuredContent?: Record<string, unknown> } {
  expect(m.error, `${what}: a JSON-RPC error instead of a result: ${JSON.stringify(m.error)}`).toBeUndefined();
  const r = m.result as NonNullable<RpcMessage["result"]> & { structuredContent?: Record<string, unknown> };
  expect(r, what).toBeDefined();
  assertCleanValue(r, what);
  const text = r.content?.[0]?.text ?? "";
  if (!r.isError) {
    // Any text line that looks like JSON is JSON.
    for (const block of r.content ?? []) for (const line of (block.text ?? "").split("\n")) if (/^[[{]/.test(line)) expect(() => JSON.parse(line), `${what}: ${line}`).not.toThrow();
    const sc = r.structuredContent;
    if (sc && Array.isArray(sc.rows)) {
      const lines = text.split("\n").slice(1, 1 + sc.rows.length);
      expect(lines.map((l) => JSON.parse(l) as unknown), what).toEqual(sc.rows);
    } else if (sc && Object.keys(sc).length === 1 && "value" in sc) {
      expect(JSON.parse(text), what).toEqual(sc.value);
    } else if (sc && !("file" in sc)) {
      // (A file's text describes it in words; its bytes are the resource.)
      expect(asStructured(JSON.parse(text)), what).toEqual(sc);
    }
  }
  return r;
}

/** Calls a spend on B and answers its form "yes". */
async function spendOnB(name: string, args: Record<string, unknown>): Promise<RpcMessage> {
  const from = b.messages.length;
  const call = b.call(name, args);
  const ask = b.waitFor((m) => m.method === "elicitation/create", 10_000, from).catch(() => undefined);
  const first = await Promise.race([call, ask]);
  if (first && first.method === "elicitation/create") {
    asked.push((first.params as { message: string }).message);
    b.send(JSON.stringify({ jsonrpc: "2.0", id: first.id, result: { action: "accept", content: { confirm: true } } }));
  }
  return call;
}

const keyOf = (r: { content?: Array<{ text?: string }> }) => /Charged once \(Idempotency-Key ([0-9a-f-]{36})\)/.exec((r.content ?? []).map((c) => c.text).join("\n"))?.[1];

/** Expected description/reason as stored and shown: the agent's text, redacted as a value (with the caller's key). */
const shown = (s: string) => redact(s, [TEST_KEY]);

/** What each spend on B sent, by Idempotency-Key: the exact bytes, to compare with the journal. */
const sentBodies = new Map<string, string>();
/** The descriptions A's billing_topup calls were audited with ("asked": a page was opened for each). */
const askedDescriptions = new Set<string>();

describe("text an agent controls never corrupts what is stored or returned", () => {
  it(`arbitrary strings in every string argument of every tool: results stay results, rejects are reported as applied, reads keep working (${AGENT_RUNS} inputs)`, async () => {
    await fc.assert(
      fc.asyncProperty(hostile(500), hostile(128, 1), async (h, hid) => {
        count.agent = (count.agent ?? 0) + 1;
        const s = note(h);
        const id = note(hid);
        // A spend: a confirmation page is opened (stored with the arguments), audited, nothing charged.
        const topup = checkResult(await a.call("billing_topup", { credits: 1, description: s.slice(0, 200) }), "billing_topup");
        expect(topup.isError).toBe(true);
        expect(topup.content?.[0]?.text).toMatch(/Nothing was charged/);
        askedDescriptions.add(shown(s.slice(0, 200)));
        // A reject with that reason is applied by the API and reported as applied; the approval stays readable.
        const req = checkResult(await a.call("billing_approvals_request", { credits: 1 }), "billing_approvals_request");
        const approvalId = req.structuredContent!.id as string;
        const rej = checkResult(await a.call("billing_approvals_reject", { approval_id: approvalId, reason: s }), "billing_approvals_reject");
        expect(rej.isError, JSON.stringify(rej)).toBeFalsy();
        expect(rej.structuredContent).toMatchObject({ id: approvalId, status: "rejected", reason: shown(s) });
        const got = checkResult(await a.call("billing_approvals_get", { approval_id: approvalId }), "billing_approvals_get");
        expect(got.isError).toBeFalsy();
        expect(got.structuredContent).toMatchObject({ id: approvalId, status: "rejected", reason: shown(s) });
        const list = checkResult(await a.call("billing_approvals_list", {}), "billing_approvals_list");
        expect(list.isError).toBeFalsy();
        expect((list.structuredContent!.rows as Array<{ id: string; reason: unknown }>).find((r) => r.id === approvalId)?.reason).toBe(shown(s));
        // Free text and ids everywhere else: whatever the API makes of them, the answer is a result.
        checkResult(await a.call("billing_approvals_list", { status: s.slice(0, 32) }), "billing_approvals_list status");
        checkResult(await a.call("billing_credits_transactions", { reason: s.slice(0, 64), limit: 3 }), "billing_credits_transactions reason");
        checkResult(await a.call("billing_approvals_get", { approval_id: id }), "billing_approvals_get id");
        checkResult(await a.call("billing_status_get", { organization_id: id }), "billing_status_get id");
        checkResult(await a.call("billing_approvals_reject", { approval_id: id, reason: s }), "billing_approvals_reject id");
        expect(checkResult(await a.call("billing_approvals_approve", { approval_id: id }), "billing_approvals_approve id").isError).toBe(true);
        expect(checkResult(await a.call("billing_run_monthly_for_org", { organization_id: id }), "billing_run_monthly_for_org id").isError).toBe(true);
      }),
      { numRuns: AGENT_RUNS, seed: SEED, endOnFailure: true },
    );
  }, 60_000);

  it(`arbitrary strings (and keys) in the API's 2xx and 4xx answers, JSON and NDJSON: shown redacted, as valid JSON saying what structuredContent says (${ANSWER_RUNS} inputs)`, async () => {
    let i = 0;
    await fc.assert(
      fc.asyncProperty(hostile(200), hostile(24), async (hv, hk) => {
        count.answer = (count.answer ?? 0) + 1;
        const v = note(hv);
        const k = note(hk);
        const ndjson = (rows: unknown[]): Fault => ({ kind: "status", status: 200, contentType: "application/x-ndjson", body: rows.map((r) => JSON.stringify(r) + "\n").join("") });
        const expected = (x: unknown) => JSON.parse(JSON.stringify(redactValue(x, [TEST_KEY]))) as unknown;
        switch (i++ % 5) {
          case 0: {
            const rec = { id: v || "apr", status: v, reason: v, [k]: v, nested: { [k]: [v, 1, null] } };
            api.inject("billing.approvals.get", ndjson([rec]));
            const r = checkResult(await a.call("billing_approvals_get", { approval_id: "apr_any" }), "approvals_get answer");
            expect(r.isError).toBeFalsy();
            expect(r.structuredContent).toEqual(asStructured(expected(rec)));
            break;
          }
          case 1: {
            const rows = [{ name: v, [k]: v }, { id: k, note: [v, { [v]: k }] }, { name: "plain" }];
            api.inject("billing.plans.list", ndjson(rows));
            const r = checkResult(await a.call("billing_plans_list", {}), "plans_list answer");
            expect(r.isError).toBeFalsy();
            expect(r.structuredContent!.rows).toEqual(expected(rows));
            break;
          }
          case 2: {
            const obj = { id: "apr_1", status: "pending", note: v, [k]: v };
            api.inject("billing.approvals.request", { kind: "status", status: 200, contentType: "application/json", body: JSON.stringify(obj) });
            const r = checkResult(await a.call("billing_approvals_request", { credits: 1 }), "approvals_request answer");
            expect(r.isError).toBeFalsy();
            expect(r.structuredContent).toEqual(asStructured(expected(obj)));
            break;
          }
          case 3: {
            api.inject("billing.status.get", { kind: "status", status: 400, contentType: "application/json", body: JSON.stringify({ error: { code: k, message: v } }) });
            const r = checkResult(await a.call("billing_status_get", { organization_id: "org_any" }), "status_get error answer");
            expect(r.isError).toBe(true);
            break;
          }
          default: {
            const rows = [v, [k, v], 0];
            api.inject("billing.approvals.list", ndjson(rows));
            const r = checkResult(await a.call("billing_approvals_list", {}), "approvals_list scalar rows");
            expect(r.isError).toBeFalsy();
            expect(r.structuredContent!.rows).toEqual(expected(rows));
          }
        }
      }),
      { numRuns: ANSWER_RUNS, seed: SEED, endOnFailure: true },
    );
  }, 60_000);

  it(`confirmed spends with arbitrary descriptions: the body sent is the redacted arguments, byte-identical on a retry, whatever the API answers (${SPEND_RUNS} inputs)`, async () => {
    let i = 0;
    await fc.assert(
      fc.asyncProperty(hostile(200), hostile(60), async (h, hv) => {
        count.spend = (count.spend ?? 0) + 1;
        const s = note(h);
        const v = note(hv);
        const variant = i++ % 4;
        if (variant === 0) api.inject("billing.topup", { kind: "status", status: 503, retryAfter: "0" });
        if (variant === 1) api.inject("billing.topup", { kind: "status", status: 200, contentType: "application/json", body: JSON.stringify([v, { [v]: v }]) });
        if (variant === 2) api.inject("billing.topup", { kind: "status", status: 200, contentType: "application/json", body: JSON.stringify(v) });
        const mark = api.requests.length;
        const r = checkResult(await spendOnB("billing_topup", { credits: 1, description: s }), "billing_topup on B");
        expect(r.isError, JSON.stringify(r)).toBeFalsy();
        const key = keyOf(r);
        expect(key, JSON.stringify(r)).toBeDefined();
        const sent = api.requests.slice(mark).filter((q) => q.operationId === "billing.topup");
        expect(sent.length).toBe(variant === 0 ? 2 : 1);
        for (const q of sent) {
          expect(q.idempotencyKey).toBe(key);
          expect(q.rawBody).toBe(sent[0]!.rawBody);
        }
        const body = sent[0]!.rawBody;
        assertClean(body, "the spend body sent");
        expect(JSON.parse(body)).toEqual({ credits: 1, description: shown(s) });
        sentBodies.set(key!, body);
        // A spend whose id is hostile: the preview read fails, nothing is asked or sent, the refusal is audited.
        const before = api.requests.length;
        expect(checkResult(await spendOnB("billing_approvals_approve", { approval_id: s || "x" }), "approve on B").isError).toBe(true);
        expect(api.requests.slice(before).filter((q) => q.operationId === "billing.approvals.approve")).toHaveLength(0);
      }),
      { numRuns: SPEND_RUNS, seed: SEED, endOnFailure: true },
    );
    // What the person was asked holds the same redacted text, and no credential.
    expect(asked.length).toBeGreaterThanOrEqual(SPEND_RUNS);
    for (const q of asked) assertClean(q, "a form question");
  }, 60_000);

  it("the issue's examples: description 'Bearer \"x' is audited as valid JSON; reason 'Bearer \"x' is reported as applied and the approval stays readable", async () => {
    const topup = checkResult(await a.call("billing_topup", { credits: 5, description: 'Bearer "x' }), "topup");
    expect(topup.isError).toBe(true);
    askedDescriptions.add('Bearer "x');
    const req = checkResult(await a.call("billing_approvals_request", { credits: 5 }), "request");
    const id = req.structuredContent!.id as string;
    const rej = checkResult(await a.call("billing_approvals_reject", { approval_id: id, reason: 'Bearer "x' }), "reject");
    expect(rej.isError).toBeFalsy();
    expect(rej.structuredContent).toMatchObject({ id, status: "rejected", reason: 'Bearer "x' });
    for (let n = 0; n < 2; n++) {
      expect(checkResult(await a.call("billing_approvals_list", {}), "list").isError).toBeFalsy();
      expect(checkResult(await a.call("billing_approvals_get", { approval_id: id }), "get").structuredContent).toMatchObject({ reason: 'Bearer "x' });
    }
  });

  it("a file answer: the API's content type is redacted in structuredContent and the resource too, not only in the text", async () => {
    needles.add("gpra_filetypesecret99");
    api.inject("billing.plans.list", { kind: "status", status: 200, contentType: "application/x-gpra_filetypesecret99", body: "%PDF-1.4" });
    const r = checkResult(await a.call("billing_plans_list", {}), "file answer");
    expect(r.structuredContent).toMatchObject({ file: { type: "application/x-[REDACTED]", bytes: 8 } });
  });

  it("afterwards: every stored line is JSON, audit verify passes, no credential on any channel, and both servers restart on their state and answer", async () => {
    expect(a.badLines).toEqual([]);
    expect(b.badLines).toEqual([]);
    await a.close();
    await b.close();
    for (const [name, s] of [["A", a], ["B", b]] as const) {
      // stdout (every byte) and stderr (one JSON log line each).
      assertClean(s.stdout(), `${name} stdout`);
      assertClean(s.stderr(), `${name} stderr`);
      for (const line of s.stderr().split("\n").filter(Boolean)) assertCleanValue(JSON.parse(line), `${name} stderr line`);
      // Every state file.
      for (const f of readdirSync(s.stateDir)) {
        const text = readFileSync(join(s.stateDir, f), "utf8");
        assertClean(text, `${name} ${f}`);
        if (f.endsWith(".json")) assertCleanValue(JSON.parse(text), `${name} ${f}`);
        if (f.endsWith(".jsonl")) for (const line of text.split("\n").filter(Boolean)) assertCleanValue(JSON.parse(line), `${name} ${f} line`);
      }
      const verify = spawnSync(process.execPath, [CLI, "audit", "verify", join(s.stateDir, "audit.jsonl")], { encoding: "utf8" });
      expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    }
    // A's refusals are audited with the text the agent sent, redacted; B's journal holds exactly the bytes sent.
    const auditA = readFileSync(join(a.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { tool: string; event: string; args?: { description?: string } });
    expect(new Set(auditA.filter((e) => e.tool === "billing_topup" && e.event === "asked").map((e) => e.args?.description))).toEqual(askedDescriptions);
    const journal = readFileSync(join(b.stateDir, "journal.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; key: string; body?: string });
    const journaled = new Map(journal.filter((e) => e.event === "send").map((e) => [e.key, e.body]));
    expect(journaled).toEqual(sentBodies);
    // Restart on the same state: it starts, answers, and the chain still verifies after its new lines.
    // (Restarted without elicitation and with --confirm-via form: the spend is refused — nobody is asked —
    // and audited, which appends to the old chain: the issue's exact case.)
    for (const [name, s] of [["A", a], ["B", b]] as const) {
      const again = await startRaw({ apiUrl: api.url, stateDir: s.stateDir, args: [...LOGS, "--confirm-via", "form"] });
      expect(checkResult(await again.call("billing_credits_balance", {}), `${name} restarted`).isError).toBeFalsy();
      expect(checkResult(await again.call("billing_topup", { credits: 1, description: 'Bearer "x' }), `${name} restarted: topup`).isError).toBe(true);
      expect(again.badLines).toEqual([]);
      await again.close();
      assertClean(again.stdout() + again.stderr(), `${name} restarted: stdout and stderr`);
      const verify = spawnSync(process.execPath, [CLI, "audit", "verify", join(s.stateDir, "audit.jsonl")], { encoding: "utf8" });
      expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    }
  }, 30_000);
});

describe.skipIf(!PG)(skipped("text an agent controls never corrupts what is stored: the PostgreSQL store", !PG, NO_POSTGRES), () => {
  it(`generated descriptions and reasons through a spawned server on PostgreSQL: every gate_audit row and stored confirmation is JSON, the journal holds the bytes sent, audit verify passes, it restarts (${PG_RUNS} inputs)`, async () => {
    const cluster = await startPostgres();
    try {
      const url = await cluster.createDatabase();
      const store = ["--store", url];
      // One server with form elicitation (spends go out) and one without (a page is opened: stored confirmations).
      const [f, p] = await Promise.all([startRaw({ apiUrl: api.url, args: [...LOGS, ...store], capabilities: FORM }), startRaw({ apiUrl: api.url, args: [...LOGS, ...store] })]);
      const bodies = new Map<string, string>();
      try {
        await fc.assert(
          fc.asyncProperty(hostile(200), async (h) => {
            count.postgres = (count.postgres ?? 0) + 1;
            const text = note(h);
            const mark = api.requests.length;
            const from = f.messages.length;
            const call = f.call("billing_topup", { credits: 1, description: text });
            const ask = await f.waitFor((m) => m.method === "elicitation/create", 10_000, from);
            f.send(JSON.stringify({ jsonrpc: "2.0", id: ask.id, result: { action: "accept", content: { confirm: true } } }));
            const r = checkResult(await call, "billing_topup on PostgreSQL");
            const key = keyOf(r)!;
            expect(key, JSON.stringify(r)).toBeDefined();
            bodies.set(key, api.requests.slice(mark).find((q) => q.idempotencyKey === key)!.rawBody);
            expect(checkResult(await p.call("billing_topup", { credits: 2, description: text }), "page topup on PostgreSQL").isError).toBe(true);
            const id = checkResult(await p.call("billing_approvals_request", { credits: 1 }), "request").structuredContent!.id as string;
            const rej = checkResult(await p.call("billing_approvals_reject", { approval_id: id, reason: text }), "reject on PostgreSQL");
            expect(rej.structuredContent).toMatchObject({ id, status: "rejected", reason: shown(text) });
          }),
          { numRuns: PG_RUNS, seed: SEED, endOnFailure: true },
        );
      } finally {
        await f.close();
        await p.close();
      }
      const rows = await cluster.query<{ line: string }>(url, "SELECT line FROM gate_audit ORDER BY seq");
      expect(rows.length).toBeGreaterThan(PG_RUNS);
      for (const r of rows) assertCleanValue(JSON.parse(r.line), "a gate_audit row");
      for (const c of await cluster.query<{ args: string; view: string }>(url, "SELECT args, view FROM gate_confirmations")) {
        assertCleanValue(JSON.parse(c.args), "gate_confirmations.args");
        assertCleanValue(JSON.parse(c.view), "gate_confirmations.view");
      }
      const journal = await cluster.query<{ key: string; body: string }>(url, "SELECT key, body FROM gate_journal");
      expect(new Map(journal.map((j) => [j.key, j.body]))).toEqual(bodies);
      const verify = spawnSync(process.execPath, [CLI, "audit", "verify", "--store", url], { encoding: "utf8" });
      expect(verify.status, verify.stdout + verify.stderr).toBe(0);
      const again = await startRaw({ apiUrl: api.url, args: [...LOGS, ...store, "--confirm-via", "form"] });
      expect(checkResult(await again.call("billing_credits_balance", {}), "restarted on PostgreSQL").isError).toBeFalsy();
      expect(checkResult(await again.call("billing_topup", { credits: 1, description: 'Bearer "x' }), "restarted: topup").isError).toBe(true);
      await again.close();
      expect(spawnSync(process.execPath, [CLI, "audit", "verify", "--store", url], { encoding: "utf8" }).status).toBe(0);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
