// Small answers the listener writes itself (refusals, health). MCP endpoints answer in JSON-RPC error
// shape, as the SDK's own transports do, so clients surface the message.
import type { ServerResponse } from "node:http";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
  res.end(text);
}

/** JSON-RPC error codes used for HTTP-level refusals. */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  invalidParams: -32602,
  internalError: -32603,
  /** Implementation-defined server errors (-32000..-32099). */
  serverError: -32000,
  sessionNotFound: -32001,
} as const;

export function sendRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: string | number | null = null,
): void {
  sendJson(res, status, { jsonrpc: "2.0", error: { code, message }, id }, headers);
}
