// What the person reads cannot be written by the agent (issue 12, section 3). Whatever strings the agent
// puts in the arguments, and whatever strings the API puts in the answer the person is shown, the form's
// text keeps exactly the server's line structure: the same number of lines, the same fixed labels in the
// same order, each agent value inside its own “…” on its own line, no control, format or bidi character,
// no credential. Checked through the real spawned stdio server (a client with form elicitation whose
// handler records the question and declines) and once on the confirmation page's HTML.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import type { ElicitRequest } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { MAX_SHOWN, oneLine, quoted } from "../src/gate/quote.js";
import { factsAsText, spendFacts, withServerFact } from "../src/gate/facts.js";
import { CATALOG } from "../src/tools/catalog.js";
import { startStdio, linkOf, textOf, TEST_KEY, type StdioHarness } from "./helpers/stdio.js";
import { spendsAfter } from "./helpers/spends.js";

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1); // multiplier
/** Generated inputs per check, reported at the end. */
const tried: Record<string, number> = {};
const count = (what: string) => void (tried[what] = (tried[what] ?? 0) + 1);

// ---- the checks, written independently of src/gate/quote.ts ----------------------------------------

/** A quoted value as the server must write it: “ … ” with “ ” and \ inside escaped. */
const QUOTED = /“(?:[^“”\\]|\\[“”\\])*”/g;
/** Invisible or direction-changing characters: none may reach the person. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const CREDENTIAL = /\b(gpra|gpst)_[A-Za-z0-9_\-.]+/;

/** A line with every quoted value replaced by “…” and every number by #: what the server alone wrote. */
const skeleton = (line: string) => line.replace(QUOTED, "“…”").replace(/\d+(?:\.\d+)?/g, "#");

/** Asserts `text` has the server's lines of `baseline` and nothing of the agent's outside quotes. */
function expectServerStructure(text: string, baseline: string): string[] {
  const lines = text.split("\n");
  expect(lines.map(skeleton)).toEqual(baseline.split("\n").map(skeleton));
  for (const line of lines) expect(line).not.toMatch(INVISIBLE);
  expect(text).not.toContain(TEST_KEY);
  expect(text).not.toMatch(CREDENTIAL);
  return lines;
}

/** The one quoted value a line ends with, after `label: `. */
function valueOf(lines: string[], label: string): string {
  const line = lines.find((l) => l.startsWith(`${label}: `))!;
  const m = new RegExp(`^${label.replace(/[()]/g, "\\$&")}: (“(?:[^“”\\\\]|\\\\[“”\\\\])*”)$`).exec(line);
  expect(m, line).not.toBeNull();
  return m![1]!.slice(1, -1);
}

// ---- what an agent (or an API on a bad day) writes ----------------------------------------------------

const FRAGMENTS = [
  "\n",
  "\r\n",
  "\r",
  "\n\n\n\n",
  "\u2028",
  "\u2029",
  "\u0085",
  "\v",
  "\f",
  "\t",
  "\u0000",
  "\u001b[2J",
  "\u202E",
  "\u202A",
  "\u2066",
  "\u2069",
  "\u200B",
  "\u200F",
  "\uFEFF",
  "\u00AD",
  "\uD800",
  "\uDFFF",
  "“",
  "”",
  '"',
  "\\",
  "\\”",
  "⏎",
  "…",
  ": ",
  "What the billing API says:",
  "\nWhat the billing API says:\nThis is a dry run. Nothing is charged.\n",
  "Nothing is charged unless you confirm.",
  "\nCredits: 1\n",
  "\nOperation: Read balance (billing.credits.balance)\n",
  "Argument description: “ok”",
  "Confirm a charge: nothing.",
  TEST_KEY,
  "gpra_another_secret_999",
  "Bearer gpst_session_token_1",
  "Bearer xyz",
];
const piece = (fragments: readonly string[]) => fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...fragments) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
);
/** An agent's string of at most `max` UTF-16 units (the tool schema's bound), often hostile, sometimes long. */
const agentString = (max: number, min = 0, fragments: readonly string[] = FRAGMENTS) =>
  fc
    .oneof(
      { weight: 4, arbitrary: fc.array(piece(fragments), { maxLength: 12 }).map((p) => p.join("")) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...fragments), fc.integer({ min: 1, max: 300 })).map(([f, n]) => f.repeat(n)) },
      { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: max - 5, maxLength: max }) },
    )
    .map((s) => s.slice(0, max))
    .filter((s) => s.length >= min);

// ---- quote.ts on its own (in memory: many inputs) ------------------------------------------------------

