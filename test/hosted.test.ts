// Hosted mode under abuse and long waits (issue 12, §8), through the real thing: the built server as a
// child process (HTTP, and stdio where it applies), the sandbox API in this process, the SDK's own clients.
// - Sessions are held only by credentials the API accepts: made-up tokens cycled from many addresses
//   never hold a slot, and a real tenant opens a session and calls a tool while they are being cycled.
// - IPv6 clients count per /64.
// - Calls past --max-calls-per-session wait in a short queue before any 429.
// - A pending call (a person's confirmation, a slow read) sends progress to a caller that asked for it;
//   a client that gives up anyway gets nothing charged by a late yes.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { BlockList } from "node:net";
import fc from "fast-check";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ElicitRequestSchema, type ElicitResult, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { prefix64 } from "../src/transport/remote.js";
import { CredentialCheck, type Verdict } from "../src/transport/verify.js";
import { parseConfig, ConfigError } from "../src/config.js";
import { startHttpServer, raw, mcpHeaders, INITIALIZE, within, type HttpServerProcess } from "./helpers/http.js";
import { startStdio, textOf, type StdioHarness } from "./helpers/stdio.js";
import { spendsAfter } from "./helpers/spends.js";

const BALANCE = "billing.credits.balance";
const INTERVAL_S = "0.2";
const TENANT = "gpra_tenant_real_0123456789";

let api: SandboxApi;
let srv: HttpServerProcess;

// One spawned server for every HTTP test here. --trust-proxy: each client below names its own address
// in X-Forwarded-For, as a reverse proxy would, so tests do not share 127.0.0.1's two slots.
const ARGS = [
  ...["--trust-proxy", "--max-sessions", "8", "--max-sessions-per-address", "2"],
  ...["--max-calls-per-session", "2", "--call-queue", "2", "--call-queue-wait", "3"],
  ...["--progress-interval", INTERVAL_S, "--confirm-wait", "3", "--confirm-via", "form"],
];

beforeAll(async () => {
  api = await startSandboxApi();
  srv = await startHttpServer({ apiUrl: api.url, args: ARGS });
});
afterAll(async () => {
  await srv?.stop();
  await api?.close();
});

let nextAddress = 1;
/** A fresh client address for each session (TEST-NET-2). */
const freshAddress = () => `198.51.100.${nextAddress++}`;

type Answer = () => Promise<ElicitResult> | ElicitResult;

