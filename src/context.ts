// Beyond tools: resources, prompts and completions on one MCP server instance, from the same core the
// tools use (src/resources/deps.ts). Completion refs are what was actually registered.
import type { McpServer } from "@modelcontextprotocol/server";
import type { ContextDeps } from "./resources/deps.js";
import { registerResources } from "./resources/register.js";
import { registerPrompts, PROMPT_ARGUMENTS } from "./prompts/register.js";
import { registerCompletions } from "./completions/handler.js";

export function registerContext(server: McpServer, deps: ContextDeps): void {
  const resources = registerResources(server, deps);
  const prompts = Object.fromEntries(registerPrompts(server, deps).map((name) => [name, PROMPT_ARGUMENTS[name]!]));
  registerCompletions(server, deps, { prompts, templates: resources.templates });
}
