// A successful upstream call is never reported as a failure (issue 12, section 2). Through the real process:
// a spawned stdio server, the SDK's own Client (which also checks structuredContent against each tool's
// outputSchema, as the server does), and the sandbox API crafting any 2xx answer for every tool. Spends are
// confirmed by a form-elicitation client that says yes.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { CATALOG } from "../src/tools/catalog.js";
import { startStdio, textOf, type StdioHarness } from "./helpers/stdio.js";
import { spendsAfter, SPEND_OPERATIONS } from "./helpers/spends.js";

/** Arguments each tool accepts; an approval id is the sandbox's seeded pending one, so a spend's preview read works. */
const ARGS: Record<string, Record<string, unknown>> = {
  billing_credits_balance: {},
  billing_credits_transactions: { limit: 3 },
  billing_invoices_list: {},
  billing_stripe_invoices_list: {},
  billing_plans_list: {},
  billing_status_get: { organization_id: "org_demo" },
  billing_auto_topup_get: {},
  billing_approvals_list: {},
  billing_approvals_get: { approval_id: "apr_seed_1" },
  billing_approvals_request: { credits: 5 },
  billing_approvals_reject: { approval_id: "apr_seed_1", reason: "no" },
  billing_set_auto_topup: { enabled: false, threshold_credits: 10, topup_amount_credits: 20 },
  billing_topup: { credits: 7 },
  billing_approvals_approve: { approval_id: "apr_seed_1" },
  billing_run_monthly_for_org: { organization_id: "org_demo" },
};

let api: SandboxApi;
let h: StdioHarness;
beforeAll(async () => {
  api = await startSandboxApi();
  h = await startStdio({
    apiUrl: api.url,
    capabilities: { elicitation: { form: {} } },
    onElicit: () => ({ action: "accept", content: { confirm: true } }),
  });
  // Listing the tools makes the Client validate structuredContent against their outputSchemas too.
  await h.client.listTools();
});
afterAll(async () => {
  await h?.close();
  await api?.close();
});

it("every tool has arguments here", () => {
  expect(Object.keys(ARGS).sort()).toEqual(CATALOG.map((r) => r.name).sort());
});

/** JSON values, biased towards the keys our output schemas once assumed (id, status, enabled). */
const key = fc.oneof(fc.constantFrom("id", "status", "enabled", "value", "rows", "credits", "error"), fc.string({ maxLength: 6 }));
const json: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 12 }),
    fc.array(tie("v"), { maxLength: 3 }),
    fc.dictionary(key, tie("v"), { maxKeys: 4 }),
  ),
})).v;

