// Catalog records → MCP tools. Schemas, hints and our side-effect label are derived, never written twice.
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolRecord } from "./record.js";
import type { Caller } from "./caller.js";
import type { Invoke } from "./invoke.js";
import { annotationsFor, metaFor } from "./annotations.js";
import { toolList } from "./list.js";
import { withProgress, PROGRESS_INTERVAL_MS } from "./progress.js";

export function registerTools(
  server: McpServer,
  records: readonly ToolRecord[],
  invoke: Invoke,
  callerOf: (extra: Parameters<Invoke>[2]["extra"]) => Caller,
  progressIntervalMs = PROGRESS_INTERVAL_MS,
  card = true,
): void {
  for (const record of records) {
    server.registerTool(
      record.name,
      {
        title: record.title,
        description: record.description,
        inputSchema: record.input,
        outputSchema: record.output,
        annotations: annotationsFor(record),
        _meta: metaFor(record, card),
      },
      (args: Record<string, unknown>, ctx) => withProgress(ctx, progressIntervalMs, () => invoke(record, args, { caller: callerOf(ctx), extra: ctx, server: server.server })),
    );
  }
  // Replaces the SDK's generated listing with the compact one built from the same records.
  const tools = toolList(records, card);
  server.server.setRequestHandler('tools/list', () => ({ tools }));
}
