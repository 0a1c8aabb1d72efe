// The first hour of a new user (issue 14, section 3), through the real process: what --help, --version and
// a mistyped option print and exit with; that `audit verify` with the server's own flags finds the audit
// the server wrote; what start-up says about where state lives; the hosted listener's pointers (the
// `listening` line, GET /) and its warning behind a proxy; the hand-started stdio server's one line; and
// that a spend the gate did not send, or an upstream 401/403, is logged as such.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, textOf, tempDir, CLI } from "./helpers/stdio.js";
import { startHttpServer, until, type HttpServerProcess } from "./helpers/http.js";
import { chargesAfter } from "./helpers/spends.js";
import { skipped } from "./helpers/skip.js";

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node dist/src/cli.js …args` with a clean environment; resolves with what it printed and its exit code. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return promisify(execFile)(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8", timeout: 20_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const logLines = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

let api: SandboxApi;
beforeAll(async () => {
  api = await startSandboxApi();
});
afterAll(() => api?.close());

describe("--help, --version and a mistyped option", () => {
  it("--help and -h print the usage on stdout and exit 0", async () => {
    for (const r of await Promise.all([cli(["--help"]), cli(["-h"])])) {
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect(r.stdout).toMatch(/^geopera-billing-mcp — [\s\S]*Usage:[\s\S]*audit verify/);
    }
  });

  it("--version and -v print the version alone on stdout and exit 0", async () => {
    for (const r of await Promise.all([cli(["--version"]), cli(["-v"])])) expect(r).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
  });

  it("an unknown option prints one line naming it and 'see --help' on stderr, and exits 2 (generated names)", async () => {
    const known = new Set([...(await cli(["--help"])).stdout.matchAll(/--[a-z-]+/g)].map((m) => m[0]));
    const name = fc
      .stringMatching(/^--[a-z][a-z-]{0,18}$/)
      .filter((n) => !known.has(n) && !n.endsWith("-"));
    const value = fc.option(fc.stringMatching(/^[A-Za-z0-9_]{0,12}$/), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(name, value, async (n, v) => {
        const r = await cli(["--sandbox", v === undefined ? n : `${n}=${v}`]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(`geopera-billing-mcp: unknown option ${n}; see --help\n`);
      }),
      { numRuns: 4, seed: SEED },
    );
  });

  it("a missing value, a value on a switch and an unknown command are one line each, exit 2", async () => {
    const cases: [string[], string][] = [
      [["--port"], "geopera-billing-mcp: --port needs a value; see --help\n"],
      [["--sandbox", "--max-sessions", "-5"], `geopera-billing-mcp: --max-sessions needs a value (one starting with "-" is written --max-sessions=-…); see --help\n`],
      [["--trust-proxy=yes"], "geopera-billing-mcp: --trust-proxy takes no value; see --help\n"],
      [["--sandbox", "serve"], `geopera-billing-mcp: unknown command "serve"; see --help\n`],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    cases.forEach(([args, line], i) => expect(runs[i], args.join(" ")).toEqual({ code: 2, stdout: "", stderr: line }));
  });
});

describe("audit verify finds the audit the server wrote, with the server's flags", () => {
  let dir: string;
  let startup: Record<string, unknown>[];
  beforeAll(async () => {
    dir = tempDir();
    const h = await startStdio({ args: ["--sandbox"], stateDir: dir, capabilities: { elicitation: { form: {} } }, onElicit: () => ({ action: "accept", content: { confirm: true } }) });
    try {
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
      expect(textOf(r)).toMatch(/Charged once/);
    } finally {
      await h.close();
    }
    startup = logLines(h.stderr());
  });

  it("start-up says where the state and the audit live", () => {
    expect(startup.find((l) => l.msg === "gate store: files")).toMatchObject({ state_dir: join(dir, "sandbox"), audit: join(dir, "sandbox", "audit.jsonl") });
  });

  it("--sandbox --state-dir: the sandbox subdirectory, as the server used it", async () => {
    const r = await cli(["audit", "verify", "--sandbox", "--state-dir", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`audit verify: OK, 4 line(s) in ${join(dir, "sandbox", "audit.jsonl")}`);
  });

  it("GEOPERA_STATE_DIR with --sandbox, --store file:, and GEOPERA_STORE_URL reach the same file", async () => {
    const file = join(dir, "sandbox", "audit.jsonl");
    const ways: [string[], Record<string, string>][] = [
      [["--sandbox"], { GEOPERA_STATE_DIR: dir }],
      [["--store", `file:${join(dir, "sandbox")}`], {}],
      [[], { GEOPERA_STORE_URL: `file:${join(dir, "sandbox")}` }],
    ];
    const runs = await Promise.all(ways.map(([args, env]) => cli(["audit", "verify", ...args], env)));
    runs.forEach((r, i) => {
      expect(r.code, `${ways[i]![0].join(" ")} ${JSON.stringify(ways[i]![1])}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toContain(`OK, 4 line(s) in ${file}`);
    });
  });

  it("without --sandbox it looks in the state directory itself: nothing there (exit 2), and it points to the sandbox's audit", async () => {
    const r = await cli(["audit", "verify", "--state-dir", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`audit verify: no audit file at ${join(dir, "audit.jsonl")}; the sandbox's audit is at ${join(dir, "sandbox", "audit.jsonl")} (add --sandbox, as the server ran)\n`);
    const empty = tempDir();
    expect(await cli(["audit", "verify", "--state-dir", empty])).toEqual({ code: 2, stdout: "", stderr: `audit verify: no audit file at ${join(empty, "audit.jsonl")}\n` });
  });
});