const JSON_TYPE = fc.constantFrom("application/json", "application/json; charset=utf-8");
const NDJSON_TYPE = fc.constantFrom("application/x-ndjson", "application/jsonl");
/** Every kind of 2xx body: one JSON value, NDJSON of 0, 1 or many rows, nothing at all, text that is not JSON, pages and files. */
const answer = fc.oneof(
  { weight: 5, arbitrary: fc.record({ contentType: JSON_TYPE, body: json.map((v) => JSON.stringify(v)) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      contentType: NDJSON_TYPE,
      body: fc.tuple(fc.array(json, { maxLength: 5 }), fc.boolean()).map(([rows, nl]) => rows.map((r) => JSON.stringify(r)).join("\n") + (nl && rows.length ? "\n" : "")),
    }),
  },
  { weight: 5, arbitrary: fc.record({ contentType: fc.oneof(JSON_TYPE, NDJSON_TYPE), body: fc.constant("") }) },
  { weight: 5, arbitrary: fc.record({ contentType: fc.oneof(JSON_TYPE, NDJSON_TYPE), body: fc.string({ maxLength: 20 }) }) },
  // What a proxy or a misconfigured API may send with a 2xx: a page, text, no type, a file (small, or larger
  // than the server passes on — 512 KB by default).
  { weight: 5, arbitrary: fc.record({ contentType: fc.constantFrom("text/html", "text/plain", "", "application/pdf"), body: fc.string({ maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ contentType: fc.constant("application/pdf"), body: fc.constant("%PDF".padEnd(600_000, "x")) }) },
);
const status = fc.constantFrom(200, 201, 202);

const textsOf = (r: CallToolResult) => r.content.filter((c) => c.type === "text").map((c) => (c as { text: string }).text);

describe("any 2xx answer, for every tool", () => {
  it("is a result, never an MCP error; a spend always ends with its key and 'Charged once'; a compute call is reported done", async () => {
    const seen = { cases: 0, spends: 0, compute: 0, reads: 0, readErrors: 0 };
    const t0 = performance.now();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CATALOG.map((r) => r.name)), status, answer, async (name, code, { contentType, body }) => {
        const record = CATALOG.find((r) => r.name === name)!;
        seen.cases++;
        const mark = api.requests.length;
        api.inject(record.operationId, { kind: "status", status: code, contentType, body });
        // An MCP error (a protocol error from the server, or a structuredContent the Client rejects) throws here.
        const r = (await h.client.callTool({ name: record.name, arguments: ARGS[record.name]! })) as CallToolResult;
        api.clearFaults();
        expect(Array.isArray(r.content), JSON.stringify(r)).toBe(true);
        const reached = api.requests.slice(mark).filter((q) => q.operationId === record.operationId);
        expect(reached, `${record.name}: exactly one request with the crafted answer`).toHaveLength(1);
        expect(reached[0]!.status).toBe(code);
        if (SPEND_OPERATIONS.has(record.operationId)) {
          seen.spends++;
          const sent = spendsAfter(api, mark);
          expect(sent).toHaveLength(1);
          const k = sent[0]!.idempotencyKey!;
          expect(k).toMatch(/^[0-9a-f-]{36}$/);
          expect(r.isError, textOf(r)).toBeFalsy();
          expect(textsOf(r).at(-1)).toBe(`Charged once (Idempotency-Key ${k}).`);
          expect(textOf(r)).not.toMatch(/failed|Nothing was charged|may have charged|may or may not/i);
        } else if (record.sideEffect === "compute") {
          seen.compute++;
          expect(r.isError, textOf(r)).toBeFalsy();
          expect(textOf(r)).not.toMatch(/failed/i);
          expect(r.structuredContent).toBeTypeOf("object");
        } else {
          seen.reads++;
          // A read changed nothing: an unreadable answer may be an error, but a tool result all the same.
          if (r.isError) seen.readErrors++;
          else expect(r.structuredContent).toBeTypeOf("object");
        }
      }),
      { numRuns: 150 },
    );
    console.log(`2xx answers: ${seen.cases} cases (${seen.spends} spends, ${seen.compute} compute, ${seen.reads} reads, ${seen.readErrors} read errors) in ${Math.round(performance.now() - t0)} ms`);
  }, 60_000);

  it("a 2xx answer cut off part-way (the connection dies mid-body): a spend still says charged once, a compute call applied", async () => {
    for (const record of CATALOG.filter((r) => r.sideEffect !== "read")) {
      const mark = api.requests.length;
      api.inject(record.operationId, { kind: "cutStream" });
      const r = (await h.client.callTool({ name: record.name, arguments: ARGS[record.name]! })) as CallToolResult;
      api.clearFaults();
      expect(r.isError, `${record.name}: ${textOf(r)}`).toBeFalsy();
      expect(r._meta?.["com.geopera/error"], record.name).toBe("stream_cut");
      if (record.spend) {
        const k = spendsAfter(api, mark)[0]!.idempotencyKey!;
        expect(textsOf(r).at(-1), record.name).toBe(`Charged once (Idempotency-Key ${k}).`);
        expect(textOf(r)).toMatch(/the API accepted the charge \(HTTP 200\), but its answer could not be read: .*broke off/);
        expect(r.structuredContent).toMatchObject({ charged_once: true, idempotency_key: k, upstream_status: 200 });
      } else {
        expect(textOf(r)).toMatch(/the API accepted this call \(HTTP 200\) and applied it, but its answer could not be read: .*broke off/);
      }
    }
  });

  it("204 No Content (no body, no type) is a result too, for every tool", async () => {
    for (const record of CATALOG) {
      const mark = api.requests.length;
      api.inject(record.operationId, { kind: "status", status: 204, contentType: "", body: "" });
      const r = (await h.client.callTool({ name: record.name, arguments: ARGS[record.name]! })) as CallToolResult;
      api.clearFaults();
      if (record.spend) {
        const k = spendsAfter(api, mark)[0]!.idempotencyKey!;
        expect(textsOf(r).at(-1), record.name).toBe(`Charged once (Idempotency-Key ${k}).`);
        expect(textOf(r)).toContain("the API accepted the charge (HTTP 204)");
      } else if (record.sideEffect === "compute") {
        expect(r.isError, textOf(r)).toBeFalsy();
        expect(textOf(r)).toContain("the API accepted this call (HTTP 204) and applied it");
      } else {
        expect(r.isError, record.name).toBe(true);
      }
    }
  });
});
