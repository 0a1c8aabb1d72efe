// Drives the built server as a real child process over stdio with the SDK's own Client.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema, type ElicitRequest, type ElicitResult, type ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CLI = join(import.meta.dirname, "..", "..", "dist", "src", "cli.js");
export const TEST_KEY = "gpra_test_live_key_0123456789";

export function tempDir(prefix = "gbm-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface StdioHarness {
  client: Client;
  stderr: () => string;
  pid: () => number | null;
  close(): Promise<void>;
}

export interface StdioOptions {
  apiUrl?: string;
  apiKey?: string;
  args?: string[];
  stateDir?: string;
  capabilities?: ClientCapabilities;
  onElicit?: (req: ElicitRequest) => Promise<ElicitResult> | ElicitResult;
  /** Extra environment for the server (e.g. GEOPERA_AUDIT_KEY). */
  env?: Record<string, string>;
}

export async function startStdio(opts: StdioOptions): Promise<StdioHarness> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
  if (opts.apiUrl) env.GEOPERA_API_URL = opts.apiUrl;
  if (opts.apiKey ?? TEST_KEY) env.GEOPERA_API_KEY = opts.apiKey ?? TEST_KEY;
  Object.assign(env, opts.env);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "--state-dir", opts.stateDir ?? tempDir(), ...(opts.args ?? [])],
    env,
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: "test-client", version: "1.0.0" }, { capabilities: opts.capabilities ?? {} });
  if (opts.onElicit) client.setRequestHandler(ElicitRequestSchema, (req) => opts.onElicit!(req));
  await client.connect(transport);
  return {
    client,
    stderr: () => err,
    pid: () => transport.pid,
    close: () => client.close(),
  };
}

/** The text of a tool result, all text blocks joined. */
export function textOf(result: unknown): string {
  const r = result as { content?: Array<{ type: string; text?: string }> };
  return (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

/** The confirmation link a page-channel result hands the agent. */
export function linkOf(result: unknown): string {
  const m = /(http:\/\/127\.0\.0\.1:\d+\/confirm\/[A-Za-z0-9_-]+)/.exec(textOf(result));
  if (!m) throw new Error(`no confirmation link in: ${textOf(result)}`);
  return m[1]!;
}

/** What a person's browser does: open the page, read the token, press a button. */
export async function decideOnPage(link: string, decision: "confirm" | "decline", origin = new URL(link).origin): Promise<Response> {
  const page = await fetch(link);
  const html = await page.text();
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? "";
  return fetch(link, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin },
    body: new URLSearchParams({ token, decision }).toString(),
  });
}

/**
 * A URL-mode elicitation answered as VS Code does: the client accepts (it opened the link), and the person
 * confirms on the page `delayMs` later. Each link is recorded in `opened`.
 */
export function opensLinkAndConfirms(opened: string[], delayMs: number): (req: ElicitRequest) => ElicitResult {
  return (req) => {
    const url = (req.params as { url: string }).url;
    opened.push(url);
    setTimeout(() => void decideOnPage(url, "confirm"), delayMs);
    return { action: "accept" };
  };
}
