// Upstream faults through the real stdio transport: timeouts, retries, malformed answers, files.
// The sandbox's fault switch provides hang/status/reset/badJson/brokenNdjsonLine/cutStream/
// wrongContentType/file; two behaviours it has no switch for — a body that goes silent part-way and one
// that trickles forever — come from a tiny loopback server here, and a connect timeout from a listener
// whose accept queue is full (a stopped process).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { backoffMs, isConnectionError } from "../src/upstream/retry.js";
import { describeNetworkError, networkErrorKind, UpstreamTimeout } from "../src/upstream/errors.js";
import { CATALOG } from "../src/tools/catalog.js";
import { startStdio, textOf, type StdioHarness } from "./helpers/stdio.js";
import { until } from "./helpers/http.js";

type Result = Awaited<ReturnType<StdioHarness["client"]["callTool"]>>;
const meta = (r: Result) => (r._meta ?? {}) as Record<string, unknown>;
type Block = { type: string; text?: string; resource?: { blob: string; mimeType: string; uri: string } };
const blocks = (r: Result) => r.content as Block[];

let api: SandboxApi;
let h: StdioHarness;

beforeAll(async () => {
  api = await startSandboxApi();
  h = await startStdio({ apiUrl: api.url, args: ["--timeout-headers", "1", "--max-rows", "10"] });
});
afterAll(async () => {
  await h?.close();
  await api?.close();
});

const sentTo = (operationId: string) => api.requests.filter((q) => q.operationId === operationId).length;

/**
 * Calls a tool and reports how many requests reached the API for its operation, and how long it took.
 * Tests in a concurrent group each use their own operation, so these counts stay exact.
 */
async function timed(name: string, args: Record<string, unknown> = {}) {
  const operationId = CATALOG.find((r) => r.name === name)!.operationId;
  const before = sentTo(operationId);
  const t0 = performance.now();
  const r = await h.client.callTool({ name, arguments: args });
  return { r, ms: performance.now() - t0, sent: sentTo(operationId) - before, text: textOf(r) };
}

