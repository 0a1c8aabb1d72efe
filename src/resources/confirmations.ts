// A pending page confirmation by id, as the server recorded it: tool, summary, credits, the facts the
// person is shown, state and expiry. Only the caller that created it can read it; to anyone else it does
// not exist (the same "not found" as an unknown id, so ids cannot be probed). Never the form token: the
// page stays the only place where a person decides, and nothing read here could confirm anything.
import { ResourceTemplate } from "@modelcontextprotocol/server";
import type { McpServer, ReadResourceResult } from "@modelcontextprotocol/server";
import type { Confirmation } from "../store/types.js";
import type { ContextDeps } from "./deps.js";
import { notFound, variable } from "./read.js";

export const CONFIRMATION_TEMPLATE = "geopera://confirmations/{id}";

/** The record as shown: built field by field from the stored values, so the token cannot slip in. */
export function confirmationView(c: Confirmation): Record<string, unknown> {
  return {
    id: c.id,
    tool: c.tool,
    summary: c.view.summary,
    credits: c.credits ?? null,
    facts: c.view.facts.map(([label, value]) => ({ label, value })),
    state: c.state,
    created_at: new Date(c.createdAt).toISOString(),
    expires_at: new Date(c.expiresAt).toISOString(),
  };
}

export function registerConfirmationResource(server: McpServer, deps: ContextDeps): string {
  server.registerResource(
    "confirmation",
    // Not listable: the store has no per-caller listing, and a confirmation's id is in the result that asked for it.
    new ResourceTemplate(CONFIRMATION_TEMPLATE, { list: undefined }),
    {
      title: "Spend confirmation",
      description: "A spend waiting for a person's confirmation (by the id in its link): what it does, credits, what the person is shown, its state and expiry. Read-only.",
      mimeType: "application/json",
    },
    async (uri, vars, ctx): Promise<ReadResourceResult> => {
      const id = variable(vars.id);
      const caller = deps.callerOf(ctx);
      const c = id ? await deps.store.getConfirmation(id) : undefined;
      if (!c || c.caller !== caller.fingerprint) {
        deps.forward.log.info("resource read", { resource: "confirmation", outcome: "not_found", caller: caller.fingerprint });
        throw notFound(uri.href);
      }
      deps.forward.log.info("resource read", { resource: "confirmation", outcome: "ok", state: c.state, caller: caller.fingerprint });
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(confirmationView(c), null, 2) }] };
    },
  );
  return CONFIRMATION_TEMPLATE;
}