/** An SDK client over Streamable HTTP or legacy SSE, arriving from `address`; it can answer forms with `answer()`. */
async function connect(kind: "streamable" | "sse", token: string, opts: { address?: string; answer?: Answer } = {}) {
  const headers = { Authorization: `Bearer ${token}`, "X-Forwarded-For": opts.address ?? freshAddress() };
  const transport =
    kind === "streamable"
      ? new StreamableHTTPClientTransport(new URL("/mcp", srv.url), { requestInit: { headers } })
      : new SSEClientTransport(new URL("/sse", srv.url), {
          eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
          requestInit: { headers },
        });
  const client = new Client({ name: "hosted-test", version: "1.0.0" }, { capabilities: opts.answer ? { elicitation: { form: {} } } : {} });
  if (opts.answer) client.setRequestHandler(ElicitRequestSchema, () => opts.answer!());
  await client.connect(transport);
  return {
    client,
    /** Ends the session (DELETE for Streamable HTTP, so its slot frees at once), then the client. */
    async close() {
      if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

const initialize = (token: string, address: string) => raw(srv.url, { headers: mcpHeaders(token, { "X-Forwarded-For": address }), body: INITIALIZE });
const balanceReads = (mark: number) => api.requests.slice(mark).filter((r) => r.operationId === BALANCE);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logLines = (msg: string) =>
  srv
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("sessions are held only by credentials the API accepts", () => {
  it("refuses a token the API refuses with 401 before any slot is taken, caches verdicts both ways, and never logs the token", async () => {
    const mark = api.requests.length;
    const fake = "gpra_revoked_made_up_1";
    for (let i = 0; i < 3; i++) {
      const res = await initialize(fake, freshAddress());
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Bearer realm="geopera-billing-mcp", error="invalid_token"');
      expect(res.headers["mcp-session-id"]).toBeUndefined();
      expect(res.json()).toEqual({ jsonrpc: "2.0", error: { code: -32000, message: expect.stringMatching(/does not accept this credential/) }, id: 1 });
    }
    // Legacy SSE is checked the same way.
    const sse = await raw(srv.url, { method: "GET", path: "/sse", headers: { Authorization: `Bearer ${fake}`, Accept: "text/event-stream", "X-Forwarded-For": freshAddress() } });
    expect(sse.status).toBe(401);
    // One balance read for four refusals: the refusal is cached by credential digest.
    expect(balanceReads(mark).map((r) => r.authorization)).toEqual([`Bearer ${fake}`]);

    // An accepted credential is asked about once, then opens sessions without a read.
    const a = await connect("streamable", TENANT);
    const b = await connect("sse", TENANT);
    expect(balanceReads(mark).map((r) => r.authorization)).toEqual([`Bearer ${fake}`, `Bearer ${TENANT}`]);
    expect((await a.client.callTool({ name: "billing_credits_balance", arguments: {} })).isError).toBeFalsy();
    await Promise.all([a.close(), b.close()]);
    await sleep(50); // log lines are written within 10 ms
    expect(srv.stderr()).not.toContain("made_up");
    expect(srv.stderr()).not.toContain("tenant_real");
    expect(logLines("http refused").some((l) => l.reason === "credential rejected" && String(l.caller).startsWith("fp_"))).toBe(true);
  });

  it("answers 503 with Retry-After when the API cannot say, and caches nothing then", async () => {
    const token = "gpra_tenant_unlucky_0001";
    api.inject(BALANCE, { kind: "status", status: 503, body: '{"error":"busy"}', contentType: "application/json" });
    const mark = api.requests.length;
    const first = await initialize(token, freshAddress());
    expect(first.status).toBe(503);
    expect(first.headers["retry-after"]).toBe("5");
    expect(first.headers["mcp-session-id"]).toBeUndefined();
    const second = await initialize(token, freshAddress());
    expect(second.status).toBe(200);
    expect(balanceReads(mark)).toHaveLength(2);
    await raw(srv.url, { method: "DELETE", headers: mcpHeaders(token, { "mcp-session-id": String(second.headers["mcp-session-id"]), "mcp-protocol-version": "2025-06-18" }) });
  });

  it("a session whose credential the API refuses later (401) is answered, then closed, and the credential refused from then on", async () => {
    const token = "gpra_tenant_soon_withdrawn_01";
    const address = freshAddress();
    const session = await connect("streamable", token, { address });
    const other = await connect("sse", token);
    api.inject(BALANCE, { kind: "status", status: 401, body: '{"error":{"code":"unauthorized","message":"revoked"}}', contentType: "application/json" });
    const refused = await session.client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/401/);
    // Both of the credential's sessions are closed once their calls are answered…
    await within((async () => { while (logLines("session closed").filter((l) => l.reason === "credential rejected").length < 2) await sleep(20); })(), 2_000);
    await expect(session.client.listTools()).rejects.toThrow(/404|Session not found/);
    await expect(other.client.listTools()).rejects.toThrow(/404|Session not found|closed/i);
    // …and a new session with it is refused without asking the API again.
    const mark = api.requests.length;
    expect((await initialize(token, address)).status).toBe(401);
    expect(balanceReads(mark)).toHaveLength(0);
    await Promise.all([session.close(), other.close()]);
  });

  it("made-up tokens cycled from many addresses (IPv4, IPv6) never hold a slot: a real tenant opens a session and calls a tool meanwhile", async () => {
    // More made-up tokens than --max-sessions (8), from more addresses than it takes to fill it at two each.
    const address = fc.oneof(fc.ipV4(), fc.ipV6()).filter((a) => a !== "127.0.0.1");
    // Distinct clients as the listener counts them (an IPv6 client is its /64), so the flood is spread.
    const client = (a: { address: string }) => (a.address.includes(":") ? prefix64(a.address) : a.address);
    const attack = fc.uniqueArray(fc.record({ address, tag: fc.stringMatching(/^[A-Za-z0-9]{6,12}$/) }), { minLength: 12, maxLength: 30, selector: client });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(attack, async (attempts) => {
        run++;
        const opened = logLines("session opened").length;
        const flood = Promise.all(attempts.map((a, i) => initialize(`gpra_revoked_${run}_${i}_${a.tag}`, a.address)));
        // The tenant arrives while the flood is under way, from an address of its own.
        const tenant = await connect("streamable", `${TENANT}_${run}`);
        const result = await tenant.client.callTool({ name: "billing_credits_balance", arguments: {} });
        const refused = await flood;
        expect(result.isError, textOf(result)).toBeFalsy();
        // Every made-up token was refused — by the API's word (401), or told to retry while too many
        // new credentials were being checked (503) — and none got a session.
        for (const res of refused) {
          expect([401, 503]).toContain(res.status);
          expect(res.headers["mcp-session-id"]).toBeUndefined();
        }
        expect(refused.filter((r) => r.status === 401).length).toBeGreaterThan(0);
        // Once the flood is over, the same tokens again: all 401, and only those told to retry cost a read.
        const mark = api.requests.length;
        for (const [i, a] of attempts.entries()) expect((await initialize(`gpra_revoked_${run}_${i}_${a.tag}`, a.address)).status).toBe(401);
        expect(balanceReads(mark)).toHaveLength(refused.filter((r) => r.status === 503).length);
        await tenant.close();
        await sleep(30);
        // The only session opened in this run is the tenant's.
        expect(logLines("session opened").length - opened).toBe(1);
      }),
      { numRuns: 4 },
    );
  });
});

describe("IPv6 clients count per /64", () => {
  it("prefix64 groups exactly the addresses of one /64 (node's BlockList as the oracle)", () => {
    const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 });
    const sameNetwork = fc.tuple(fc.ipV6(), groups).map(([a, tail]) => {
      const [head] = prefix64(a).split("::/");
      return [a, `${head}:${tail.map((g) => g.toString(16)).join(":")}`] as const;
    });
    fc.assert(
      fc.property(fc.oneof(fc.tuple(fc.ipV6(), fc.ipV6()), sameNetwork), ([a, b]) => {
        const list = new BlockList();
        list.addSubnet(a, 64, "ipv6");
        expect(prefix64(a) === prefix64(b)).toBe(list.check(b, "ipv6"));
      }),
      { numRuns: 300 },
    );
  });

  it("counts sessions from one /64 against one share (--max-sessions-per-address 2)", async () => {
    const ids: string[] = [];
    const open = async (address: string, status: number) => {
      const res = await initialize(TENANT, address);
      expect(res.status, address).toBe(status);
      if (res.status === 200) ids.push(String(res.headers["mcp-session-id"]));
    };
    await open("2001:db8:1:2::1", 200);
    await open("2001:db8:1:2:ffff:1:2:3", 200);
    await open("2001:0db8:0001:0002:abcd::9", 429);
    await open("[2001:db8:1:2::77]:4711", 429);
    await open("2001:db8:1:3::1", 200);
    for (const id of ids) await raw(srv.url, { method: "DELETE", headers: mcpHeaders(TENANT, { "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" }) });
  });
});

