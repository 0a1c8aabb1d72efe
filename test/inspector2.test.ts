// A real third-party client of both protocol eras: the MCP Inspector 2.x one-shot CLI
// (@modelcontextprotocol/inspector, a devDependency; its own v2 client 2.3.1), against the BUILT server
// over stdio and over HTTP /mcp, pinned to the 2025 era (`--protocol-era legacy`) and to 2026-07-28
// (`--protocol-era modern`, which fails rather than fall back). The 1.x inspector-cli (2025 only) is
// test/inspector.test.ts.
//
// The Inspector 2.x requires Node >= 22.19 (its engines; it imports undici 8 and commander 15, which need
// it), so under an older Node this file is skipped and says so; .ci/run runs the suite on Node 22 and 24 too.
// The one-shot CLI declares no elicitation capability, so a spend cannot be confirmed through it: what
// must hold is that it charges nothing, in either era.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { CATALOG } from "../src/tools/catalog.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startHttpServer, type HttpServerProcess } from "./helpers/http.js";
import { CLI, tempDir } from "./helpers/stdio.js";
import { spendsAfter } from "./helpers/spends.js";
import { skipped } from "./helpers/skip.js";

const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
const OLD_NODE = major < 22 || (major === 22 && minor < 19);
const WHY = `needs Node >= 22.19 (the engines of @modelcontextprotocol/inspector 2.x); this is ${process.version}. .ci/run also runs the suite on Node 22 and 24`;

