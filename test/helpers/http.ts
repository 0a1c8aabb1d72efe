// Drives the built server as a real child process in HTTP mode, and speaks to it with the SDK's own
// clients (Streamable HTTP, legacy SSE) or with raw node:http requests (which may set any Host header).
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { CLI } from "./stdio.js";
import { ElicitRequestSchema, type ClientCapabilities, type ElicitRequest, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";


export interface HttpServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `node dist/src/cli.js --transport http --port 0` and reads the bound URL from its "listening" log line. */
export async function startHttpServer(opts: { apiUrl: string; args?: string[]; env?: Record<string, string> }): Promise<HttpServerProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), "gbm-http-"));
  const proc = spawn(process.execPath, [CLI, "--transport", "http", "--port", "0", "--state-dir", stateDir, ...(opts.args ?? [])], {
    env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: opts.apiUrl, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return whenListening(proc, "server", 10_000);
}

/**
 * Wraps a spawned HTTP-mode server once its "listening" log line names its URL: stderr (and stdout, when
 * piped) collected, its exit, a stop(). Only complete lines are parsed; a chunk may end mid-line.
 */
export async function whenListening(proc: ChildProcess, what: string, timeoutMs: number): Promise<HttpServerProcess> {
  let err = "";
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not report listening:\n${err}`)), timeoutMs);
    let read = 0; // stderr before this offset has been looked at, line by line
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      for (let nl = err.indexOf("\n", read); nl >= 0; nl = err.indexOf("\n", read)) {
        const line = err.slice(read, nl);
        read = nl + 1;
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === "listening" && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening:\n${err}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    proc,
    stderr: () => err,
    stdout: () => out,
    exited,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A client as a hosted agent's: its declared capabilities and, if any, how it answers elicitations. */
export interface ClientSetup {
  capabilities?: ClientCapabilities;
  onElicit?: (req: ElicitRequest) => Promise<ElicitResult> | ElicitResult;
}

function makeClient(setup: ClientSetup): Client {
  const client = new Client({ name: "http-test", version: "1.0.0" }, { capabilities: setup.capabilities ?? {} });
  if (setup.onElicit) client.setRequestHandler(ElicitRequestSchema, (req) => setup.onElicit!(req));
  return client;
}

export async function connectStreamable(url: string, token: string, setup: ClientSetup = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", url), { requestInit: { headers: auth(token) } });
  const client = makeClient(setup);
  await client.connect(transport);
  return { client, transport };
}

export async function connectSse(url: string, token: string, setup: ClientSetup = {}): Promise<{ client: Client; transport: SSEClientTransport }> {
  const transport = new SSEClientTransport(new URL("/sse", url), {
    eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...auth(token) } }) },
    requestInit: { headers: auth(token) },
  });
  const client = makeClient(setup);
  await client.connect(transport);
  return { client, transport };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/**
 * One HTTP request over node:http (any header allowed, Host included); the body may be a string or bytes.
 * `localAddress` picks the client's source address (e.g. 127.0.0.2: all of 127/8 is loopback on Linux).
 */
export function raw(url: string, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {}): Promise<RawResponse> {
  const target = new URL(opts.path ?? "/mcp", url);
  return new Promise((resolve, reject) => {
    const req = request(target, { method: opts.method ?? "POST", headers: opts.headers, agent: false, localAddress: opts.localAddress }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Headers of a well-formed Streamable HTTP POST. */
export function mcpHeaders(token?: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    ...(token ? auth(token) : {}),
    ...extra,
  };
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});

export async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Rejects if the promise has not settled in time, so a hang fails fast instead of at the test timeout. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