describe("calls past --max-calls-per-session wait in a short queue", () => {
  it("the limits are taken from the command line", () => {
    expect(logLines("http limits")[0]).toMatchObject({ max_calls_per_session: 2, call_queue: 2, call_queue_wait_s: 3, verify_credentials: true, trust_proxy: true });
  });

  it.each([
    [2, 4, 0],
    [3, 4, 1],
  ])("2 slots + %i more slow calls at once: %i answered, %i refused with 429 (never sent)", async (extra, answered, refused) => {
    const session = await connect("streamable", TENANT);
    try {
      api.inject(BALANCE, { kind: "delay", ms: 300 }, 2 + extra);
      const mark = api.requests.length;
      const outcomes = await Promise.allSettled(Array.from({ length: 2 + extra }, () => session.client.callTool({ name: "billing_credits_balance", arguments: {} })));
      const ok = outcomes.filter((o) => o.status === "fulfilled" && !o.value.isError);
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
      expect(ok).toHaveLength(answered);
      expect(failed).toHaveLength(refused);
      for (const f of failed) expect(String(f.reason)).toMatch(/429|Too many tool calls/);
      expect(balanceReads(mark)).toHaveLength(answered);
    } finally {
      api.clearFaults();
      await session.close();
    }
  });
});

describe("progress while a call is pending", () => {
  let stdio: StdioHarness;
  let answerStdio: Answer = () => ({ action: "cancel" });
  beforeAll(async () => {
    stdio = await startStdio({
      apiUrl: api.url,
      args: ["--progress-interval", INTERVAL_S, "--confirm-wait", "3", "--confirm-via", "form"],
      capabilities: { elicitation: { form: {} } },
      onElicit: () => answerStdio(),
    });
  });
  afterAll(async () => {
    await stdio?.close();
  });

  /** A client on `kind` whose form answers come from `answer`; closed by the returned close(). */
  const clientOn = async (kind: "stdio" | "streamable" | "sse", answer: Answer) => {
    if (kind === "stdio") {
      answerStdio = answer;
      return { client: stdio.client, close: async () => {} };
    }
    return connect(kind, TENANT, { answer });
  };

  const expectHeartbeat = (seen: Progress[], atLeast: number) => {
    expect(seen.length).toBeGreaterThanOrEqual(atLeast);
    // Counts up by one each time; a heartbeat, not a figure of the call.
    expect(seen.map((p) => p.progress)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.every((p) => p.total === undefined && /^Still working \(\d+ s\)$/.test(p.message ?? ""))).toBe(true);
  };

  it.each(["stdio", "streamable", "sse"] as const)("a slow read sends progress every interval over %s", async (kind) => {
    const { client, close } = await clientOn(kind, () => ({ action: "cancel" }));
    try {
      // 1 s against a 0.2 s interval: room for five heartbeats, three asserted (timers slip on a loaded machine).
      api.inject(BALANCE, { kind: "delay", ms: 1_000 });
      const seen: Progress[] = [];
      const result = await client.callTool({ name: "billing_credits_balance", arguments: {} }, undefined, { onprogress: (p) => seen.push(p) });
      expect(result.isError, textOf(result)).toBeFalsy();
      expectHeartbeat(seen, 3);
    } finally {
      api.clearFaults();
      await close();
    }
  });

  it.each(["stdio", "streamable"] as const)("a form left unanswered for 0.9 s keeps the call open over %s: progress resets the client's 500 ms timeout, the yes charges once", async (kind) => {
    const { client, close } = await clientOn(kind, async () => {
      await sleep(900);
      return { action: "accept", content: { confirm: true } };
    });
    try {
      const mark = api.requests.length;
      const seen: Progress[] = [];
      const result = await client.callTool({ name: "billing_topup", arguments: { credits: 7 } }, undefined, {
        onprogress: (p) => seen.push(p),
        timeout: 500,
        resetTimeoutOnProgress: true,
      });
      expect(result.isError, textOf(result)).toBeFalsy();
      expectHeartbeat(seen, 3);
      expect(spendsAfter(api, mark).filter((r) => r.charged)).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it.each(["stdio", "streamable"] as const)("a client that gives up anyway gets nothing charged by the person's late yes over %s", async (kind) => {
    let answered = false;
    const { client, close } = await clientOn(kind, async () => {
      await sleep(700);
      answered = true;
      return { action: "accept", content: { confirm: true } };
    });
    try {
      const mark = api.requests.length;
      const seen: Progress[] = [];
      // Progress arrives, but this client does not let it reset its 500 ms timeout: it gives up.
      const call = client.callTool({ name: "billing_topup", arguments: { credits: 9 } }, undefined, { onprogress: (p) => seen.push(p), timeout: 500 });
      await expect(within(call, 2_000)).rejects.toThrow(/timed out/i);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      await within((async () => { while (!answered) await sleep(20); })(), 2_000);
      await sleep(200);
      expect(spendsAfter(api, mark)).toHaveLength(0);
      // The session still works.
      expect((await client.callTool({ name: "billing_credits_balance", arguments: {} })).isError).toBeFalsy();
    } finally {
      await close();
    }
  });
});

describe("the flags, parsed once at the edge", () => {
  const parse = (...args: string[]) => parseConfig(["--sandbox", ...args], {});
  it("defaults: the queue as deep as the per-session limit, 5 s wait, a 4 s heartbeat", () => {
    expect(parse()).toMatchObject({ maxConcurrentCallsPerSession: 8, callQueue: 8, callQueueWaitMs: 5_000, progressIntervalMs: 4_000 });
    expect(parse("--max-calls-per-session", "3")).toMatchObject({ callQueue: 3 });
  });
  it("takes --call-queue 0 (no queue), fractional seconds, and refuses nonsense", () => {
    expect(parse("--call-queue", "0", "--call-queue-wait", "0.5", "--progress-interval", "0.2")).toMatchObject({ callQueue: 0, callQueueWaitMs: 500, progressIntervalMs: 200 });
    for (const bad of [["--call-queue", "-1"], ["--call-queue", "two"], ["--progress-interval", "0"], ["--progress-interval", "1e3"], ["--call-queue-wait", "9999"]]) {
      expect(() => parse(...bad), bad.join(" ")).toThrow(ConfigError);
    }
  });
});

describe("CredentialCheck (unit: the cache and budget of credential checks)", () => {
  /** A check whose upstream answers are released by hand; `asked` lists the tokens it was asked about. */
  const setup = (opts: { maxPending?: number; maxPendingPerAddress?: number; timeoutMs?: number } = {}) => {
    let now = 0;
    const asked: string[] = [];
    const answers = new Map<string, (v: Verdict) => void>();
    const check = new CredentialCheck({
      verify: (token, signal) =>
        new Promise<Verdict>((resolve, reject) => {
          asked.push(token);
          answers.set(token, resolve);
          signal.addEventListener("abort", () => reject(signal.reason));
        }),
      acceptedTtlMs: 1_000,
      rejectedTtlMs: 500,
      maxPending: opts.maxPending ?? 8,
      maxPendingPerAddress: opts.maxPendingPerAddress ?? 2,
      timeoutMs: opts.timeoutMs ?? 5_000,
      now: () => now,
    });
    const answer = async (token: string, v: Verdict) => {
      answers.get(token)!(v);
      await sleep(0);
    };
    return { check, asked, answer, advance: (ms: number) => (now += ms) };
  };

  it("asks once per credential (joined while running), caches both verdicts for their TTL, never an unknown", async () => {
    const { check, asked, answer, advance } = setup();
    const a1 = check.check("a", "ka", "x");
    const a2 = check.check("a", "ka", "y");
    await answer("a", "accepted");
    expect([await a1, await a2]).toEqual(["accepted", "accepted"]);
    const r = check.check("r", "kr", "x");
    await answer("r", "rejected");
    expect(await r).toBe("rejected");
    const u = check.check("u", "ku", "x");
    await answer("u", "unknown");
    expect(await u).toBe("unknown");
    expect([await check.check("a", "ka", "z"), await check.check("r", "kr", "z")]).toEqual(["accepted", "rejected"]);
    expect(asked).toEqual(["a", "r", "u"]);
    // Unknown was not kept: asked again. Past its TTL the refusal is asked again; the acceptance not yet.
    const again = check.check("u", "ku", "x");
    advance(600);
    const r2 = check.check("r", "kr", "x");
    expect(await check.check("a", "ka", "x")).toBe("accepted");
    expect(asked).toEqual(["a", "r", "u", "u", "r"]);
    await answer("u", "accepted");
    await answer("r", "rejected");
    expect([await again, await r2]).toEqual(["accepted", "rejected"]);
    // A credential the API refuses later is refused from then on.
    check.reject("ka");
    expect(await check.check("a", "ka", "x")).toBe("rejected");
  });

  it("is busy past its budget of running checks (per address, then overall), and cached verdicts pass regardless", async () => {
    const { check, answer } = setup({ maxPending: 3, maxPendingPerAddress: 2 });
    const known = check.check("k", "kk", "n");
    await answer("k", "accepted");
    await known;
    const running = [check.check("1", "k1", "x"), check.check("2", "k2", "x")];
    expect(await check.check("3", "k3", "x")).toBe("busy");
    running.push(check.check("4", "k4", "y"));
    expect(await check.check("5", "k5", "z")).toBe("busy");
    expect(await check.check("k", "kk", "x")).toBe("accepted");
    for (const t of ["1", "2", "4"]) await answer(t, "rejected");
    expect(await Promise.all(running)).toEqual(["rejected", "rejected", "rejected"]);
    const next = check.check("3", "k3", "x");
    await answer("3", "accepted");
    expect(await next).toBe("accepted");
  });

  it("gives up on a check that takes too long: unknown, and the slot is free again", async () => {
    const { check } = setup({ maxPending: 1, timeoutMs: 50 });
    expect(await check.check("slow", "ks", "x")).toBe("unknown");
    // Not busy, not cached: asked again (and given up on again).
    expect(await check.check("slow", "ks", "x")).toBe("unknown");
  });
});
