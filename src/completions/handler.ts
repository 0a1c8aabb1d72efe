// completion/complete, answered by this server rather than by the SDK's McpServer: SDK 1.x hands a
// completer only the typed value (no request context), and these values must be read with the CALLER's
// credential. So the SDK's `completable` is not used; this handler owns the method and the capability.
// Refs to an unknown prompt or template are refused as the SDK refuses them; a known argument without
// values, or any failure of the API, completes nothing — never an error carrying the API's text.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { CompleteRequestSchema, McpError, ErrorCode, type CompleteResult } from "@modelcontextprotocol/sdk/types.js";
import type { ContextDeps } from "../resources/deps.js";
import { COMPLETERS, MAX_VALUES } from "./values.js";

export interface CompletionRefs {
  /** Prompt name → its argument names. */
  prompts: Readonly<Record<string, readonly string[]>>;
  /** URI template → its variable names. Fixed resource URIs complete nothing. */
  templates: Readonly<Record<string, readonly string[]>>;
  fixedUris: readonly string[];
}

const EMPTY: CompleteResult = { completion: { values: [], total: 0, hasMore: false } };

/** The argument names a ref may complete; throws InvalidParams for a ref this server does not have. */
function argumentsOf(refs: CompletionRefs, ref: { type: string; name?: unknown; uri?: unknown }): readonly string[] {
  if (ref.type === "ref/prompt" && typeof ref.name === "string") {
    const args = Object.hasOwn(refs.prompts, ref.name) ? refs.prompts[ref.name] : undefined;
    if (args) return args;
    throw new McpError(ErrorCode.InvalidParams, "No such prompt.");
  }
  if (ref.type === "ref/resource" && typeof ref.uri === "string") {
    const vars = Object.hasOwn(refs.templates, ref.uri) ? refs.templates[ref.uri] : undefined;
    if (vars) return vars;
    if (refs.fixedUris.includes(ref.uri)) return [];
    throw new McpError(ErrorCode.InvalidParams, "No such resource template.");
  }
  throw new McpError(ErrorCode.InvalidParams, "Invalid completion reference.");
}

export function registerCompletions(server: McpServer, deps: ContextDeps, refs: CompletionRefs): void {
  server.server.registerCapabilities({ completions: {} });
  server.server.setRequestHandler(CompleteRequestSchema, async (request, extra): Promise<CompleteResult> => {
    const names = argumentsOf(refs, request.params.ref);
    const { name, value } = request.params.argument;
    const completer = names.includes(name) && Object.hasOwn(COMPLETERS, name) ? COMPLETERS[name] : undefined;
    if (!completer) return EMPTY;
    try {
      const all = await completer(deps, deps.callerOf(extra), value, extra.signal);
      return { completion: { values: all.slice(0, MAX_VALUES), total: all.length, hasMore: all.length > MAX_VALUES } };
    } catch {
      return EMPTY;
    }
  });
}
