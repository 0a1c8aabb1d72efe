// Malformed JSON-RPC and oversize requests on stdio: the process never dies, stdout only ever carries
// valid JSON-RPC lines, every request that can be answered is answered, and a normal call works after.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { recoverId } from "../src/transport/stdioLimit.js";
import { startRaw, rawText, type RawServer, type RpcMessage } from "./helpers/raw.js";
import { startStdio } from "./helpers/stdio.js";

let api: SandboxApi;
let s: RawServer;
const MB = 1024 * 1024;

beforeAll(async () => {
  api = await startSandboxApi();
  s = await startRaw({ apiUrl: api.url });
});
afterAll(async () => {
  await s?.close();
  await api?.close();
});

/** Sends raw lines and waits until `count` new messages have arrived (then a little more, to catch extras). */
async function answersTo(lines: Array<string | Buffer>, count: number): Promise<RpcMessage[]> {
  const from = s.messages.length;
  for (const l of lines) s.child.stdin.write(Buffer.concat([Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from("\n")]));
  // A ping after the lines: its answer proves everything before it was processed.
  const ping = await s.request("ping");
  expect(ping.result).toEqual({});
  const got = s.messages.slice(from).filter((m) => m !== ping);
  expect(got.length, JSON.stringify(got)).toBe(count);
  return got;
}

async function stillWorks(): Promise<void> {
  const r = await s.call("billing_credits_balance", {});
  expect(r.result?.isError, rawText(r)).toBeFalsy();
  expect(s.alive()).toBe(true);
}

describe("garbage lines", () => {
  it("non-JSON lines get -32700 with id null; blank lines are ignored", async () => {
    const got = await answersTo(["hello", "{", "{\"jsonrpc\":\"2.0\",", "", "   ", "\r", Buffer.from([0xff, 0xfe, 0x00, 0x80]), "NaN"], 5);
    for (const m of got) {
      expect(m).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32700 } });
      expect(m.error!.message).toMatch(/Parse error: the line is not valid JSON/);
    }
    await stillWorks();
  });

  it("JSON that is not a JSON-RPC message gets -32600", async () => {
    const got = await answersTo(["{}", "null", "42", '"str"', "true", '{"jsonrpc":"1.0","id":7,"method":"ping"}', '{"jsonrpc":"2.0","id":8,"method":5}', '{"jsonrpc":"2.0","id":9,"method":"ping","params":[1]}'], 8);
    expect(got.map((m) => m.error?.code)).toEqual(Array(8).fill(-32600));
    expect(got.slice(0, 5).map((m) => m.id)).toEqual([null, null, null, null, null]);
    expect(got.slice(5).map((m) => m.id)).toEqual([7, 8, 9]);
    expect(got[5]!.error!.message).toMatch(/jsonrpc must be "2.0"/);
    expect(got[6]!.error!.message).toMatch(/method must be a string/);
    expect(got[7]!.error!.message).toMatch(/params must be an object/);
    await stillWorks();
  });

  it("a request split over many writes, and many requests in one write, are both read right", async () => {
    const line = JSON.stringify({ jsonrpc: "2.0", id: "split", method: "tools/list" }) + "\n";
    for (const ch of line) s.send(ch, false);
    const split = await s.waitFor((m) => m.id === "split");
    expect((split.result as { tools: unknown[] }).tools.length).toBe(15);
    s.send([1, 2, 3].map((i) => JSON.stringify({ jsonrpc: "2.0", id: `many${i}`, method: "ping" })).join("\n"));
    for (const i of [1, 2, 3]) await s.waitFor((m) => m.id === `many${i}`);
  });
});

describe("methods and ids", () => {
  it("an unknown method gets -32601 with its id; an unknown notification gets nothing", async () => {
    const got = await answersTo(['{"jsonrpc":"2.0","id":31,"method":"billing/steal"}', '{"jsonrpc":"2.0","method":"notifications/whatever"}'], 1);
    expect(got[0]).toMatchObject({ id: 31, error: { code: -32601 } });
  });

  it("wrong ids: object, array, boolean, float, null → -32600 with id null", async () => {
    const bad = ["{}", "[1]", "true", "1.5", "null"].map((id) => `{"jsonrpc":"2.0","id":${id},"method":"ping"}`);
    const got = await answersTo(bad, 5);
    for (const m of got) expect(m).toMatchObject({ id: null, error: { code: -32600, message: "Invalid Request: id must be a string or an integer." } });
  });

  it("huge ids: a 100 KB string id is echoed; 1e400 (not an integer) is refused; the largest safe integer works", async () => {
    const longId = "i".repeat(100_000);
    s.send(JSON.stringify({ jsonrpc: "2.0", id: longId, method: "ping" }));
    const echoed = await s.waitFor((m) => m.id === longId);
    expect(echoed.result).toEqual({});
    const got = await answersTo(['{"jsonrpc":"2.0","id":1e400,"method":"ping"}', `{"jsonrpc":"2.0","id":${Number.MAX_SAFE_INTEGER},"method":"ping"}`], 2);
    expect(got[0]).toMatchObject({ id: null, error: { code: -32600 } });
    expect(got[1]).toMatchObject({ id: Number.MAX_SAFE_INTEGER, result: {} });
  });

  it("a response to nothing, and a malformed response, are dropped silently", async () => {
    await answersTo(['{"jsonrpc":"2.0","id":"never-asked","result":{}}', '{"id":5,"result":{}}', '{"jsonrpc":"2.0","id":6,"error":"nope"}'], 0);
    await stillWorks();
  });

  it("a batch array gets -32600 per id (MCP has no batches); one without ids gets a single id-null error", async () => {
    const got = await answersTo([
      JSON.stringify([
        { jsonrpc: "2.0", id: 901, method: "ping" },
        { jsonrpc: "2.0", id: "b902", method: "tools/list" },
        { jsonrpc: "2.0", method: "notifications/initialized" },
      ]),
      "[]",
      JSON.stringify([{ jsonrpc: "2.0", method: "notifications/initialized" }]),
    ], 4);
    expect(got.map((m) => m.id)).toEqual([901, "b902", null, null]);
    for (const m of got) expect(m.error).toMatchObject({ code: -32600, message: expect.stringMatching(/batches are not supported/) });
    await stillWorks();
  });
});

