// HTTP mode through the real thing: the built server as a child process, the sandbox API in this process,
// the SDK's Streamable HTTP and SSE clients, and raw requests for what a well-behaved client never sends.
// The last block runs the listener in-process with a plain test tool, for limits that need small numbers.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { z } from "zod";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { serveHttp, type HttpHandle } from "../src/transport/http.js";
import { createLogger } from "../src/log.js";
import { startHttpServer, connectStreamable, connectSse, raw, mcpHeaders, INITIALIZE, until, within, type HttpServerProcess } from "./helpers/http.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const KEY_A = "gpra_tenant_a_123456";
const KEY_B = "gpra_tenant_b_654321";
const BALANCE = "billing.credits.balance";

const textOf = (result: unknown) => ((result as { content: { type: string; text?: string }[] }).content[0]?.text ?? "");

describe("HTTP transport (spawned server, sandbox API)", () => {
  let api: SandboxApi;
  let srv: HttpServerProcess;

  beforeAll(async () => {
    api = await startSandboxApi();
    srv = await startHttpServer({ apiUrl: api.url });
  });
  afterAll(async () => {
    await srv?.stop();
    await api?.close();
  });

  it("answers /healthz without a credential and without calling upstream", async () => {
    const before = api.requests.length;
    const res = await raw(srv.url, { method: "GET", path: "/healthz" });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
    expect(api.requests.length).toBe(before);
  });

  it("lists tools and reads the balance over Streamable HTTP, forwarding the session's own key", async () => {
    const { client } = await connectStreamable(srv.url, KEY_A);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("billing_credits_balance");
    const before = api.requests.length;
    const result = await client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(result.isError).toBeFalsy();
    const upstream = api.requests.slice(before);
    expect(upstream.map((r) => [r.operationId, r.authorization])).toEqual([[BALANCE, `Bearer ${KEY_A}`]]);
    await client.close();
  });

  it("lists tools and reads the balance over legacy SSE, forwarding the session's own key", async () => {
    const { client } = await connectSse(srv.url, KEY_B);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("billing_credits_balance");
    const before = api.requests.length;
    const result = await client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(api.requests.slice(before).map((r) => [r.operationId, r.authorization])).toEqual([[BALANCE, `Bearer ${KEY_B}`]]);
    await client.close();
  });

  it("refuses a missing or malformed credential with 401 and a WWW-Authenticate challenge, doing nothing else", async () => {
    const before = api.requests.length;
    const missing = await raw(srv.url, { headers: mcpHeaders(), body: INITIALIZE });
    expect(missing.status).toBe(401);
    expect(missing.headers["www-authenticate"]).toBe('Bearer realm="geopera-billing-mcp"');
    expect(missing.headers["mcp-session-id"]).toBeUndefined();
    expect(missing.json().error.message).toMatch(/Authorization: Bearer/);

    for (const header of ["Bearer sk_live_123456789", "Basic Z3ByYV90ZW5hbnQ=", `Bearer gpra_short`, `Token ${KEY_A}`]) {
      const bad = await raw(srv.url, { headers: { ...mcpHeaders(), Authorization: header }, body: INITIALIZE });
      expect(bad.status, header).toBe(401);
      expect(bad.headers["www-authenticate"]).toMatch(/^Bearer realm="geopera-billing-mcp"/);
    }
    const sse = await raw(srv.url, { method: "GET", path: "/sse" });
    expect(sse.status).toBe(401);
    const messages = await raw(srv.url, { path: "/messages?sessionId=x", headers: mcpHeaders(), body: "{}" });
    expect(messages.status).toBe(401);
    expect(api.requests.length).toBe(before);
    expect(srv.stderr()).not.toContain("tenant_a");
  });

  it("refuses a foreign Origin with 403 and lets loopback origins through with CORS headers", async () => {
    const foreign = await raw(srv.url, { headers: mcpHeaders(KEY_A, { Origin: "https://evil.example" }), body: INITIALIZE });
    expect(foreign.status).toBe(403);
    expect(foreign.headers["mcp-session-id"]).toBeUndefined();
    const nullOrigin = await raw(srv.url, { headers: mcpHeaders(KEY_A, { Origin: "null" }), body: INITIALIZE });
    expect(nullOrigin.status).toBe(403);

    const local = await raw(srv.url, { headers: mcpHeaders(KEY_A, { Origin: "http://localhost:5173" }), body: INITIALIZE });
    expect(local.status).toBe(200);
    expect(local.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(local.headers["mcp-session-id"]).toBeTruthy();
  });

  it("refuses a Host header that is not a loopback name for this port (DNS rebinding)", async () => {
    for (const host of ["evil.example", `evil.example:${srv.port}`, `localhost:${srv.port + 1}`]) {
      const res = await raw(srv.url, { headers: mcpHeaders(KEY_A, { Host: host }), body: INITIALIZE });
      expect(res.status, host).toBe(403);
    }
    for (const host of [`localhost:${srv.port}`, `127.0.0.1:${srv.port}`]) {
      const res = await raw(srv.url, { headers: mcpHeaders(KEY_A, { Host: host }), body: INITIALIZE });
      expect(res.status, host).toBe(200);
    }
  });

  it("keeps two tenants apart: interleaved calls each reach upstream with only their own key", async () => {
    const a = await connectStreamable(srv.url, KEY_A);
    const b = await connectStreamable(srv.url, KEY_B);
    const c = await connectSse(srv.url, KEY_B);
    const before = api.requests.length;
    // A reads the balance, B the plans (over both transports): each operation must carry one key only.
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      calls.push(a.client.callTool({ name: "billing_credits_balance", arguments: {} }));
      calls.push((i % 2 ? b : c).client.callTool({ name: "billing_plans_list", arguments: {} }));
    }
    const results = await Promise.all(calls);
    for (const r of results) expect((r as { isError?: boolean }).isError).toBeFalsy();
    const upstream = api.requests.slice(before);
    expect(upstream).toHaveLength(12);
    for (const r of upstream) {
      expect(r.authorization).toBe(r.operationId === BALANCE ? `Bearer ${KEY_A}` : `Bearer ${KEY_B}`);
    }
    await Promise.all([a.client.close(), b.client.close(), c.client.close()]);
  });

  it("refuses a session id replayed with another key (403) and forwards nothing", async () => {
    const a = await connectStreamable(srv.url, KEY_A);
    const sessionId = a.transport.sessionId!;
    const before = api.requests.length;
    const call = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "billing_credits_balance", arguments: {} } });
    const replay = await raw(srv.url, { headers: mcpHeaders(KEY_B, { "Mcp-Session-Id": sessionId, "Mcp-Protocol-Version": "2025-06-18" }), body: call });
    expect(replay.status).toBe(403);
    const del = await raw(srv.url, { method: "DELETE", headers: mcpHeaders(KEY_B, { "Mcp-Session-Id": sessionId }) });
    expect(del.status).toBe(403);
    const get = await raw(srv.url, { method: "GET", headers: mcpHeaders(KEY_B, { "Mcp-Session-Id": sessionId }) });
    expect(get.status).toBe(403);
    // The streamable session id is no key to the legacy endpoint either, even with its own credential.
    const crossKind = await raw(srv.url, { path: `/messages?sessionId=${sessionId}`, headers: mcpHeaders(KEY_A), body: call });
    expect(crossKind.status).toBe(400);
    const unknown = await raw(srv.url, { headers: mcpHeaders(KEY_A, { "Mcp-Session-Id": "no-such-session" }), body: call });
    expect(unknown.status).toBe(404);
    expect(api.requests.length).toBe(before);
    expect(srv.stderr()).toContain("session credential mismatch");

    // The owner's session is untouched.
    const result = await a.client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(api.requests.slice(before).map((r) => r.authorization)).toEqual([`Bearer ${KEY_A}`]);
    await a.client.close();
  });

  it("refuses a legacy SSE session id replayed with another key, or sent to /mcp", async () => {
    const owner = await connectSse(srv.url, KEY_A);
    const sessionId = (owner.transport as unknown as { _endpoint: URL })._endpoint.searchParams.get("sessionId")!;
    expect(sessionId).toBeTruthy();
    const before = api.requests.length;
    const call = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "billing_credits_balance", arguments: {} } });
    const replay = await raw(srv.url, { path: `/messages?sessionId=${sessionId}`, headers: mcpHeaders(KEY_B), body: call });
    expect(replay.status).toBe(403);
    const crossKind = await raw(srv.url, { headers: mcpHeaders(KEY_A, { "Mcp-Session-Id": sessionId }), body: call });
    expect(crossKind.status).toBe(400);
    await new Promise((r) => setTimeout(r, 100));
    expect(api.requests.length).toBe(before);
    await owner.client.close();
  });

  it("caps the body size (413) and answers malformed JSON with a parse error, then keeps serving", async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, "a");
    const declared = await raw(srv.url, { headers: mcpHeaders(KEY_A), body: big });
    expect(declared.status).toBe(413);
    const chunked = await raw(srv.url, { headers: mcpHeaders(KEY_A, { "Transfer-Encoding": "chunked" }), body: big });
    expect(chunked.status).toBe(413);

    const malformed = await raw(srv.url, { headers: mcpHeaders(KEY_A), body: '{"jsonrpc":"2.0",' });
    expect(malformed.status).toBe(400);
    expect(malformed.json().error.code).toBe(-32700);

    const { client } = await connectStreamable(srv.url, KEY_A);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
    expect((await raw(srv.url, { method: "GET", path: "/healthz" })).status).toBe(200);
  });

  it("refuses a __proto__ key in tool arguments instead of letting it be dropped silently", async () => {
    const { client, transport } = await connectStreamable(srv.url, KEY_A);
    try {
      const before = api.requests.length;
      const body = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"billing_credits_transactions","arguments":{"__proto__":{"limit":1},"limit":2}}}';
      const res = await raw(srv.url, { headers: { ...mcpHeaders(KEY_A), "mcp-session-id": transport.sessionId!, "mcp-protocol-version": "2025-06-18" }, body });
      expect(res.status).toBe(400);
      expect(res.json().error.code).toBe(-32602);
      expect(res.json().error.message).toMatch(/__proto__/);
      expect(res.json().id).toBe(7);
      expect(api.requests.length).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("drains on SIGTERM: an in-flight call completes, new work is refused, the process exits 0", async () => {
    const own = await startHttpServer({ apiUrl: api.url });
    const { client } = await connectStreamable(own.url, KEY_A);
    api.inject(BALANCE, { kind: "delay", ms: 800 });
    const before = api.requests.length;
    const inFlight = client.callTool({ name: "billing_credits_balance", arguments: {} });
    await until(() => api.requests.length > before);
    own.proc.kill("SIGTERM");
    await until(() => own.stderr().includes('"http draining"'));
    // New work is refused at once; the load balancer sees "draining".
    const health = await raw(own.url, { method: "GET", path: "/healthz" });
    expect([health.status, health.json()]).toEqual([503, { status: "draining" }]);
    expect((await raw(own.url, { headers: mcpHeaders(KEY_A), body: INITIALIZE })).status).toBe(503);
    await expect(client.callTool({ name: "billing_plans_list", arguments: {} })).rejects.toThrow(/503|shutting down/);
    // …while the call already running completes.
    const result = await within(inFlight, 5_000);
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).not.toMatch(/failed/);
    expect(await within(own.exited, 5_000)).toBe(0);
    expect(api.requests.slice(before).map((r) => r.operationId)).toEqual([BALANCE]);
    expect(own.stdout()).toBe("");
  });
});

