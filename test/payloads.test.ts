// Big answers through the real stdio transport: the cost of a call grows with the page the agent reads, not
// with the list. A 1,000,000-row ledger is asked for one page plus one row; an API that ignores the limit (or a
// list that takes none) is read only until the page is full; the agent gets the page and how to go on.
// (The figures themselves come from bench/ledger-page.ts and bench/rss.ts; this guards the behaviour.)
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { CATALOG } from "../src/tools/catalog.js";
import { startStdio, textOf, TEST_KEY, type StdioHarness } from "./helpers/stdio.js";

const ROWS = 1_000_000;
const MAX_ROWS = 100; // the server's default --max-rows

let api: SandboxApi;
let h: StdioHarness;

beforeAll(async () => {
  api = await startSandboxApi({ ledgerRows: ROWS });
  h = await startStdio({ apiUrl: api.url });
});
afterAll(async () => {
  await h?.close();
  await api?.close();
});

function peakRssMb(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

interface Page {
  rows: Array<{ id: string; balance_after: number; reason: string }>;
  count: number;
  truncated: boolean;
  next_offset?: number;
}

/** What the last request for the ledger asked the API for. */
const lastLedgerAsk = () => api.requests.filter((q) => q.operationId === "billing.credits.transactions").at(-1)!.body as Record<string, unknown>;

describe("a 1,000,000-row ledger", () => {
  it("a page costs a page: max-rows rows, the API asked for max-rows + 1, how to page on without counting the rest", async () => {
    const t0 = performance.now();
    const r = await h.client.callTool({ name: "billing_credits_transactions", arguments: {} }, undefined, { timeout: 60_000 });
    const ms = performance.now() - t0;
    expect(r.isError, textOf(r)).toBeFalsy();
    const page = r.structuredContent as unknown as Page;
    expect(page.count).toBe(MAX_ROWS);
    expect(page.rows).toHaveLength(MAX_ROWS);
    expect(page.truncated).toBe(true);
    expect(page.next_offset).toBe(MAX_ROWS);
    expect(page).not.toHaveProperty("total_rows");
    expect(textOf(r)).toMatch(new RegExp(`^${MAX_ROWS} rows \\(more after these\\)\\.`));
    expect(textOf(r)).toContain(`More rows: call billing_credits_transactions again with offset=${MAX_ROWS}.`);
    expect(textOf(r)).not.toContain(String(ROWS));
    expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThan(100_000);
    expect(r._meta?.["com.geopera/upstream_status"]).toBe(200);
    // One page plus the row that says "more": the agent gave no limit, the API was asked for 101.
    expect(lastLedgerAsk()).toEqual({ limit: MAX_ROWS + 1 });

    const peak = peakRssMb(h.pid()!);
    console.log(`a ${MAX_ROWS}-row page of 1,000,000 rows in ${Math.round(ms)} ms; server peak RSS ${peak.toFixed(1)} MB`);
    expect(peak).toBeLessThan(160);

    // Paging on from next_offset continues exactly where the page stopped, deep into the ledger too.
    const next = await h.client.callTool({ name: "billing_credits_transactions", arguments: { offset: page.next_offset, limit: 3 } });
    const nextPage = next.structuredContent as unknown as Page;
    expect(nextPage.rows).toHaveLength(3);
    expect(nextPage.truncated).toBe(true);
    expect(nextPage.next_offset).toBe(MAX_ROWS + 3);
    expect(lastLedgerAsk()).toEqual({ offset: MAX_ROWS, limit: 4 });
    const all = await h.client.callTool({ name: "billing_credits_transactions", arguments: { offset: MAX_ROWS - 1, limit: 2 } });
    expect((all.structuredContent as unknown as Page).rows.map((x) => x.id)).toEqual([page.rows.at(-1)!.id, nextPage.rows[0]!.id]);
    // The last page says there is nothing more.
    const last = await h.client.callTool({ name: "billing_credits_transactions", arguments: { offset: ROWS - 2 } });
    expect(last.structuredContent).toMatchObject({ count: 2, truncated: false });
    expect(last.structuredContent).not.toHaveProperty("next_offset");
    expect(textOf(last)).toMatch(/^2 rows\.\n/);
  });

  it("a small limit is honoured: exactly that many rows, and whether more follow", async () => {
    const r = await h.client.callTool({ name: "billing_credits_transactions", arguments: { limit: 7, reason: "topup" } });
    const page = r.structuredContent as unknown as Page;
    expect(page).toMatchObject({ count: 7, truncated: true, next_offset: 7 });
    expect(page.rows.every((x) => x.reason === "topup")).toBe(true);
    expect(lastLedgerAsk()).toEqual({ limit: 8, reason: "topup" });
  });
});

it("a list without offset, cut by the agent's own limit, says a larger limit is an option", async () => {
  const r = await h.client.callTool({ name: "billing_invoices_list", arguments: { limit: 1 } });
  expect(r.structuredContent).toMatchObject({ count: 1, truncated: true });
  expect(r.structuredContent).not.toHaveProperty("next_offset");
  expect(textOf(r)).toMatch(/More rows: this list has no offset, so ask for a larger limit or narrow it with a filter\.$/);
  expect(api.requests.at(-1)!.body).toEqual({ limit: 2 });
});

describe("pages match the ledger, for any limit, offset and filter", () => {
  const N = 1_000;
  const PAGE = 50;
  let small: SandboxApi;
  let s: StdioHarness;
  beforeAll(async () => {
    small = await startSandboxApi({ ledgerRows: N });
    s = await startStdio({ apiUrl: small.url, args: ["--max-rows", String(PAGE)] });
  });
  afterAll(async () => {
    await s?.close();
    await small?.close();
  });

  /** The whole ledger from `offset` on, asked of the API directly: the oracle. */
  async function direct(args: { offset?: number; reason?: string }): Promise<Array<{ id: string }>> {
    const res = await fetch(`${small.url}/v1/op/billing.credits.transactions`, { method: "POST", headers: { authorization: `Bearer ${TEST_KEY}`, "content-type": "application/json" }, body: JSON.stringify(args) });
    return (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string });
  }

  it("never more rows than the agent asked for or --max-rows; truncated exactly when rows remain; next_offset continues", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          { limit: fc.integer({ min: 1, max: 1000 }), offset: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: N - 60, max: N + 5 })), reason: fc.constantFrom("topup", "usage", "monthly", "approval") },
          { requiredKeys: [] },
        ),
        async (args) => {
          const r = await s.client.callTool({ name: "billing_credits_transactions", arguments: args });
          expect(r.isError, textOf(r)).toBeFalsy();
          const page = r.structuredContent as unknown as Page;
          const want = await direct({ ...(args.offset !== undefined ? { offset: args.offset } : {}), ...(args.reason ? { reason: args.reason } : {}) });
          const size = Math.min(args.limit ?? PAGE, PAGE);
          expect(page.rows.map((x) => x.id)).toEqual(want.slice(0, size).map((x) => x.id));
          expect(page.count).toBe(page.rows.length);
          expect(page.truncated).toBe(want.length > size);
          if (page.truncated) expect(page.next_offset).toBe((args.offset ?? 0) + size);
          else expect(page).not.toHaveProperty("next_offset");
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("an API that streams without end (ignores limit, or a list that takes none)", () => {
  let endless: Server;
  let e: StdioHarness;
  const written = new Map<string, number>();
  beforeAll(async () => {
    // Every operation answers rows forever, as fast as the socket takes them; bytes written are counted.
    endless = createServer((req, res) => {
      req.resume();
      const op = req.url!.split("/").at(-1)!;
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      let i = 0;
      const line = () => `{"id":"row_${i++}","note":"${"x".repeat(80)}"}\n`;
      const pump = () => {
        while (!res.destroyed) {
          const chunk = Array.from({ length: 64 }, line).join("");
          written.set(op, (written.get(op) ?? 0) + chunk.length);
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
      };
      res.on("close", () => res.removeAllListeners("drain"));
      pump();
    });
    await new Promise<void>((r) => endless.listen(0, "127.0.0.1", r));
    e = await startStdio({ apiUrl: `http://127.0.0.1:${(endless.address() as AddressInfo).port}`, args: ["--max-rows", "20", "--timeout-total", "10"] });
  });
  afterAll(async () => {
    console.log(`bytes an endless API wrote before each 20-row page was dropped: ${JSON.stringify(Object.fromEntries(written))}`);
    await e?.close();
    endless.closeAllConnections();
    await new Promise((r) => endless.close(r));
  });

  const lists = CATALOG.filter((t) => t.sideEffect === "read" && !t.singleRecord).map((t) => t.name);
  it.each(lists)("%s: one page, then the stream is dropped", async (name) => {
    const t0 = performance.now();
    const r = await e.client.callTool({ name, arguments: {} });
    const ms = performance.now() - t0;
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ count: 20, truncated: true });
    expect(textOf(r)).toMatch(/^20 rows \(more after these\)\./);
    expect(textOf(r)).toMatch(name === "billing_credits_transactions" ? /More rows: call billing_credits_transactions again with offset=20\.$/ : /More rows: this list has no offset, so narrow it with a filter\.$/);
    expect(ms).toBeLessThan(3_000);
    // What left the API before we hung up: socket buffers' worth, not the stream.
    const op = CATALOG.find((t) => t.name === name)!.operationId;
    expect(written.get(op)).toBeLessThan(16 * 1024 * 1024);
  });
});
