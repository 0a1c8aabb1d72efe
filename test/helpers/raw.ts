// The built server as a child process spoken to in raw JSON-RPC lines: every byte of stdout is kept, so a
// test can send what no SDK client would (garbage, batches, NaN, 2 MB lines) and check the stream stays clean.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import { CLI, TEST_KEY, tempDir } from "./stdio.js";

export interface RawOptions {
  apiUrl: string;
  apiKey?: string;
  args?: string[];
  stateDir?: string;
  /** The client's capabilities in `initialize` (default none: no elicitation). */
  capabilities?: Record<string, unknown>;
}

export interface RpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  result?: Record<string, unknown> & { content?: Array<{ type: string; text?: string }>; isError?: boolean };
  error?: { code: number; message: string };
  method?: unknown;
  params?: unknown;
}

export interface RawServer {
  child: ChildProcessWithoutNullStreams;
  stateDir: string;
  /** Every stdout byte so far. */
  stdout(): string;
  stderr(): string;
  /** Parsed stdout messages, in order. */
  messages: RpcMessage[];
  /** stdout lines that were not JSON-RPC 2.0 messages (must stay empty). */
  badLines: string[];
  /** Writes text as-is, plus a newline unless `newline` is false. */
  send(text: string, newline?: boolean): void;
  /** Sends a request with a fresh numeric id and waits for its answer. */
  request(method: string, params?: unknown, timeoutMs?: number): Promise<RpcMessage>;
  /** Waits for the first message (already received or still to come) matching `pred`. */
  waitFor(pred: (m: RpcMessage) => boolean, timeoutMs?: number, from?: number): Promise<RpcMessage>;
  call(name: string, args: unknown): Promise<RpcMessage>;
  /** A tools/call whose `arguments` is given as raw JSON text (may be invalid JSON on purpose). */
  callRaw(name: string, argumentsJson: string): Promise<RpcMessage>;
  alive(): boolean;
  close(): Promise<number | null>;
}

export async function startRaw(opts: RawOptions): Promise<RawServer> {
  const stateDir = opts.stateDir ?? tempDir("gbm-raw-");
  const child = spawn(process.execPath, [CLI, "--state-dir", stateDir, ...(opts.args ?? [])], {
    env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: opts.apiUrl, GEOPERA_API_KEY: opts.apiKey ?? TEST_KEY },
  });
  let out = "";
  let err = "";
  let pending = "";
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => ((exited = true), resolve(code))));
  const messages: RpcMessage[] = [];
  const badLines: string[] = [];
  const waiters = new Set<() => void>();
  // Decoded across chunks: a UTF-8 character split between two reads is not turned into two U+FFFD.
  const outText = new StringDecoder("utf8");
  const errText = new StringDecoder("utf8");
  child.stderr.on("data", (d: Buffer) => (err += errText.write(d)));
  child.stdout.on("data", (d: Buffer) => {
    const s = outText.write(d);
    out += s;
    pending += s;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const m = JSON.parse(line) as RpcMessage;
        if (m === null || typeof m !== "object" || Array.isArray(m) || m.jsonrpc !== "2.0") throw new Error("not JSON-RPC 2.0");
        messages.push(m);
      } catch {
        badLines.push(line);
      }
    }
    for (const w of [...waiters]) w();
  });
  child.stdin.on("error", () => {});

  let nextId = 1;
  const server: RawServer = {
    child,
    stateDir,
    stdout: () => out,
    stderr: () => err,
    messages,
    badLines,
    send(text, newline = true) {
      child.stdin.write(newline ? text + "\n" : text);
    },
    waitFor(pred, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < messages.length; i++) {
            if (pred(messages[i]!)) {
              waiters.delete(check);
              clearTimeout(timer);
              resolve(messages[i]!);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching message within ${timeoutMs} ms; stderr:\n${err.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    request(method, params, timeoutMs) {
      const id = nextId++;
      const from = messages.length;
      server.send(JSON.stringify({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) }));
      return server.waitFor((m) => m.id === id && (m.result !== undefined || m.error !== undefined), timeoutMs, from);
    },
    call(name, args) {
      return server.request("tools/call", { name, arguments: args });
    },
    callRaw(name, argumentsJson) {
      const id = nextId++;
      const from = messages.length;
      server.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${argumentsJson}}}`);
      return server.waitFor((m) => m.id === id || (m.id === null && m.error !== undefined), 10_000, from);
    },
    alive: () => !exited && child.exitCode === null,
    async close() {
      if (!exited) child.stdin.end();
      const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
      const code = await exit;
      clearTimeout(t);
      return code;
    },
  };
  const init = await server.request("initialize", { protocolVersion: "2025-06-18", capabilities: opts.capabilities ?? {}, clientInfo: { name: "raw-test", version: "1" } });
  if (!init.result) throw new Error(`initialize failed: ${JSON.stringify(init)}`);
  server.send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  return server;
}

/** The text of a tools/call answer (result or JSON-RPC error). */
export function rawText(m: RpcMessage): string {
  if (m.error) return m.error.message;
  return (m.result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text ?? "").join("\n");
}
