// A real third-party client: the MCP Inspector's CLI (@modelcontextprotocol/inspector-cli) launches the
// BUILT server over stdio with --sandbox, lists its tools and calls them, and we read what it prints.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CATALOG } from "../src/tools/catalog.js";
import { startSandboxApi } from "../src/sandbox/index.js";
import { CLI, tempDir } from "./helpers/stdio.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const INSPECTOR_DIR = join(root, "node_modules", "@modelcontextprotocol", "inspector-cli", "build");

let stateDir: string;

/**
 * `mcp-inspector-cli --cli node dist/src/cli.js --sandbox --state-dir <tmp> --method …`, JSON on stdout.
 * cwd is the Inspector's own build directory: inspector-cli 1.0.3 decides which package.json to import
 * (for its client name) with existsSync("../package.json") relative to the cwd, so from anywhere whose
 * parent has no package.json it fails with "Cannot find module …/@modelcontextprotocol/package.json"
 * (modelcontextprotocol/inspector#1334, closed unfixed as v1-deprecated).
 */
async function inspector(...method: string[]): Promise<Record<string, any>> {
  const { stdout } = await run(process.execPath, [join(INSPECTOR_DIR, "cli.js"), "--cli", process.execPath, CLI, "--sandbox", "--state-dir", stateDir, ...method], {
    cwd: INSPECTOR_DIR,
    env: { PATH: process.env.PATH ?? "" },
    timeout: 10_000,
  });
  return JSON.parse(stdout) as Record<string, any>;
}

beforeAll(() => {
  stateDir = tempDir("gbm-inspector-");
});
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe("MCP Inspector CLI against the built server over stdio", () => {
  it("lists the 15 tools with their schemas and hints", async () => {
    const listed = await inspector("--method", "tools/list");
    expect(listed.tools.map((t: { name: string }) => t.name)).toEqual(CATALOG.map((r) => r.name));
    const balance = listed.tools.find((t: { name: string }) => t.name === "billing_credits_balance");
    expect(balance.inputSchema.type).toBe("object");
    expect(balance.annotations.readOnlyHint).toBe(true);
    const topup = listed.tools.find((t: { name: string }) => t.name === "billing_topup");
    expect(topup.annotations.destructiveHint).toBe(true);
  });

  it("calls billing_credits_balance and gets the sandbox's balance", async () => {
    // What a fresh sandbox says, asked directly (the server starts its own fresh sandbox).
    const api = await startSandboxApi();
    let expected: { organization_id: string; balance_credits: number };
    try {
      const res = await fetch(`${api.url}/v1/op/billing.credits.balance`, {
        method: "POST",
        headers: { authorization: "Bearer gpra_inspector_test_key", "content-type": "application/json" },
        body: "{}",
      });
      expected = JSON.parse((await res.text()).trim()) as typeof expected;
    } finally {
      await api.close();
    }
    const result = await inspector("--method", "tools/call", "--tool-name", "billing_credits_balance");
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ organization_id: expected.organization_id, balance_credits: expected.balance_credits });
    expect(result.content[0].text).toContain(`"balance_credits":${expected.balance_credits}`);
  });

  it("passes typed arguments through (limit=2 on the ledger)", async () => {
    const result = await inspector("--method", "tools/call", "--tool-name", "billing_credits_transactions", "--tool-arg", "limit=2");
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent.count).toBe(2);
    expect(result.structuredContent.rows).toHaveLength(2);
  });
});
