// HTTP mode through the real thing: the built server as a child process, the sandbox API in this process,
// the SDK's Streamable HTTP and SSE clients, and raw requests for what a well-behaved client never sends.
// The last block runs the listener in-process with a plain test tool, for limits that need small numbers.
import { describe, it, expect, beforeAll, afterAll, afterEach, vi, onTestFinished } from "vitest";
import { request, type IncomingMessage } from "node:http";
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
import { textOf } from "./helpers/stdio.js";

const KEY_A = "gpra_tenant_a_123456";
const KEY_B = "gpra_tenant_b_654321";
const BALANCE = "billing.credits.balance";


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

  it.each([
    ["Streamable HTTP", connectStreamable, KEY_A],
    ["legacy SSE", connectSse, KEY_B],
  ] as const)("lists tools and reads the balance over %s, forwarding the session's own key", async (_name, connect, key) => {
    const { client } = await connect(srv.url, key);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("billing_credits_balance");
    const before = api.requests.length;
    const result = await client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(api.requests.slice(before).map((r) => [r.operationId, r.authorization])).toEqual([[BALANCE, `Bearer ${key}`]]);
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
    await new Promise((r) => setTimeout(r, 50)); // log lines are written within 10 ms (src/log.ts)
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

  it("behind a TLS proxy on a loopback bind, accepts the --public-url host it forwards, and still no other", async () => {
    const proxied = await startHttpServer({ apiUrl: api.url, args: ["--public-url", "https://billing.example.test"] });
    try {
      const ok = await raw(proxied.url, { headers: mcpHeaders(KEY_A, { Host: "billing.example.test" }), body: INITIALIZE });
      expect(ok.status).toBe(200);
      for (const host of ["evil.example", `evil.example:${proxied.port}`]) {
        const res = await raw(proxied.url, { headers: mcpHeaders(KEY_A, { Host: host }), body: INITIALIZE });
        expect(res.status, host).toBe(403);
      }
    } finally {
      await proxied.stop();
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
    await until(() => srv.stderr().includes("session credential mismatch"));

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

  it("takes its listener limits from the command line (--max-sessions-per-address and friends)", async () => {
    const args = ["--max-sessions", "7", "--max-sessions-per-address", "1", "--session-idle", "90", "--shutdown-grace", "3", "--max-calls-per-session", "5"];
    const own = await startHttpServer({ apiUrl: api.url, args });
    try {
      const limits = own.stderr().split("\n").filter((l) => l.includes('"http limits"')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(limits).toHaveLength(1);
      expect(limits[0]).toMatchObject({ max_sessions: 7, max_sessions_per_address: 1, session_idle_s: 90, shutdown_grace_s: 3, max_calls_per_session: 5, trust_proxy: false });
      const first = await raw(own.url, { headers: mcpHeaders(KEY_A), body: INITIALIZE });
      expect(first.status).toBe(200);
      // Another key from the same address is still the same address.
      const second = await raw(own.url, { headers: mcpHeaders(KEY_B), body: INITIALIZE });
      expect(second.status).toBe(429);
      expect(second.headers["retry-after"]).toBe("60");
    } finally {
      await own.stop();
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
      callQueue: 1,
      callQueueWaitMs: 400,
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

  it.each(["streamable", "sse"] as const)("queues a call past the per-session tools/call limit for a short while, answers 429 past the queue or the wait over %s, and frees slots as calls finish", async (kind) => {
    held = new Promise<void>((r) => (releaseHeld = r));
    const { client } = await connect(KEY_A, kind);
    const opened = logLines.length;
    const first = client.callTool({ name: "hold", arguments: { tag: "1" } });
    const second = client.callTool({ name: "hold", arguments: { tag: "2" } });
    await new Promise((r) => setTimeout(r, 50));
    // The third waits in the session's queue (room for one); a fourth finds the queue full: 429 at once.
    const third = client.callTool({ name: "hold", arguments: { tag: "3" } });
    await new Promise((r) => setTimeout(r, 50));
    await expect(within(client.callTool({ name: "hold", arguments: { tag: "4" } }), 300)).rejects.toThrow(/429|Too many tool calls/);
    // No slot freed within the queue's wait: the third gets its 429 too.
    await expect(within(third, 2_000)).rejects.toThrow(/429|Too many tool calls/);
    expect(logLines.slice(opened).filter((l) => l.includes('"status":429'))).toHaveLength(2);
    // Other requests are not tool calls and still go through.
    expect((await client.listTools()).tools).toHaveLength(2);
    // A second session has its own budget.
    const other = await connect(KEY_A, kind);
    expect(textOf(await other.client.callTool({ name: "echo", arguments: {} }))).toBe("ok");
    // A call queued now is admitted as soon as a slot frees.
    const queued = client.callTool({ name: "hold", arguments: { tag: "5" } });
    await new Promise((r) => setTimeout(r, 50));
    releaseHeld();
    expect(textOf(await first)).toBe("1");
    expect(textOf(await second)).toBe("2");
    expect(textOf(await within(queued, 2_000))).toBe("5");
    expect(textOf(await within(client.callTool({ name: "hold", arguments: { tag: "6" } }), 2_000))).toBe("6");
    await Promise.all([client.close(), other.client.close()]);
  });

  it("a queued call whose client hangs up leaves the queue: the next call takes its place", async () => {
    held = new Promise<void>((r) => (releaseHeld = r));
    const { client, transport } = await connect(KEY_A);
    const first = client.callTool({ name: "hold", arguments: { tag: "1" } });
    const second = client.callTool({ name: "hold", arguments: { tag: "2" } });
    await new Promise((r) => setTimeout(r, 50));
    // A raw POST queues (the one place), then its client goes away.
    const body = JSON.stringify({ jsonrpc: "2.0", id: 90, method: "tools/call", params: { name: "hold", arguments: { tag: "gone" } } });
    const headers = { ...mcpHeaders(KEY_A), "mcp-session-id": transport.sessionId!, "mcp-protocol-version": "2025-06-18" };
    const req = request(new URL("/mcp", handle.url), { method: "POST", headers, agent: false });
    req.on("error", () => {});
    req.end(body);
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    await new Promise((r) => setTimeout(r, 50));
    // Its place is free: this call queues instead of a 429, and runs once a slot frees.
    const queued = client.callTool({ name: "hold", arguments: { tag: "3" } });
    await new Promise((r) => setTimeout(r, 50));
    releaseHeld();
    expect([textOf(await first), textOf(await second), textOf(await within(queued, 2_000))]).toEqual(["1", "2", "3"]);
    await client.close();
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

describe("HTTP listener: open sessions per remote address (in-process)", () => {
  const handles: HttpHandle[] = [];
  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.close()));
  });

  /** A listener with small limits; `opened` counts session servers built (i.e. sessions admitted). */
  let releaseHold: () => void = () => {};
  const listen = async (opts: { perAddress: number; idleMs?: number; evictAfterMs?: number; trustProxy?: boolean; keepAliveMs?: number; slowConnectMs?: number }) => {
    const lines: string[] = [];
    const built = { count: 0 };
    const handle = await serveHttp({
      host: "127.0.0.1",
      port: 0,
      allowedOrigins: [],
      maxRequestBytes: 64 * 1024,
      maxConcurrentCallsPerSession: 2,
      sessionIdleMs: opts.idleMs ?? 60_000,
      shutdownGraceMs: 1_000,
      maxSessions: 100,
      maxSessionsPerAddress: opts.perAddress,
      evictIdleAfterMs: opts.evictAfterMs,
      trustProxy: opts.trustProxy,
      sseKeepAliveMs: opts.keepAliveMs,
      createSessionServer: () => {
        built.count++;
        const server = new McpServer({ name: "test", version: "1.0.0" });
        server.registerTool("echo", { description: "answers at once", inputSchema: {} }, async () => ({ content: [{ type: "text", text: "ok" }] }));
        server.registerTool("hold", { description: "answers when released", inputSchema: {} }, async () => {
          await new Promise<void>((r) => (releaseHold = r));
          return { content: [{ type: "text", text: "held" }] };
        });
        if (opts.slowConnectMs) {
          // Widens the gap between admitting a session and registering it, as a slow server start would.
          const connect = server.connect.bind(server);
          server.connect = async (transport) => {
            await new Promise((r) => setTimeout(r, opts.slowConnectMs));
            return connect(transport);
          };
        }
        return server;
      },
      log: createLogger("debug", (line) => lines.push(line)),
    });
    handles.push(handle);
    return { handle, url: handle.url, lines, built };
  };

  const initialize = (url: string, extra: { headers?: Record<string, string>; localAddress?: string; key?: string } = {}) =>
    raw(url, { headers: mcpHeaders(extra.key ?? KEY_A, extra.headers), body: INITIALIZE, localAddress: extra.localAddress });

  const expectAddressRefusal = (res: Awaited<ReturnType<typeof raw>>, id: number | null) => {
    expect(res.status).toBe(429);
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    expect(res.headers["mcp-session-id"]).toBeUndefined();
    expect(res.json()).toEqual({ jsonrpc: "2.0", error: { code: -32000, message: expect.stringMatching(/Too many open sessions from this address \(limit \d+\)/) }, id });
  };

  it("counts both transports against one address, refuses the next with 429 and builds nothing, leaves other addresses alone, and frees slots on close", async () => {
    const { url, lines, built } = await listen({ perAddress: 2 });
    const streamable = await connectStreamable(url, KEY_A);
    const sse = await connectSse(url, KEY_B);
    expect(built.count).toBe(2);

    // Full: a third session from 127.0.0.1 over either transport, whatever the key.
    expectAddressRefusal(await initialize(url, { key: "gpra_made_up_0000001" }), 1);
    const sseRefused = await raw(url, { method: "GET", path: "/sse", headers: { Authorization: `Bearer gpra_made_up_0000002`, Accept: "text/event-stream" } });
    expectAddressRefusal(sseRefused, null);
    expect(sseRefused.headers["content-type"]).toBe("application/json");
    expect(built.count).toBe(2);
    expect(lines.filter((l) => l.includes('"reason":"address session limit"') && l.includes('"address":"127.0.0.1"'))).toHaveLength(2);
    // The sessions already open are unaffected.
    expect(textOf(await streamable.client.callTool({ name: "echo", arguments: {} }))).toBe("ok");
    expect(textOf(await sse.client.callTool({ name: "echo", arguments: {} }))).toBe("ok");

    // Another address has its own share.
    const other = await initialize(url, { localAddress: "127.0.0.2" });
    expect(other.status).toBe(200);
    expect(other.headers["mcp-session-id"]).toBeTruthy();
    expect(built.count).toBe(3);

    // Closing the SSE stream frees its slot: one more session, then full again.
    await sse.client.close();
    await until(() => lines.some((l) => l.includes('"session closed"') && l.includes('"transport":"sse"')));
    const reopened = await initialize(url);
    expect(reopened.status).toBe(200);
    expectAddressRefusal(await initialize(url), 1);

    // DELETE of a Streamable HTTP session frees its slot too.
    await streamable.transport.terminateSession();
    expect((await initialize(url)).status).toBe(200);
    expectAddressRefusal(await initialize(url), 1);
    await streamable.client.close();
  });

  it("at the limit, closes the address's stalest idle session to admit a new one — never one with a call in flight, never another address's", async () => {
    const { url, lines } = await listen({ perAddress: 3, evictAfterMs: 300 });
    // Abandoned (a client that exits without DELETE), in use, and busy with a call in flight.
    const abandoned = await connectStreamable(url, KEY_A);
    const used = await connectStreamable(url, KEY_A);
    const busy = await connectStreamable(url, KEY_B);
    const pending = busy.client.callTool({ name: "hold", arguments: {} });
    const elsewhere = await initialize(url, { localAddress: "127.0.0.2" });
    expect(elsewhere.status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    await used.client.listTools(); // active again

    const fresh = await initialize(url);
    expect(fresh.status).toBe(200);
    const abandonedId = abandoned.transport.sessionId!;
    expect(lines.some((l) => l.includes('"session closed"') && l.includes(abandonedId) && l.includes('"reason":"evicted"'))).toBe(true);
    await expect(abandoned.client.listTools()).rejects.toThrow(/404|Session not found/);
    // Nothing else is stale: the used one was active, the busy one has a call in flight, the fresh one is new.
    expectAddressRefusal(await initialize(url), 1);
    expect(lines.filter((l) => l.includes('"reason":"evicted"'))).toHaveLength(1);
    expect((await used.client.listTools()).tools.length).toBeGreaterThan(0);
    releaseHold();
    expect(textOf(await pending)).toBe("held");
    // The other address's session was never a candidate.
    expect(lines.some((l) => l.includes(String(elsewhere.headers["mcp-session-id"])) && l.includes('"session closed"'))).toBe(false);
    await Promise.all([abandoned.client.close(), used.client.close(), busy.client.close()]);
  });

  it("frees the slot of a session that expires idle", async () => {
    const { url, lines } = await listen({ perAddress: 1, idleMs: 300 });
    const first = await initialize(url);
    expect(first.status).toBe(200);
    const refused = await initialize(url);
    expectAddressRefusal(refused, 1);
    expect(refused.headers["retry-after"]).toBe("1");
    await until(() => lines.some((l) => l.includes('"reason":"idle"') && l.includes(String(first.headers["mcp-session-id"]))), 3_000);
    expect((await initialize(url)).status).toBe(200);
  });

  it("gives the slot back when the transport refuses the initialize", async () => {
    const { url, built } = await listen({ perAddress: 1 });
    for (let i = 0; i < 3; i++) {
      const refused = await initialize(url, { headers: { Accept: "application/json" } });
      expect(refused.status).toBe(406);
    }
    expect((await initialize(url)).status).toBe(200);
    expectAddressRefusal(await initialize(url), 1);
    expect(built.count).toBe(4);
  });

  it("admits no more than the cap when many opens from one address race (the slot is taken before the session exists)", async () => {
    const { url, built } = await listen({ perAddress: 3, slowConnectMs: 50 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => initialize(url, { key: `gpra_made_up_${String(i).padStart(8, "0")}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(9);
    expect(built.count).toBe(3);
  });

  it("ignores X-Forwarded-For unless trusted: the header is the client's to forge", async () => {
    const { url } = await listen({ perAddress: 1 });
    expect((await initialize(url, { headers: { "X-Forwarded-For": "198.51.100.3" } })).status).toBe(200);
    expectAddressRefusal(await initialize(url, { headers: { "X-Forwarded-For": "198.51.100.4" } }), 1);
  });

  it("with trustProxy counts against the last X-Forwarded-For hop only, and falls back to the peer without one", async () => {
    const { url, lines } = await listen({ perAddress: 1, trustProxy: true });
    expect((await initialize(url, { headers: { "X-Forwarded-For": "203.0.113.7, 198.51.100.1" } })).status).toBe(200);
    // Same last hop (the one our proxy appended), a different client-supplied first hop: same address.
    expectAddressRefusal(await initialize(url, { headers: { "X-Forwarded-For": "203.0.113.8, 198.51.100.1" } }), 1);
    expect(lines.some((l) => l.includes('"reason":"address session limit"') && l.includes('"address":"198.51.100.1"'))).toBe(true);
    // A port on the hop, or an IPv4-mapped form, is still that address.
    expectAddressRefusal(await initialize(url, { headers: { "X-Forwarded-For": "198.51.100.1:4711" } }), 1);
    expectAddressRefusal(await initialize(url, { headers: { "X-Forwarded-For": "::ffff:198.51.100.1" } }), 1);
    // Another last hop is another client.
    expect((await initialize(url, { headers: { "X-Forwarded-For": "198.51.100.1, 198.51.100.2" } })).status).toBe(200);
    // No header, or one whose last hop is no address: the TCP peer counts.
    expect((await initialize(url)).status).toBe(200);
    expectAddressRefusal(await initialize(url, { headers: { "X-Forwarded-For": "198.51.100.9, not-an-address" } }), 1);
  });
});

describe("HTTP listener: legacy SSE keep-alive (in-process)", () => {
  let handle: HttpHandle;
  const lines: string[] = [];
  beforeAll(async () => {
    handle = await serveHttp({
      host: "127.0.0.1",
      port: 0,
      allowedOrigins: [],
      maxRequestBytes: 64 * 1024,
      maxConcurrentCallsPerSession: 2,
      sessionIdleMs: 60_000,
      shutdownGraceMs: 1_000,
      sseKeepAliveMs: 40,
      createSessionServer: () => {
        const server = new McpServer({ name: "test", version: "1.0.0" });
        server.registerTool("echo", { description: "answers at once", inputSchema: {} }, async () => ({ content: [{ type: "text", text: "ok" }] }));
        return server;
      },
      log: createLogger("debug", (line) => lines.push(line)),
    });
  });
  afterAll(async () => {
    await handle?.close();
  });

  /** Opens GET /sse and collects what the stream carries until `stop()` (which also closes it). */
  const openStream = async () => {
    let text = "";
    const req = request(new URL("/sse", handle.url), { headers: { Authorization: `Bearer ${KEY_A}`, Accept: "text/event-stream" }, agent: false });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
      req.end();
    });
    res.setEncoding("utf8");
    res.on("data", (d: string) => (text += d));
    res.on("error", () => {});
    return {
      res,
      text: () => text,
      stop: () => req.destroy(),
    };
  };

  it("writes a whole `: keep-alive` comment line between events, and stops when the stream closes", async () => {
    // The listener's timers pass through; the spies only record which keep-alive timer was made and cleared.
    const setSpy = vi.spyOn(globalThis, "setInterval");
    const clearSpy = vi.spyOn(globalThis, "clearInterval");
    onTestFinished(() => {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    });
    const stream = await openStream();
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers["content-type"]).toBe("text/event-stream");
    await until(() => stream.text().includes("event: endpoint"));
    const sessionId = /sessionId=([^\s&]+)/.exec(stream.text())![1]!;
    await until(() => stream.text().split(": keep-alive\n\n").length > 2, 2_000);
    const keepAlives = setSpy.mock.calls.flatMap((call, i) => (call[1] === 40 ? [setSpy.mock.results[i]!.value as NodeJS.Timeout] : []));
    expect(keepAlives).toHaveLength(1);
    expect(keepAlives[0]!.hasRef()).toBe(false);

    // A message event in the middle of the pings arrives whole.
    const post = await raw(handle.url, {
      path: `/messages?sessionId=${sessionId}`,
      headers: mcpHeaders(KEY_A),
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }),
    });
    expect(post.status).toBe(202);
    await until(() => stream.text().includes("event: message"));
    await until(() => stream.text().split("event: message")[1]!.includes(": keep-alive"), 2_000);

    // Every block of the stream is a whole event or a whole comment: nothing interleaved.
    const blocks = stream.text().split("\n\n");
    expect(blocks.pop()).toBe("");
    for (const block of blocks) {
      if (block === ": keep-alive") continue;
      expect(block).toMatch(/^event: (endpoint|message)\ndata: [^\n]+$/);
      if (block.startsWith("event: message")) expect(JSON.parse(block.split("data: ")[1]!)).toMatchObject({ jsonrpc: "2.0", id: 1 });
    }
    expect(blocks.filter((b) => b === ": keep-alive").length).toBeGreaterThanOrEqual(2);

    stream.stop();
    await until(() => lines.some((l) => l.includes('"session closed"') && l.includes(sessionId)));
    await until(() => clearSpy.mock.calls.some((call) => call[0] === keepAlives[0]), 1_000);
  });

  it("keeps the SDK's SSE client working across keep-alive comments", async () => {
    const { client } = await connectSse(handle.url, KEY_B);
    await new Promise((r) => setTimeout(r, 150));
    expect(textOf(await client.callTool({ name: "echo", arguments: {} }))).toBe("ok");
    await new Promise((r) => setTimeout(r, 100));
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    await client.close();
  });
});
