// Every prompt of this server, and which of their arguments can be completed (src/completions).
import type { McpServer } from "@modelcontextprotocol/server";
import type { ContextDeps } from "../resources/deps.js";
import { registerReviewSpend, REVIEW_SPEND } from "./reviewSpend.js";
import { registerRequestCredits, REQUEST_CREDITS } from "./requestCredits.js";

/** Prompt name → its argument names (completion requests for anything else complete nothing). */
export const PROMPT_ARGUMENTS: Readonly<Record<string, readonly string[]>> = {
  [REVIEW_SPEND]: ["organization_id"],
  [REQUEST_CREDITS]: ["credits", "purpose"],
};

/** A prompt is offered only when the tool it is built around is exposed (--read-only has no drafting). */
export function registerPrompts(server: McpServer, deps: ContextDeps): string[] {
  const offered: string[] = [];
  if (deps.forward.isExposed("billing_credits_transactions")) {
    registerReviewSpend(server, deps);
    offered.push(REVIEW_SPEND);
  }
  if (deps.forward.isExposed("billing_approvals_request")) {
    registerRequestCredits(server, deps);
    offered.push(REQUEST_CREDITS);
  }
  return offered;
}