describe("quote.ts", () => {
  it("any value becomes one bounded line of visible characters; quoted values cannot close their quotes; credentials are gone", () => {
    fc.assert(
      fc.property(fc.oneof(agentString(2000), fc.jsonValue()), (v) => {
        count("quote.ts values");
        for (const [out, max] of [[oneLine(v, [TEST_KEY]), MAX_SHOWN + 1], [quoted(v, [TEST_KEY]), MAX_SHOWN + 3]] as const) {
          expect(out).not.toMatch(INVISIBLE);
          expect(out).not.toContain("\n");
          expect(out.length).toBeLessThanOrEqual(max);
          expect(out).not.toContain(TEST_KEY);
          expect(out).not.toMatch(CREDENTIAL);
        }
        const q = quoted(v, [TEST_KEY]);
        expect(q.match(QUOTED)).toEqual([q]);
      }),
      { numRuns: 500 * RUNS, seed: SEED },
    );
  });

  it("plain text is shown as it is; line breaks as ⏎; the rest made visible; long values end in …", () => {
    expect(quoted("Top-up for May")).toBe("“Top-up for May”");
    expect(oneLine("a\nb\r\nc\u2028d")).toBe("a⏎b⏎c⏎d");
    expect(quoted("x\u202Ey”z\\")).toBe("“x[U+202E]y\\”z\\\\”");
    expect(oneLine("a\uD800b")).toBe("a[U+D800]b");
    expect(oneLine("x".repeat(500))).toBe(`${"x".repeat(MAX_SHOWN)}…`);
    expect(oneLine(`key ${TEST_KEY}`, [TEST_KEY])).toBe("key [REDACTED]");
    expect(oneLine({ note: "Bearer abc", n: 1 })).toBe('{"note":"Bearer [REDACTED]","n":1}');
  });
});

describe("facts.ts", () => {
  it("a line the server adds later (an earlier unanswered attempt) stays among the server's lines, above the API's and the agent's", () => {
    const topup = CATALOG.find((r) => r.name === "billing_topup")!;
    const { view } = spendFacts(topup, { credits: 5, description: "x\nEarlier attempt: none" }, { organization_id: "org_demo", balance_credits: 10 }, [TEST_KEY]);
    const lines = factsAsText(withServerFact(view, ["Earlier attempt", "sent and never answered"])).split("\n");
    expect(lines).toEqual([
      "Confirm a charge: Buy 5 credits now and charge the organization's saved card.",
      "Operation: Buy credits now (billing.topup)",
      "Credits: 5",
      "Earlier attempt: sent and never answered",
      "What the billing API says:",
      "Organization: “org_demo”",
      "Current balance (credits): 10",
      "What the assistant sent (quoted):",
      "Argument description: “x⏎Earlier attempt: none”",
      "Nothing is charged unless you confirm.",
    ]);
  });
});

// ---- through the real server ---------------------------------------------------------------------------

let api: SandboxApi;
let form: StdioHarness;
let page: StdioHarness;
const asked: string[] = [];

beforeAll(async () => {
  api = await startSandboxApi();
  form = await startStdio({
    apiUrl: api.url,
    args: ["--log-level", "warn"],
    capabilities: { elicitation: { form: {} } },
    onElicit: (req: ElicitRequest) => {
      asked.push((req.params as { message: string }).message);
      return { action: "decline" };
    },
  });
  page = await startStdio({ apiUrl: api.url, args: ["--log-level", "warn"] });
}, 30_000);
afterAll(async () => {
  console.log(`confirm-text (seed ${SEED}): ${Object.entries(tried).map(([k, n]) => `${k} ${n}`).join(", ")}`);
  await form?.close();
  await page?.close();
  await api?.close();
});

/** Calls a spend tool; the client declines; returns the text of the form the person was shown. */
async function formText(name: string, args: Record<string, unknown>): Promise<string> {
  const before = asked.length;
  const mark = api.requests.length;
  const r = await form.client.callTool({ name, arguments: args });
  expect(r.isError).toBe(true);
  expect(asked.length, textOf(r)).toBe(before + 1);
  expect(spendsAfter(api, mark)).toEqual([]);
  return asked.at(-1)!;
}

/** An approval as the API might describe it: fields we know and one we do not, every string the API's choice. */
const approvalAnswer = (s: { id: string; status: string; org: string; expires: string; key: string; extra: string }) =>
  JSON.stringify({ id: s.id, status: s.status, credits: 640, amount_aud: 32, organization_id: s.org, expires_at: s.expires, [`x_${s.key}`]: s.extra });

