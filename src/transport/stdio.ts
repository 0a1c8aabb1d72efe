// stdio: one server for the process. stdout is the protocol; when the client closes stdin we exit.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";

export async function serveStdio(server: McpServer, onClose: () => Promise<void>): Promise<void> {
  const transport = new StdioServerTransport();
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
