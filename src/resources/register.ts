// Every resource of this server, registered on one MCP server instance (one per stdio process or HTTP session).
import type { McpServer } from "@modelcontextprotocol/server";
import type { ContextDeps } from "./deps.js";
import { registerBillingResources, type Registered } from "./billing.js";
import { registerConfirmationResource } from "./confirmations.js";

export function registerResources(server: McpServer, deps: ContextDeps): Registered {
  const done = registerBillingResources(server, deps);
  done.templates[registerConfirmationResource(server, deps)] = ["id"];
  return done;
}