describe("what the gate did not send, and upstream refusals, in the per-call log line", () => {
  it("a page link (pending), a decline and a cap refusal log their outcome and reason, never the arguments", async () => {
    const note = "note-text-never-logged";
    let answer: "decline" | "cancel" = "decline";
    const h = await startStdio({ apiUrl: api.url, args: ["--max-credits-per-call", "50"], capabilities: { elicitation: { form: {} } }, onElicit: () => ({ action: answer }) });
    const page = await startStdio({ apiUrl: api.url });
    try {
      const mark = api.requests.length;
      const declined = await h.client.callTool({ name: "billing_topup", arguments: { credits: 6, description: note } });
      expect(textOf(declined)).toMatch(/The person declined; nothing was charged\./);
      answer = "cancel";
      const cancelled = await h.client.callTool({ name: "billing_topup", arguments: { credits: 6, description: note } });
      expect(textOf(cancelled)).toMatch(/The person cancelled the confirmation; nothing was charged\./);
      const capped = await h.client.callTool({ name: "billing_topup", arguments: { credits: 60, description: note } });
      expect(textOf(capped)).toMatch(/refused: .*Nothing was charged\. No one was asked\./);
      const pending = await page.client.callTool({ name: "billing_topup", arguments: { credits: 6, description: note } });
      expect(textOf(pending)).toMatch(/Not charged yet: a person must confirm/);
      expect(chargesAfter(api, mark)).toEqual([]);
      const calls = (s: string) => logLines(s).filter((l) => l.msg === "tool call");
      // The logger writes within 10 ms, but the line still crosses a pipe to this process: wait for it (a fixed
      // 100 ms pause missed the page server's line once on a loaded CI machine).
      await until(() => calls(h.stderr()).length >= 3 && calls(page.stderr()).length >= 1);
      expect(calls(h.stderr()).map((l) => [l.level, l.outcome, l.reason])).toEqual([
        ["info", "declined", "declined"],
        ["info", "cancelled", "cancelled"],
        ["info", "refused", "cap_per_call"],
      ]);
      expect(calls(page.stderr()).map((l) => [l.outcome, l.reason])).toEqual([["pending", "awaiting_page"]]);
      expect(h.stderr() + page.stderr()).not.toContain(note);
    } finally {
      await Promise.all([h.close(), page.close()]);
    }
  });

  it("an upstream 401 or 403 logs at warn, also on a spend's preview read; a 404 stays info", async () => {
    const h = await startStdio({ apiUrl: api.url });
    try {
      for (const status of [401, 403, 404]) {
        api.inject("billing.credits.balance", { kind: "status", status, body: JSON.stringify({ error: { code: "x", message: "no" } }), contentType: "application/json" });
        const r = await h.client.callTool({ name: "billing_credits_balance", arguments: {} });
        expect(r.isError).toBe(true);
      }
      // A spend whose preview read (the balance) is refused: not sent, refused, at warn with the read's status.
      api.inject("billing.credits.balance", { kind: "status", status: 401, body: JSON.stringify({ error: { code: "unauthorized", message: "revoked" } }), contentType: "application/json" });
      const mark = api.requests.length;
      const topup = await h.client.callTool({ name: "billing_topup", arguments: { credits: 4 } });
      expect(textOf(topup)).toMatch(/could not be shown to a person because billing_credits_balance failed.*Nothing was charged\./s);
      expect(chargesAfter(api, mark)).toEqual([]);
      const toolCalls = () => logLines(h.stderr()).filter((l) => l.msg === "tool call");
      await until(() => toolCalls().length >= 4); // the lines cross a pipe: wait for them, not a fixed pause
      const calls = toolCalls();
      expect(calls.map((l) => [l.tool, l.upstream_status, l.level, l.outcome, l.reason])).toEqual([
        ["billing_credits_balance", 401, "warn", "error", undefined],
        ["billing_credits_balance", 403, "warn", "error", undefined],
        ["billing_credits_balance", 404, "info", "error", undefined],
        ["billing_topup", 401, "warn", "refused", "preview_failed"],
      ]);
    } finally {
      await h.close();
    }
  });
});