describe.concurrent("timeouts: a hung or silent API gives a clear error within the limit", () => {
  it("hang → headers timeout after --timeout-headers 1, not retried", async () => {
    api.inject("billing.plans.list", { kind: "hang" });
    const { r, ms, sent, text } = await timed("billing_plans_list");
    expect(r.isError).toBe(true);
    expect(text).toMatch(/billing_plans_list failed: the billing API at http:\/\/127\.0\.0\.1:\d+ accepted the request but sent no answer within 1 s \(--timeout-headers\)/);
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(2_000);
    expect(sent).toBe(1);
    expect(meta(r)).toMatchObject({ "com.geopera/error": "timeout_headers", "com.geopera/upstream_status": null });
  });

  it("a slow answer within the limit still goes through", async () => {
    api.inject("billing.auto_topup.get", { kind: "delay", ms: 400 });
    const { r, sent } = await timed("billing_auto_topup_get");
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(sent).toBe(1);
    expect(meta(r)["com.geopera/upstream_status"]).toBe(200);
  });

  describe.concurrent("body and total timeouts (a loopback API that stalls or trickles)", () => {
    let odd: Server;
    let s: StdioHarness;
    beforeAll(async () => {
      odd = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.write('{"id":"a"}\n{"id":"b"}\n');
        // billing.plans.list: a row every 100 ms forever; anything else: silence after two rows.
        if (req.url?.endsWith("billing.plans.list")) {
          const t = setInterval(() => res.write('{"id":"more"}\n'), 100);
          res.on("close", () => clearInterval(t));
        }
      });
      await new Promise<void>((r) => odd.listen(0, "127.0.0.1", r));
      const url = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
      s = await startStdio({ apiUrl: url, args: ["--timeout-body", "1", "--timeout-total", "2"] });
    });
    afterAll(async () => {
      await s?.close();
      odd.closeAllConnections();
      await new Promise((r) => odd.close(r));
    });

    it("a body that goes silent part-way → body timeout, and the partial list is not passed off as complete", async () => {
      const t0 = performance.now();
      const r = await s.client.callTool({ name: "billing_invoices_list", arguments: {} });
      const ms = performance.now() - t0;
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/stream broke off after 2 rows, so the list is incomplete: .* stopped sending its answer part-way \(no data for 1 s; --timeout-body\)/);
      expect(r.structuredContent).toBeUndefined();
      expect(ms).toBeGreaterThanOrEqual(950);
      expect(ms).toBeLessThan(2_500);
      expect(meta(r)).toMatchObject({ "com.geopera/error": "timeout_body", "com.geopera/upstream_status": 200 });
    });

    it("a body that trickles forever → total timeout", async () => {
      const t0 = performance.now();
      const r = await s.client.callTool({ name: "billing_plans_list", arguments: {} });
      const ms = performance.now() - t0;
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/stream broke off after \d+ rows, so the list is incomplete: .* did not finish answering within the 2 s total time limit \(--timeout-total\)/);
      expect(ms).toBeGreaterThanOrEqual(1_950);
      expect(ms).toBeLessThan(2_800);
      expect(meta(r)["com.geopera/error"]).toBe("timeout_total");
    });
  });

  it("an API that never accepts the connection → connect timeout after --timeout-connect 1", async () => {
    // A listener in a stopped process: once its accept queue is full, further SYNs go unanswered.
    const holder: ChildProcess = spawn(process.execPath, ["-e", `const s=require("net").createServer().listen({port:0,host:"127.0.0.1",backlog:1},()=>console.log(s.address().port))`], { stdio: ["ignore", "pipe", "ignore"] });
    const fillers: Socket[] = [];
    let dead: StdioHarness | undefined;
    try {
      const port = await new Promise<number>((r) => holder.stdout!.once("data", (d: Buffer) => r(Number(String(d).trim()))));
      holder.kill("SIGSTOP");
      for (let i = 0; i < 4; i++) {
        const sock = connect(port, "127.0.0.1");
        sock.on("error", () => {});
        fillers.push(sock);
        const state = await new Promise((r) => (sock.once("connect", () => r("up")), setTimeout(() => r("pending"), 150)));
        if (state === "pending") break;
      }
      dead = await startStdio({ apiUrl: `http://127.0.0.1:${port}`, args: ["--timeout-connect", "1"] });
      const t0 = performance.now();
      const r = await dead.client.callTool({ name: "billing_credits_balance", arguments: {} });
      const ms = performance.now() - t0;
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/connecting to the billing API at http:\/\/127\.0\.0\.1:\d+ timed out \(no connection within 1 s; --timeout-connect\)/);
      expect(ms).toBeLessThan(2_500);
      expect(meta(r)["com.geopera/error"]).toBe("timeout_connect");
    } finally {
      await dead?.close();
      for (const f of fillers) f.destroy();
      holder.kill("SIGKILL");
    }
  });
});

describe("how each kind of timeout surfaces is mapped to the limit that was hit", () => {
  const base = "http://127.0.0.1:1234";
  const timeouts = { connectMs: 5_000, headersMs: 30_000, bodyMs: 30_000, totalMs: 120_000 };
  const undiciError = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    ["our headers timer", new UpstreamTimeout("headers", 1_000), "timeout_headers", /sent no answer within 1 s \(--timeout-headers\)/],
    ["our total timer", new UpstreamTimeout("total", 2_500), "timeout_total", /within the 2\.5 s total time limit \(--timeout-total\)/],
    ["an AbortSignal.timeout() DOMException", new DOMException("The operation was aborted due to timeout", "TimeoutError"), "timeout_total", /within the 120 s total time limit/],
    ["undici UND_ERR_HEADERS_TIMEOUT", undiciError("UND_ERR_HEADERS_TIMEOUT"), "timeout_headers", /sent no answer within 30 s/],
    ["undici UND_ERR_BODY_TIMEOUT", undiciError("UND_ERR_BODY_TIMEOUT"), "timeout_body", /no data for 30 s; --timeout-body/],
    ["undici UND_ERR_CONNECT_TIMEOUT", undiciError("UND_ERR_CONNECT_TIMEOUT"), "timeout_connect", /no connection within 5 s; --timeout-connect/],
    ["a cancellation", new DOMException("This operation was aborted", "AbortError"), "cancelled", /cancelled/],
    ["a string abort reason", "client went away", "network", /failed \(client went away\)/],
    ["ECONNRESET", undiciError("ECONNRESET"), "connection_reset", /closed before the answer was complete/],
  ] as const)("%s", (_, err, kind, text) => {
    expect(networkErrorKind(err)).toBe(kind);
    expect(describeNetworkError(err, base, timeouts)).toMatch(text);
    expect(describeNetworkError(err, base, timeouts)).toContain(kind === "cancelled" || kind === "network" ? "" : "http://127.0.0.1:1234");
  });
  it("timeouts are not retried; refused/reset/closed connections are", () => {
    for (const code of ["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT"]) expect(isConnectionError(undiciError(code)), code).toBe(false);
    for (const code of ["ECONNREFUSED", "ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]) expect(isConnectionError(undiciError(code)), code).toBe(true);
    expect(isConnectionError(new UpstreamTimeout("headers", 1))).toBe(false);
  });
});

