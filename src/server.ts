// createServer: one MCP server instance (one per stdio process, one per HTTP session) wired to the
// shared core. It knows nothing about transports.
import { McpServer } from "@modelcontextprotocol/server";
import type { ToolRecord } from "./tools/record.js";
import type { Caller } from "./tools/caller.js";
import type { Invoke, Extra } from "./tools/invoke.js";
import { registerTools } from "./tools/register.js";
import type { ContextDeps } from "./resources/deps.js";
import { registerContext } from "./context.js";
import { registerCardResource } from "./card/resource.js";

export const SERVER_NAME = "geopera-billing-mcp";
export const SERVER_VERSION = "0.1.0";

export interface ServerDeps {
  tools: readonly ToolRecord[];
  invoke: Invoke;
  /** Resolves the caller of a request: fixed in stdio mode, per session over HTTP. */
  callerOf(extra: Extra): Caller;
  /** Heartbeat of a pending tool call to a caller that asked for progress (default 4 s). */
  progressIntervalMs?: number;
  /** Resources, prompts and completions (src/context.ts): the tools' upstream path and the gate's store. */
  context?: Omit<ContextDeps, "callerOf">;
  /**
   * The confirmation card (MCP Apps, src/card): spend tools declare it and its ui:// resource is served.
   * Default on; off with --confirm-via form, where no page exists for it to open.
   */
  card?: boolean;
}

/**
 * The one request a server is built for, when it serves only one (2026-07-28 over HTTP: one server per
 * request). The request names its method and tool in the Mcp-Method and Mcp-Name headers, which the SDK
 * checks against the body before the server sees it; a tools/call then needs only that tool registered,
 * which keeps the per-request cost of building a server off the hot path.
 */
export interface RequestScope {
  method?: string;
  name?: string;
}

export function createServer(deps: ServerDeps, scope?: RequestScope): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      instructions:
        "Geopera billing. Reads are safe. Spending tools (billing_topup, billing_approvals_approve, billing_run_monthly_for_org) charge a card and only go through after a person confirms; if none can confirm now, draft a purchase with billing_approvals_request instead.",
      // Declared, so tools/call of a tool that is not registered answers "not found" either way.
      capabilities: { tools: {} },
    },
  );
  const card = deps.card ?? true;
  const oneCall = scope?.method === "tools/call" && scope.name !== undefined;
  registerTools(server, deps.tools, deps.invoke, deps.callerOf, deps.progressIntervalMs, card, oneCall ? scope.name : undefined);
  if (oneCall) return server;
  if (deps.context) registerContext(server, { ...deps.context, callerOf: deps.callerOf });
  if (card && deps.tools.some((t) => t.sideEffect === "spend")) registerCardResource(server);
  return server;
}
