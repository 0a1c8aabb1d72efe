// stdio: one server for the process. stdout is the protocol; when the client closes stdin we exit.
// stdin goes through a line guard first (size cap, malformed JSON-RPC answered; see stdioLimit.ts), so the
// server only ever sees valid messages, one per line. The guard hands each message over already parsed
// and validated (GuardedStdioTransport below), where the SDK's StdioServerTransport would parse the line
// a second time; everything else is what that transport does.
import type { Readable, Writable } from "node:stream";
import type { McpServer, Transport, JSONRPCMessage } from "@modelcontextprotocol/server";
import { serveStdio as serveStdioEntry } from "@modelcontextprotocol/server/stdio";
import type { Logger } from "../log.js";
import { JsonRpcLineGuard, DEFAULT_MAX_LINE_BYTES, type LineGuardOptions } from "./stdioLimit.js";

export interface StdioOptions {
  /** Largest incoming message (one line), in bytes. Default 1 MB, as config.maxRequestBytes. */
  maxRequestBytes?: number;
  log?: Logger;
  /** Serve 2025-era clients only (--protocol-eras 2025): one server on the wire, no era negotiation. */
  only2025?: boolean;
}

/** The SDK's StdioServerTransport with the line guard as its reader: one parse per message. */
export class GuardedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly guard: JsonRpcLineGuard;
  private started = false;

  constructor(
    private readonly stdin: Readable,
    private readonly stdout: Writable,
    guard: Omit<LineGuardOptions, "onMessage" | "reply">,
  ) {
    this.guard = new JsonRpcLineGuard({
      ...guard,
      // The guard's own answers (oversize, malformed) go out through the same writer as every message.
      reply: (message) => void this.send(message as JSONRPCMessage),
      onMessage: (message) => {
        try {
          this.onmessage?.(message);
        } catch (err) {
          this.onerror?.(err as Error);
        }
      },
    });
  }

  private readonly onData = (chunk: Buffer | string) => {
    try {
      this.guard.feed(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    } catch (err) {
      this.onerror?.(err as Error);
      this.close().catch(() => {});
    }
  };

  private readonly onStdinError = (err: Error) => this.onerror?.(err);

  async start(): Promise<void> {
    if (this.started) throw new Error("GuardedStdioTransport already started");
    this.started = true;
    this.stdin.on("data", this.onData);
    this.stdin.on("error", this.onStdinError);
  }

  async close(): Promise<void> {
    this.stdin.off("data", this.onData);
    this.stdin.off("error", this.onStdinError);
    if (this.stdin.listenerCount("data") === 0) this.stdin.pause();
    this.guard.discardPartial();
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.stdout.write(JSON.stringify(message) + "\n")) return Promise.resolve();
    return new Promise((resolve) => this.stdout.once("drain", resolve));
  }
}

/**
 * Serves stdin/stdout. Both eras (default) through the SDK's serveStdio: the opening exchange picks the era
 * (a 2025 `initialize`, or a 2026-07-28 request carrying its version in `_meta`, after `server/discover` if
 * the client negotiates), and one server from `factory` is pinned to the connection for its lifetime.
 * 2025 only: the server on the wire directly, which answers `initialize` and nothing of 2026-07-28.
 */
export async function serveStdio(factory: () => McpServer, onClose: () => Promise<void>, opts: StdioOptions = {}): Promise<void> {
  const transport = new GuardedStdioTransport(process.stdin, process.stdout, {
    maxLineBytes: opts.maxRequestBytes ?? DEFAULT_MAX_LINE_BYTES,
    onReject: (kind, bytes) => opts.log?.warn("stdio message rejected", { kind, bytes }),
  });
  let stop: () => Promise<void>;
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await stop().catch(() => {});
    await onClose();
  };
  process.stdin.on("end", () => void close());
  process.stdin.on("close", () => void close());
  if (opts.only2025) {
    const server = factory();
    stop = () => server.close();
    transport.onclose = () => void close();
    await server.connect(transport);
    return;
  }
  const handle = serveStdioEntry(factory, { transport, onerror: (err) => opts.log?.debug("stdio serving error", { error: err.message }) });
  stop = () => handle.close();
}