describe("HTTP listener limits (in-process, plain test tool)", () => {
  let handle: HttpHandle;
  const credentials: string[] = [];
  const logLines: string[] = [];
  let releaseHeld: () => void = () => {};
  let held = new Promise<void>((r) => (releaseHeld = r));

  const factory = (credential: string) => {
    credentials.push(credential);
    const server = new McpServer({ name: "test", version: "1.0.0" });
    server.registerTool("hold", { description: "waits until released", inputSchema: { tag: z.string() } }, async ({ tag }) => {
      await held;
      return { content: [{ type: "text", text: tag }] };
    });
    server.registerTool("echo", { description: "answers at once", inputSchema: {} }, async () => ({ content: [{ type: "text", text: "ok" }] }));
    return server;
  };

  beforeAll(async () => {
    handle = await serveHttp({
      host: "127.0.0.1",
      port: 0,
      allowedOrigins: [],
      maxRequestBytes: 64 * 1024,
      maxConcurrentCallsPerSession: 2,
      sessionIdleMs: 500,
      shutdownGraceMs: 2_000,
      createSessionServer: factory,
      log: createLogger("debug", (line) => logLines.push(line)),
    });
  });
  afterAll(async () => {
    releaseHeld();
    await handle?.close();
  });

  const connect = async (token: string, kind: "streamable" | "sse" = "streamable") => {
    const headers = { Authorization: `Bearer ${token}` };
    const transport =
      kind === "streamable"
        ? new StreamableHTTPClientTransport(new URL("/mcp", handle.url), { requestInit: { headers } })
        : new SSEClientTransport(new URL("/sse", handle.url), {
            eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
            requestInit: { headers },
          });
    const client = new Client({ name: "limits", version: "1.0.0" });
    await client.connect(transport);
    return { client, transport: transport as StreamableHTTPClientTransport };
  };

  it("hands the opening request's credential to the session factory", async () => {
    const { client } = await connect(KEY_B);
    expect(credentials.at(-1)).toBe(KEY_B);
    await client.close();
  });

  it.each(["streamable", "sse"] as const)("answers 429 past the per-session tools/call limit over %s, and frees slots as calls finish", async (kind) => {
    held = new Promise<void>((r) => (releaseHeld = r));
    const { client } = await connect(KEY_A, kind);
    const opened = logLines.length;
    const first = client.callTool({ name: "hold", arguments: { tag: "1" } });
    const second = client.callTool({ name: "hold", arguments: { tag: "2" } });
    await new Promise((r) => setTimeout(r, 50));
    await expect(within(client.callTool({ name: "hold", arguments: { tag: "3" } }), 2_000)).rejects.toThrow(/429|Too many tool calls/);
    expect(logLines.slice(opened).some((l) => l.includes('"status":429'))).toBe(true);
    // Other requests are not tool calls and still go through.
    expect((await client.listTools()).tools).toHaveLength(2);
    // A second session has its own budget.
    const other = await connect(KEY_A, kind);
    expect(textOf(await other.client.callTool({ name: "echo", arguments: {} }))).toBe("ok");
    releaseHeld();
    expect(textOf(await first)).toBe("1");
    expect(textOf(await second)).toBe("2");
    expect(textOf(await within(client.callTool({ name: "hold", arguments: { tag: "4" } }), 2_000))).toBe("4");
    await Promise.all([client.close(), other.client.close()]);
  });

  it("expires idle sessions but not one with a call in flight", async () => {
    held = new Promise<void>((r) => (releaseHeld = r));
    const idle = await connect(KEY_A);
    const busy = await connect(KEY_B);
    const idleId = idle.transport.sessionId!;
    const pending = busy.client.callTool({ name: "hold", arguments: { tag: "long" } });
    await until(() => logLines.some((l) => l.includes('"reason":"idle"') && l.includes(idleId)), 3_000);
    await expect(idle.client.listTools()).rejects.toThrow(/404|Session not found/);
    expect(logLines.some((l) => l.includes(busy.transport.sessionId!) && l.includes('"reason":"idle"'))).toBe(false);
    releaseHeld();
    expect(textOf(await pending)).toBe("long");
    await busy.client.close();
  });

  it("never logs a credential or a request body", () => {
    const all = logLines.join("\n");
    // The logger would redact a credential; nothing credential-shaped should even reach it.
    expect(all).not.toContain("[REDACTED]");
    expect(all).not.toContain("tenant_");
    expect(all).not.toContain('"tag"');
    expect(all).toContain('"caller":"fp_');
  });
});

