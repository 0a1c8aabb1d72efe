// stdio: one server for the process. stdout is the protocol; when the client closes stdin we exit.
// stdin goes through a line guard first (size cap, malformed JSON-RPC answered; see stdioLimit.ts), so the
// SDK's transport only ever sees one valid message per line.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Logger } from "../log.js";
import { JsonRpcLineGuard, DEFAULT_MAX_LINE_BYTES } from "./stdioLimit.js";

export interface StdioOptions {
  /** Largest incoming message (one line), in bytes. Default 1 MB, as config.maxRequestBytes. */
  maxRequestBytes?: number;
  log?: Logger;
}

export async function serveStdio(server: McpServer, onClose: () => Promise<void>, opts: StdioOptions = {}): Promise<void> {
  const guard = new JsonRpcLineGuard({
    maxLineBytes: opts.maxRequestBytes ?? DEFAULT_MAX_LINE_BYTES,
    reply: (message) => void process.stdout.write(JSON.stringify(message) + "\n"),
    onReject: (kind, bytes) => opts.log?.warn("stdio message rejected", { kind, bytes }),
  });
  process.stdin.pipe(guard);
  const transport = new StdioServerTransport(guard, process.stdout);
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await server.close().catch(() => {});
    await onClose();
  };
  process.stdin.on("end", () => void close());
  process.stdin.on("close", () => void close());
  transport.onclose = () => void close();
  await server.connect(transport);
}
