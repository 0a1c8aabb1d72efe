// Catalog records → MCP tools. Schemas, hints and our side-effect label are derived, never written twice.
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolRecord } from "./record.js";
import type { Caller } from "./caller.js";
import type { Invoke } from "./invoke.js";
import { annotationsFor, metaFor } from "./annotations.js";
import { toolList } from "./list.js";
import { withProgress, PROGRESS_INTERVAL_MS } from "./progress.js";

/**
 * Registers `records` (all of them, or only the one tool a request calls: `only`) and answers tools/list
 * with the compact listing of all of them.
 */
export function registerTools(
  server: McpServer,
  records: readonly ToolRecord[],
  invoke: Invoke,
  callerOf: (extra: Parameters<Invoke>[2]["extra"]) => Caller,
  progressIntervalMs = PROGRESS_INTERVAL_MS,
  card = true,
  only?: string,
): void {
  for (const record of records) {
    if (only !== undefined && record.name !== only) continue;
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