describe.concurrent("retries (each test on its own operation)", () => {
  it("reads retry 502, 503 and 504 with backoff and then succeed", async () => {
    api.inject("billing.invoices.list", { kind: "status", status: 502 });
    api.inject("billing.invoices.list", { kind: "status", status: 504 });
    api.inject("billing.invoices.list", { kind: "status", status: 503 });
    const { r, sent } = await timed("billing_invoices_list");
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(sent).toBe(4);
    expect(meta(r)).toMatchObject({ "com.geopera/upstream_status": 200, "com.geopera/attempts": 4 });
  });

  it("a read that keeps failing stops after 3 retries and says so", async () => {
    api.inject("billing.stripe_invoices.list", { kind: "status", status: 503 }, 4);
    const { r, sent, text } = await timed("billing_stripe_invoices_list");
    expect(r.isError).toBe(true);
    expect(sent).toBe(4);
    expect(text).toMatch(/HTTP 503/);
    expect(text).toMatch(/Tried 4 times/);
    expect(meta(r)["com.geopera/upstream_status"]).toBe(503);
  });

  it("reads retry a connection reset", async () => {
    api.inject("billing.credits.balance", { kind: "reset" });
    const { r, sent } = await timed("billing_credits_balance");
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(sent).toBe(2);
  });

  it("429 with Retry-After: 1 is waited out, then retried once", async () => {
    api.inject("billing.approvals.list", { kind: "status", status: 429, retryAfter: "1" });
    const { r, sent, ms } = await timed("billing_approvals_list");
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(sent).toBe(2);
    expect(ms).toBeGreaterThanOrEqual(990);
  });

  it("a Retry-After above the bound (30 s) is not waited out but reported", async () => {
    api.inject("billing.status.get", { kind: "status", status: 429, retryAfter: "120" });
    const { r, sent, ms, text } = await timed("billing_status_get", { organization_id: "org_demo" });
    expect(r.isError).toBe(true);
    expect(sent).toBe(1);
    expect(ms).toBeLessThan(1_000);
    expect(text).toMatch(/HTTP 429/);
    expect(text).toMatch(/retry after 120 s/);
    expect(text).toMatch(/Not retried: the API asked to wait 120 s, longer than this server waits \(30 s\)/);
  });

  it("compute calls are never retried: a 503 → exactly one request", async () => {
    // One fault only: a wrongful retry would then succeed and show up as a second request.
    api.inject("billing.approvals.request", { kind: "status", status: 503 });
    const { r, sent, text } = await timed("billing_approvals_request", { credits: 10 });
    expect(r.isError).toBe(true);
    expect(sent).toBe(1);
    expect(text).toMatch(/HTTP 503/);
    expect(text).toMatch(/sent once and not retried/);
  });

  it("compute calls are never retried: a reset → one request, and the agent is told it may have applied", async () => {
    api.inject("billing.set_auto_topup", { kind: "reset" });
    const { r, sent, text } = await timed("billing_set_auto_topup", { enabled: false, threshold_credits: 10, topup_amount_credits: 100 });
    expect(r.isError).toBe(true);
    expect(sent).toBe(1);
    expect(text).toMatch(/closed before the answer was complete.*may or may not have applied it/);
  });

  it("a 4xx other than 429 is never retried", async () => {
    for (const status of [400, 401, 403, 404, 409, 422]) {
      api.inject("billing.approvals.get", { kind: "status", status });
      const { r, sent, text } = await timed("billing_approvals_get", { approval_id: "apr_seed_1" });
      expect(r.isError).toBe(true);
      expect(sent, `HTTP ${status}`).toBe(1);
      expect(text).toContain(`HTTP ${status}`);
      expect(meta(r)["com.geopera/upstream_status"]).toBe(status);
    }
  });

  it("backoff is full jitter: between 0 and base·2^(n-1), capped at 10 s", () => {
    expect(backoffMs(1, 200, () => 0)).toBe(0);
    expect(backoffMs(1, 200, () => 0.999)).toBeCloseTo(199.8);
    expect(backoffMs(3, 200, () => 0.5)).toBe(400);
    expect(backoffMs(20, 200, () => 1)).toBe(10_000);
    const samples = Array.from({ length: 200 }, () => backoffMs(2, 200));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(400);
    expect(new Set(samples).size).toBeGreaterThan(150);
  });
});