describe("HTTP listener shutdown (in-process)", () => {
  it("keeps taking the answer to an elicitation an in-flight call waits for while draining", async () => {
    const lines: string[] = [];
    const handle = await serveHttp({
      host: "127.0.0.1",
      port: 0,
      allowedOrigins: [],
      maxRequestBytes: 64 * 1024,
      maxConcurrentCallsPerSession: 4,
      sessionIdleMs: 60_000,
      shutdownGraceMs: 5_000,
      createSessionServer: () => {
        const server = new McpServer({ name: "test", version: "1.0.0" });
        server.registerTool("ask", { description: "asks the person", inputSchema: {} }, async (_args, extra) => {
          const answer = await server.server.elicitInput(
            { mode: "form", message: "Go?", requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } },
            { relatedRequestId: extra.requestId },
          );
          return { content: [{ type: "text", text: answer.action }] };
        });
        return server;
      },
      log: createLogger("debug", (line) => lines.push(line)),
    });
    let answer: () => void = () => {};
    const answered = new Promise<void>((r) => (answer = r));
    const client = new Client({ name: "asker", version: "1.0.0" }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => {
      await answered;
      return { action: "accept", content: { ok: true } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", handle.url), { requestInit: { headers: { Authorization: `Bearer ${KEY_A}` } } }));
    const call = client.callTool({ name: "ask", arguments: {} });
    await new Promise((r) => setTimeout(r, 100));
    const closed = handle.close();
    await until(() => lines.some((l) => l.includes('"http draining"')));
    answer();
    expect(textOf(await within(call, 3_000))).toBe("accept");
    await within(closed, 3_000);
    expect(lines.some((l) => l.includes("shutdown grace over"))).toBe(false);
  });
});
