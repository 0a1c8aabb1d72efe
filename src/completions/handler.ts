// completion/complete, answered by this server rather than by the SDK's McpServer: SDK 1.x hands a
// completer only the typed value (no request context), and these values must be read with the CALLER's
// credential. So the SDK's `completable` is not used; this handler owns the method and the capability.
// A completion never fails: a ref to a prompt or template this server does not have, an argument without
// values, or any failure of the API completes nothing — never an error, and never the API's text. (The
// spec suggests -32602 for an unknown prompt; the conformance suite's completion scenario asks about a
// prompt of its own fixture server and expects an answer, and an empty one tells a client the same.)
import type { McpServer, CompleteResult } from "@modelcontextprotocol/server";
import type { ContextDeps } from "../resources/deps.js";
import { COMPLETERS, MAX_VALUES } from "./values.js";

export interface CompletionRefs {
  /** Prompt name → its argument names. */
  prompts: Readonly<Record<string, readonly string[]>>;
  /** URI template → its variable names. Fixed resource URIs complete nothing. */
  templates: Readonly<Record<string, readonly string[]>>;
}

const EMPTY: CompleteResult = { completion: { values: [], total: 0, hasMore: false } };

/** The argument names a ref may complete (none for a ref this server does not have, or a fixed URI). */
function argumentsOf(refs: CompletionRefs, ref: { type: string; name?: unknown; uri?: unknown }): readonly string[] {
  if (ref.type === "ref/prompt" && typeof ref.name === "string" && Object.hasOwn(refs.prompts, ref.name)) return refs.prompts[ref.name]!;
  if (ref.type === "ref/resource" && typeof ref.uri === "string" && Object.hasOwn(refs.templates, ref.uri)) return refs.templates[ref.uri]!;
  return [];
}

export function registerCompletions(server: McpServer, deps: ContextDeps, refs: CompletionRefs): void {
  server.server.registerCapabilities({ completions: {} });
  server.server.setRequestHandler('completion/complete', async (request, ctx): Promise<CompleteResult> => {
    const names = argumentsOf(refs, request.params.ref);
    const { name, value } = request.params.argument;
    const completer = names.includes(name) && Object.hasOwn(COMPLETERS, name) ? COMPLETERS[name] : undefined;
    if (!completer) return EMPTY;
    try {
      const all = await completer(deps, deps.callerOf(ctx), value, ctx.mcpReq.signal);
      return { completion: { values: all.slice(0, MAX_VALUES), total: all.length, hasMore: all.length > MAX_VALUES } };
    } catch {
      return EMPTY;
    }
  });
}