describe("malformed answers become errors naming what was wrong (or, for a 2xx on a call that changes state, a result saying it was applied)", () => {
  it("bad JSON (compute) answered 200 → applied, not failed: names the malformed JSON, sent once", async () => {
    api.inject("billing.approvals.request", { kind: "badJson" });
    const { r, sent, text } = await timed("billing_approvals_request", { credits: 5 });
    // HTTP 200 means the API applied it: an agent told "failed" would draft a second approval.
    expect(r.isError, text).toBeFalsy();
    expect(sent).toBe(1);
    expect(text).toMatch(/billing_approvals_request: the API accepted this call \(HTTP 200\) and applied it, but its answer could not be read: the API answered with malformed JSON \(Unexpected end of JSON input\)/);
    expect(text).not.toMatch(/failed/);
    expect(r.structuredContent).toMatchObject({ accepted: true, upstream_status: 200 });
    expect(meta(r)).toMatchObject({ "com.geopera/error": "bad_json", "com.geopera/upstream_status": 200 });
  });

  it("bad JSON where NDJSON was expected → malformed JSON", async () => {
    api.inject("billing.plans.list", { kind: "badJson" });
    const { r, text } = await timed("billing_plans_list");
    expect(r.isError).toBe(true);
    expect(text).toMatch(/malformed JSON/);
  });

  it("a broken NDJSON line → names the line; no rows are returned", async () => {
    api.inject("billing.plans.list", { kind: "brokenNdjsonLine" });
    const { r, text } = await timed("billing_plans_list");
    expect(r.isError).toBe(true);
    expect(text).toMatch(/line 2 of the API's NDJSON stream is not valid JSON \(after 1 good rows\); the list cannot be trusted/);
    expect(r.structuredContent).toBeUndefined();
    expect(meta(r)["com.geopera/error"]).toBe("bad_ndjson_line");
  });

  it("text/html → wrong content type, with what the page said", async () => {
    api.inject("billing.plans.list", { kind: "wrongContentType" });
    const { r, text } = await timed("billing_plans_list");
    expect(r.isError).toBe(true);
    expect(text).toMatch(/content type "text\/html" where NDJSON \(application\/x-ndjson\) was expected/);
    expect(text).toContain('it said: "Service temporarily unavailable"');
    expect(text).not.toContain("<h1>");
    expect(meta(r)["com.geopera/error"]).toBe("wrong_content_type");
  });

  it("text/html on a JSON operation names JSON as expected (a 200 on a compute call: applied all the same)", async () => {
    api.inject("billing.approvals.request", { kind: "wrongContentType" });
    const { r, text } = await timed("billing_approvals_request", { credits: 5 });
    expect(r.isError, text).toBeFalsy();
    expect(text).toMatch(/the API accepted this call \(HTTP 200\) and applied it, but its answer could not be read: .*where JSON \(application\/json\) was expected/);
    expect(meta(r)["com.geopera/error"]).toBe("wrong_content_type");
  });

  it("a stream cut off mid-row never passes as a complete list", async () => {
    api.inject("billing.credits.transactions", { kind: "cutStream" });
    const { r, sent, text } = await timed("billing_credits_transactions", { limit: 5 });
    expect(r.isError).toBe(true);
    expect(sent).toBe(1);
    expect(text).toMatch(/stream broke off after 2 rows, so the list is incomplete: the connection to the billing API at http:\/\/127\.0\.0\.1:\d+ was closed before the answer was complete/);
    expect(r.structuredContent).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain("row_1");
    expect(meta(r)["com.geopera/error"]).toBe("stream_cut");
  });

  it("a small file is embedded as a resource, byte for byte", async () => {
    api.inject("billing.invoices.list", { kind: "file", bytes: 10_240 });
    const { r, text } = await timed("billing_invoices_list");
    expect(r.isError, text).toBeFalsy();
    const res = blocks(r).find((c) => c.type === "resource") as { resource: { blob: string; mimeType: string; uri: string } };
    expect(res.resource.mimeType).toBe("application/pdf");
    const bytes = Buffer.from(res.resource.blob, "base64");
    expect(bytes.length).toBe(10_240);
    expect(bytes.subarray(0, 8).toString()).toBe("%PDF-1.7");
    expect(text).toMatch(/application\/pdf, invoice-sandbox\.pdf, 10240 bytes/);
    expect(r.structuredContent).toMatchObject({ file: { bytes: 10_240, filename: "invoice-sandbox.pdf" } });
  });

  it("a file exactly at the 512 KB cap is still embedded", async () => {
    api.inject("billing.invoices.list", { kind: "file", bytes: 512 * 1024, contentType: "text/csv" });
    const { r } = await timed("billing_invoices_list");
    expect(r.isError).toBeFalsy();
    const res = blocks(r).find((c) => c.type === "resource") as { resource: { blob: string } };
    expect(Buffer.from(res.resource.blob, "base64").length).toBe(512 * 1024);
  });

  it("a file above the cap is described with its size — never a truncated blob", async () => {
    api.inject("billing.invoices.list", { kind: "file", bytes: 2 * 1024 * 1024, contentType: "application/zip" });
    const { r, text } = await timed("billing_invoices_list");
    expect(r.isError).toBe(true);
    expect(text).toMatch(/answered with a file \(application\/zip, invoice-sandbox\.zip, 2097152 bytes \(2\.0 MB\)\) larger than this server passes to an agent \(524288 bytes \(512\.0 KB\)\); nothing of it is included/);
    expect(text).toMatch(/POST \/v1\/op\/billing\.invoices\.list/);
    expect(blocks(r).some((c) => c.type === "resource")).toBe(false);
    expect(JSON.stringify(r).length).toBeLessThan(2_000);
    expect(meta(r)).toMatchObject({ "com.geopera/error": "file_too_large", "com.geopera/upstream_status": 200 });
  });

  it("after all of that the server still answers normally", async () => {
    const { r } = await timed("billing_credits_balance");
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ organization_id: "org_demo" });
  });
});