describe("hosted mode's pointers", () => {
  let behindProxy: HttpServerProcess;
  beforeAll(async () => {
    behindProxy = await startHttpServer({ apiUrl: api.url, args: ["--public-url", "https://billing.example.test"] });
  });
  afterAll(() => behindProxy?.stop());

  it("the listening line gives the /mcp and /sse URLs (at the public URL when set)", async () => {
    const plain = await startHttpServer({ apiUrl: api.url });
    try {
      const line = logLines(plain.stderr()).find((l) => l.msg === "listening");
      expect(line).toMatchObject({ url: plain.url, mcp: `${plain.url}/mcp`, sse: `${plain.url}/sse` });
      expect(logLines(plain.stderr()).filter((l) => l.level === "warn")).toEqual([]);
    } finally {
      await plain.stop();
    }
    expect(logLines(behindProxy.stderr()).find((l) => l.msg === "listening")).toMatchObject({ url: behindProxy.url, mcp: "https://billing.example.test/mcp", sse: "https://billing.example.test/sse" });
  });

  it("--public-url on a loopback bind without --trust-proxy warns that the per-address cap becomes global; with it, no warning", async () => {
    const warn = logLines(behindProxy.stderr()).find((l) => l.level === "warn" && /per-address session cap/.test(String(l.msg)));
    expect(warn).toMatchObject({ max_sessions_per_address: 32 });
    const trusted = await startHttpServer({ apiUrl: api.url, args: ["--public-url", "https://billing.example.test", "--trust-proxy"] });
    try {
      expect(logLines(trusted.stderr()).filter((l) => l.level === "warn")).toEqual([]);
    } finally {
      await trusted.stop();
    }
  });

  it("GET / answers a short JSON naming the endpoints; the Host and Origin checks still come first", async () => {
    const res = await fetch(`${behindProxy.url}/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "geopera-billing-mcp", version: "0.1.0", endpoints: { streamable_http: "/mcp", sse: "/sse" } });
    expect((await fetch(`${behindProxy.url}/`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${behindProxy.url}/`, { headers: { Origin: "https://evil.example" } })).status).toBe(403);
    const rebound = await rawGet(behindProxy.port, "evil.example");
    expect(rebound).toMatch(/^HTTP\/1\.1 403/);
  });
});

/** A GET / with a chosen Host header (fetch will not send a foreign one). */
async function rawGet(port: number, host: string): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1", () => sock.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    let got = "";
    sock.on("data", (d: Buffer) => (got += d.toString()));
    sock.on("end", () => resolve(got));
    sock.on("error", reject);
  });
}

// `script` (util-linux) gives the server a terminal on stdin, as a person typing `npm start` does.
const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p));
describe("npm start by hand", () => {
  it.skipIf(!SCRIPT)(skipped("in a terminal, says on stderr that it waits for an MCP client and how to stop it; a piped client sees no such line", !SCRIPT, "no `script` (util-linux) to give the server a terminal"), async () => {
    const dir = tempDir();
    const cmd = `${process.execPath} ${CLI} --sandbox --state-dir ${dir} 2>${join(dir, "err.log")}`;
    const child = spawn(SCRIPT!, ["-qfec", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
    const { readFileSync } = await import("node:fs");
    const errLog = () => (existsSync(join(dir, "err.log")) ? readFileSync(join(dir, "err.log"), "utf8") : "");
    const deadline = Date.now() + 15_000;
    while (!/waiting for an MCP client/.test(errLog()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM"); // script closes the terminal; the server gets SIGHUP and exits
    await exited;
    const line = logLines(errLog()).find((l) => /waiting for an MCP client/.test(String(l.msg)));
    expect(line?.msg, errLog()).toMatch(/waiting for an MCP client on stdio.*Ctrl\+C to stop/);
    // Over a pipe (every real client), nothing of it.
    const piped = await startStdio({ args: ["--sandbox"] });
    await piped.close();
    expect(piped.stderr()).toContain("serving over stdio");
    expect(piped.stderr()).not.toContain("waiting for an MCP client");
  });
});

describe("the MCP bundle tried without an account", () => {
  it("with the manifest's env as Claude Desktop expands it (sandbox ticked, URL and key left empty), the server serves the sandbox", async () => {
    const manifest = JSON.parse(await import("node:fs").then((fs) => fs.readFileSync(join(import.meta.dirname, "..", "manifest.json"), "utf8"))) as {
      server: { mcp_config: { env: Record<string, string> } };
    };
    const values: Record<string, string> = { api_url: "", api_key: "", sandbox: "true" };
    const env = Object.fromEntries(Object.entries(manifest.server.mcp_config.env).map(([k, v]) => [k, v.replace(/\$\{user_config\.(\w+)\}/, (_, name: string) => values[name]!)]));
    const s = await startStdio({ env });
    try {
      const balance = await s.client.callTool({ name: "billing_credits_balance", arguments: {} });
      expect(balance.isError, textOf(balance)).toBeFalsy();
      expect(balance.structuredContent).toMatchObject({ organization_id: "org_demo" });
      // A spend still needs a person: a client without elicitation gets the page link, nothing is charged.
      const spend = await s.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
      expect(textOf(spend)).toMatch(/Not charged yet[\s\S]*\/confirm\/[\s\S]*Nothing was charged/);
    } finally {
      await s.close();
    }
  });
});
