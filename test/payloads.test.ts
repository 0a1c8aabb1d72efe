// Big answers through the real stdio transport: a 1,000,000-row ledger streams through a server whose
// memory stays bounded, and the agent gets an agent-sized page with the total and how to go on.
// (The RSS figures themselves come from bench/rss.ts; this guards the ceiling.)
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, textOf, type StdioHarness } from "./helpers/stdio.js";

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
  rows: Array<{ id: string; balance_after: number }>;
  count: number;
  total_rows: number;
  truncated: boolean;
  next_offset?: number;
}

describe("a 1,000,000-row ledger", () => {
  it("passes through: max-rows rows, total_rows ≥ 1,000,000, how to page on; memory bounded", async () => {
    const t0 = performance.now();
    const r = await h.client.callTool({ name: "billing_credits_transactions", arguments: {} }, undefined, { timeout: 60_000 });
    const ms = performance.now() - t0;
    expect(r.isError, textOf(r)).toBeFalsy();
    const page = r.structuredContent as unknown as Page;
    expect(page.count).toBe(MAX_ROWS);
    expect(page.rows).toHaveLength(MAX_ROWS);
    expect(page.total_rows).toBeGreaterThanOrEqual(ROWS);
    expect(page.truncated).toBe(true);
    expect(page.next_offset).toBe(MAX_ROWS);
    expect(textOf(r)).toContain(`${MAX_ROWS} of ${page.total_rows} rows (cut).`);
    expect(textOf(r)).toContain(`call billing_credits_transactions again with offset=${MAX_ROWS}`);
    // Agent-sized: the answer is a few tens of KB however long the ledger.
    expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThan(100_000);
    expect(r._meta?.["com.geopera/upstream_status"]).toBe(200);
    // Every row crossed the wire: the API streamed them all.
    expect(api.requests.at(-1)).toMatchObject({ operationId: "billing.credits.transactions", status: 200 });

    const peak = peakRssMb(h.pid()!);
    console.log(`1,000,000 rows in ${Math.round(ms)} ms; server peak RSS ${peak.toFixed(1)} MB`);
    expect(peak).toBeLessThan(160);

    // Paging on from next_offset continues exactly where the page stopped.
    const next = await h.client.callTool({ name: "billing_credits_transactions", arguments: { offset: page.next_offset, limit: 3 } });
    const nextPage = next.structuredContent as unknown as Page;
    expect(nextPage.rows).toHaveLength(3);
    expect(nextPage.truncated).toBe(false);
    const all = await h.client.callTool({ name: "billing_credits_transactions", arguments: { offset: MAX_ROWS - 1, limit: 2 } });
    expect((all.structuredContent as unknown as Page).rows.map((x) => x.id)).toEqual([page.rows.at(-1)!.id, nextPage.rows[0]!.id]);
  });

  it("a small limit is honoured without a cut", async () => {
    const r = await h.client.callTool({ name: "billing_credits_transactions", arguments: { limit: 7, reason: "topup" } });
    const page = r.structuredContent as unknown as Omit<Page, "rows"> & { rows: Array<{ reason: string }> };
    expect(page).toMatchObject({ count: 7, total_rows: 7, truncated: false });
    expect(page.rows.every((x) => x.reason === "topup")).toBe(true);
  });
});