describe("a call the client cancels", () => {
  it("stops its upstream request within moments, not at the headers timeout, and is logged as cancelled", async () => {
    // An API that takes the request and never answers; it notes when our side closes the connection.
    let opened = 0;
    let closedAt = 0;
    const hold = createServer((req) => {
      opened++;
      req.socket.on("close", () => (closedAt = performance.now()));
    });
    await new Promise<void>((r) => hold.listen(0, "127.0.0.1", r));
    const s = await startStdio({ apiUrl: `http://127.0.0.1:${(hold.address() as AddressInfo).port}`, args: ["--timeout-headers", "30"] });
    try {
      const ac = new AbortController();
      const call = s.client.callTool({ name: "billing_plans_list", arguments: {} }, undefined, { signal: ac.signal });
      call.catch(() => {});
      await until(() => opened === 1);
      const abortedAt = performance.now();
      ac.abort(); // the SDK client sends notifications/cancelled
      await expect(call).rejects.toThrow();
      await until(() => closedAt > 0, 3_000);
      expect(closedAt - abortedAt).toBeLessThan(500);
      await until(() => s.stderr().includes('"msg":"tool call"'));
      const line = JSON.parse(s.stderr().split("\n").find((l) => l.includes('"msg":"tool call"'))!) as Record<string, unknown>;
      expect(line).toMatchObject({ tool: "billing_plans_list", upstream_status: null, error: "cancelled", outcome: "error" });
      expect(line.ms).toBeLessThan(3_000);
      expect(opened).toBe(1);
    } finally {
      await s.close();
      hold.closeAllConnections();
      await new Promise((r) => hold.close(r));
    }
  });
});