const root = join(import.meta.dirname, "..");
const PKG = join(root, "node_modules", "@modelcontextprotocol", "inspector");
/** The launcher (bin mcp-inspector), found through the package's own bin map rather than a guessed path. */
const LAUNCHER = () => join(PKG, (JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")) as { bin: Record<string, string> }).bin["mcp-inspector"]!);
const KEY = "gpra_inspector2_test_key_0123456789";
const SERVER_INFO = "io.modelcontextprotocol/serverInfo";
const GATE_REASON = "com.geopera/gate_reason";

type Era = "legacy" | "modern";
type Transport = "stdio" | "http";
interface Run {
  code: number | null;
  /** stdout parsed: with --format json -q it is one JSON object ({result: …}). */
  out: any;
  /** stderr parsed: the error envelope ({error: {code, message}}) when it failed, else undefined. */
  err: any;
}

describe.skipIf(OLD_NODE)(skipped("MCP Inspector 2.x one-shot CLI against both protocol eras", OLD_NODE, WHY), () => {
  let api: SandboxApi;
  let http: HttpServerProcess;
  let home: string;
  let stateDir: string;

  beforeAll(async () => {
    api = await startSandboxApi();
    http = await startHttpServer({ apiUrl: api.url });
    home = tempDir("gbm-inspector2-home-");
    stateDir = tempDir("gbm-inspector2-state-");
  });
  afterAll(async () => {
    await http?.stop();
    await api?.close();
    for (const dir of [home, stateDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * One `mcp-inspector --cli` run. HOME is a throwaway directory (the Inspector keeps ~/.mcp-inspector) and
   * MCP_INSPECTOR_SECRET_STORE=memory keeps it off any OS keychain. The server is given as `--server-url`
   * or after `--`: --header and --tool-arg are variadic and would swallow a target that follows them.
   */
  function inspector(transport: Transport, era: Era, args: string[], serverArgs: string[] = []): Promise<Run> {
    const target =
      transport === "http"
        ? // --stored-auth-only: a refused bearer ends the run (auth_required) instead of starting an interactive OAuth login.
          ["--stored-auth-only", "--server-url", new URL("/mcp", http.url).toString(), "--header", `Authorization: Bearer ${KEY}`]
        : ["-e", `GEOPERA_API_URL=${api.url}`, "-e", `GEOPERA_API_KEY=${KEY}`, "--", process.execPath, CLI, "--state-dir", stateDir, ...serverArgs];
    const argv = [LAUNCHER(), "--cli", "--protocol-era", era, "--format", "json", "-q", ...args, ...target];
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, argv, {
        cwd: dirname(LAUNCHER()),
        env: { PATH: process.env.PATH ?? "", HOME: home, MCP_INSPECTOR_SECRET_STORE: "memory", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 30_000,
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.once("error", reject);
      child.once("close", (code) => {
        const parse = (s: string, what: string) => {
          if (!s.trim()) return undefined;
          try {
            return JSON.parse(s);
          } catch {
            throw new Error(`inspector ${what} is not one JSON object (exit ${code}):\n${s}\n--- other stream:\n${what === "stdout" ? stderr : stdout}`);
          }
        };
        try {
          resolve({ code, out: parse(stdout, "stdout"), err: parse(stderr, "stderr") });
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** What the sandbox says the balance is now, asked directly. */
  async function balanceNow(): Promise<{ organization_id: string; balance_credits: number }> {
    const res = await fetch(`${api.url}/v1/op/billing.credits.balance`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: "{}" });
    return JSON.parse((await res.text()).trim());
  }

  // What a spend without a confirmation channel comes back as: over stdio the server offers its local page
  // (a link for a person; nothing sent until they confirm there), over HTTP without a public page it refuses.
  const SPEND_REASON: Record<Transport, string> = { stdio: "awaiting_page", http: "no_channel" };

  for (const transport of ["stdio", "http"] as const) {
    for (const era of ["legacy", "modern"] as const) {
      describe(`${transport}, ${era} era`, () => {
        it("lists the 15 tools", async () => {
          const r = await inspector(transport, era, ["--method", "tools/list"]);
          expect(r.code, JSON.stringify(r.err)).toBe(0);
          expect(r.out.result.tools.map((t: { name: string }) => t.name)).toEqual(CATALOG.map((t) => t.name));
          expect(r.out.result.tools).toHaveLength(15);
        });

        it("calls billing_credits_balance and gets the sandbox's balance", async () => {
          const expected = await balanceNow();
          const r = await inspector(transport, era, ["--method", "tools/call", "--tool-name", "billing_credits_balance"]);
          expect(r.code, JSON.stringify(r.err)).toBe(0);
          expect(r.out.result.isError).toBeFalsy();
          expect(r.out.result.structuredContent).toMatchObject({ organization_id: expected.organization_id, balance_credits: expected.balance_credits });
          // The era the call really went over: 2026-07-28 results carry the server's identity in _meta
          // (there is no initialize handshake to carry it); 2025-era results do not.
          if (era === "modern") expect(r.out.result._meta?.[SERVER_INFO]).toMatchObject({ name: "geopera-billing-mcp" });
          else expect(r.out.result._meta).not.toHaveProperty(SERVER_INFO);
        });

        it("a spend through the CLI (no elicitation declared) charges nothing", async () => {
          const mark = api.requests.length;
          const r = await inspector(transport, era, ["--method", "tools/call", "--tool-name", "billing_topup", "--tool-args-json", '{"credits":5}']);
          // Exit 5 with {error:{code:"tool_is_error"}}: the Inspector's code for a tool result with isError.
          expect(r.code).toBe(5);
          expect(r.err?.error?.code).toBe("tool_is_error");
          expect(r.out.result.isError).toBe(true);
          expect(r.out.result._meta[GATE_REASON]).toBe(SPEND_REASON[transport]);
          expect(r.out.result.content[0].text).toMatch(/Nothing was charged/);
          expect(spendsAfter(api, mark)).toHaveLength(0);
        });
      });
    }
  }

  it("--protocol-era modern really pins 2026-07-28: against a server run with --protocol-eras 2025 it fails, legacy still lists", async () => {
    const modern = await inspector("stdio", "modern", ["--method", "tools/list"], ["--protocol-eras", "2025"]);
    expect(modern.code).not.toBe(0);
    expect(modern.err?.error?.message).toMatch(/2026-07-28/);
    const legacy = await inspector("stdio", "legacy", ["--method", "tools/list"], ["--protocol-eras", "2025"]);
    expect(legacy.code, JSON.stringify(legacy.err)).toBe(0);
    expect(legacy.out.result.tools).toHaveLength(15);
  });
});