describe("request size cap (1 MB per line)", () => {
  it("a 2 MB line gets -32600 'Request too large' with its id, and the next request works", async () => {
    const big = JSON.stringify({ jsonrpc: "2.0", method: "tools/call", params: { name: "billing_plans_list", arguments: { pad: "x".repeat(2 * MB) } }, id: 4242 });
    const before = api.requests.length;
    const got = await answersTo([big], 1);
    expect(got[0]).toMatchObject({ jsonrpc: "2.0", id: 4242, error: { code: -32600 } });
    expect(got[0]!.error!.message).toMatch(/^Request too large: \d+ bytes, more than the 1048576-byte limit/);
    expect(api.requests.length).toBe(before);
    await stillWorks();
  });

  it("an oversize line whose id cannot be read for certain gets id null; one sent in slow pieces too", async () => {
    const got = await answersTo(["z".repeat(2 * MB)], 1);
    expect(got[0]).toMatchObject({ id: null, error: { code: -32600, message: expect.stringMatching(/Request too large/) } });
    const from = s.messages.length;
    const piece = "y".repeat(256 * 1024);
    for (let i = 0; i < 6; i++) {
      s.send(piece, false);
      await new Promise((r) => setTimeout(r, 10));
    }
    s.send("");
    await s.waitFor((m) => m.id === null && /Request too large: 1572864 bytes/.test(m.error?.message ?? ""), 5_000, from);
    await stillWorks();
  });

  it("12 MB in one line (past the SDK's own 10 MB buffer limit, which would close the transport) is refused and survived", async () => {
    const got = await answersTo([`{"jsonrpc":"2.0","id":77,"method":"ping","params":{"p":"${"q".repeat(12 * MB)}"}}`], 1);
    expect(got[0]).toMatchObject({ id: 77, error: { code: -32600 } });
    await stillWorks();
  });

  it("a line just under the cap is read normally", async () => {
    const r = await s.call("billing_credits_transactions", { reason: "u".repeat(MB - 200) });
    expect(r.result?.isError).toBe(true);
    expect(rawText(r)).toMatch(/reason/);
  });

  it("with the SDK client: a 2 MB argument fails at once with -32600, and the session goes on", async () => {
    const h = await startStdio({ apiUrl: api.url });
    try {
      const t0 = performance.now();
      const err = await h.client.callTool({ name: "billing_plans_list", arguments: { pad: "x".repeat(2 * MB) } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(-32600);
      expect((err as McpError).message).toMatch(/Request too large/);
      expect(performance.now() - t0).toBeLessThan(2_000);
      const ok = await h.client.callTool({ name: "billing_plans_list", arguments: {} });
      expect(ok.isError).toBeFalsy();
    } finally {
      await h.close();
    }
  });

  it("recovers an id only where it is unambiguous", () => {
    expect(recoverId('{"jsonrpc":"2.0","id":12,"method":"x","params":{"a":"', "")).toBe(12);
    expect(recoverId('{"id":"abc","method"', "")).toBe("abc");
    expect(recoverId('{"method":"tools/call","params":{"id":3', '"}},"jsonrpc":"2.0","id":99}')).toBe(99);
    expect(recoverId('{"method":"tools/call","params":{"id":3', 'xx","id":5}}')).toBeNull();
    expect(recoverId('{"method":"x","params":{"id":3,', "aaaa")).toBeNull();
    expect(recoverId('{"id":1.5,', "")).toBeNull();
  });
});

describe("after everything", () => {
  it("the process is alive, every stdout line was valid JSON-RPC, stderr is JSON lines", async () => {
    await stillWorks();
    expect(s.badLines).toEqual([]);
    for (const line of s.stdout().trim().split("\n")) expect(JSON.parse(line).jsonrpc).toBe("2.0");
    const errLines = s.stderr().trim().split("\n").filter(Boolean);
    for (const line of errLines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});