describe("the form's text has the server's line structure whatever the strings", () => {
  it("billing_topup: any description stays one quoted line under the server's lines", async () => {
    const baseline = await formText("billing_topup", { credits: 5, description: "Top-up for May" });
    expect(baseline.split("\n")).toEqual([
      "Confirm a charge: Buy 5 credits now and charge the organization's saved card.",
      "Operation: Buy credits now (billing.topup)",
      "Credits: 5",
      "What the billing API says:",
      "Organization: “org_demo”",
      expect.stringMatching(/^Current balance \(credits\): \d+$/),
      "What the assistant sent (quoted):",
      "Argument description: “Top-up for May”",
      "Nothing is charged unless you confirm.",
    ]);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), agentString(200), async (credits, description) => {
        count("topup forms");
        const lines = expectServerStructure(await formText("billing_topup", { credits, description }), baseline);
        expect(lines[2]).toBe(`Credits: ${credits}`);
        const shown = valueOf(lines, "Argument description");
        if (/^[\x20-\x7e]*$/.test(description) && !/[\\]|gp(ra|st)_|bearer/i.test(description)) expect(shown).toBe(description);
      }),
      { numRuns: 80 * RUNS, seed: SEED },
    );
  });

  it("billing_approvals_approve: any approval id (in the summary too) and any strings in the API's answer stay data", async () => {
    const benign = { id: "apr_1", status: "pending", org: "org_demo", expires: "2026-12-01", key: "note", extra: "none" };
    api.inject("billing.approvals.get", { kind: "status", status: 200, body: approvalAnswer(benign), contentType: "application/x-ndjson" });
    const baseline = await formText("billing_approvals_approve", { approval_id: "apr_1" });
    expect(baseline.split("\n")).toEqual([
      "Confirm a charge: Approve credit purchase “apr_1” and charge the organization's saved card.",
      "Operation: Approve purchase (billing.approvals.approve)",
      "Credits: 640",
      "What the billing API says:",
      "Amount charged (AUD): 32",
      "Credits: 640",
      "Organization: “org_demo”",
      "Status: “pending”",
      "Expires: “2026-12-01”",
      "Field “x_note”: “none”",
      "What the assistant sent (quoted):",
      "Argument approval_id: “apr_1”",
      "Nothing is charged unless you confirm.",
    ]);
    // Credential-shaped strings in the API's answer are left to the redaction tests (issue 12, section 1):
    // here the API is hostile in layout only, so that every answer reaches the person.
    const apiFragments = FRAGMENTS.filter((f) => !CREDENTIAL.test(f) && !/bearer/i.test(f));
    const apiString = agentString(400, 0, apiFragments);
    await fc.assert(
      fc.asyncProperty(
        agentString(128, 1),
        fc.record({ id: apiString, status: apiString, org: apiString, expires: apiString, key: agentString(60, 0, apiFragments), extra: apiString }),
        async (approvalId, answer) => {
          count("approve forms");
          api.inject("billing.approvals.get", { kind: "status", status: 200, body: approvalAnswer(answer), contentType: "application/x-ndjson" });
          const lines = expectServerStructure(await formText("billing_approvals_approve", { approval_id: approvalId }), baseline);
          expect(lines[0]!.match(QUOTED)).toHaveLength(1);
          valueOf(lines, "Argument approval_id");
          valueOf(lines, "Status");
        },
      ),
      { numRuns: 60 * RUNS, seed: SEED },
    );
    api.clearFaults();
  });
});

describe("the confirmation page shows the same rows whatever the strings", () => {
  it("one row per fact, the agent's value quoted in its own cell, nothing invisible, nothing of the agent's as markup", async () => {
    const rowsOf = async (description: string) => {
      const r = await page.client.callTool({ name: "billing_topup", arguments: { credits: 6, description } });
      const html = await (await fetch(linkOf(r))).text();
      const what = /<div class="what">([^<]*)<\/div>/.exec(html)![1]!;
      const table = /<table>(.*)<\/table>/s.exec(html)![1]!;
      return { what, rows: table.match(/<tr>.*?<\/tr>/gs)!, table, html };
    };
    const baseline = await rowsOf("Top-up for May");
    expect(baseline.rows).toHaveLength(7);
    const hostile = [
      `May\n\nWhat the billing API says:\nThis is a dry run. Nothing is charged.\u202E\n\n\n</td></tr><tr><th>Credits</th><td>1`,
      `“”\\” <script>alert(1)</script> ${TEST_KEY} \u2066\u200B\uD800`,
      "\u202E".repeat(200),
    ];
    for (const description of hostile) {
      count("pages");
      const { what, rows, table, html } = await rowsOf(description);
      expect(what).toBe(baseline.what);
      expect(rows).toHaveLength(baseline.rows.length);
      expect(rows.map((r) => r.replace(/<td>.*<\/td>/s, "<td/>"))).toEqual(baseline.rows.map((r) => r.replace(/<td>.*<\/td>/s, "<td/>")));
      expect(rows.at(-1)).toMatch(/^<tr><th>Argument description<\/th><td>“(?:[^“”\\<>]|\\[“”\\])*”<\/td><\/tr>$/);
      expect(table).not.toMatch(INVISIBLE);
      expect(table).not.toContain("\n");
      expect(html).not.toContain(TEST_KEY);
      expect(html).not.toContain("<script>");
    }
  });
});
