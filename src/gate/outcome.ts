// What the gate tells the agent, and the log, when it did not send a spend. The sentence is for the
// agent (and the person it relays to): plain words, never a code in parentheses. The outcome and reason
// go into the result's _meta, where the per-call log line reads them; both are fixed words chosen here,
// never anything taken from the call's arguments.
import type { CallToolResult } from "@modelcontextprotocol/server";
import { toolError, META_GATE_OUTCOME, META_GATE_REASON } from "../tools/results.js";

export type GateOutcome = "declined" | "cancelled" | "expired" | "refused" | "pending" | "busy";

/** An error result for a spend the gate did not send, tagged with why. */
export function notSent(text: string, outcome: GateOutcome, reason: string, meta: Record<string, unknown> = {}): CallToolResult {
  return toolError(text, { ...meta, [META_GATE_OUTCOME]: outcome, [META_GATE_REASON]: reason });
}

/** The short code of a cap refusal (the refusal text itself names credits, which come from the arguments). */
export function capReason(over: string): string {
  if (/did not say how many credits/.test(over)) return "credits_unknown";
  if (/per day/.test(over)) return "cap_per_day";
  if (/per call/.test(over)) return "cap_per_call";
  return "cap";
}

/**
 * The sentence for an answer that was not a yes: a form's (declined, cancelled, no, timeout, failed) or a
 * page's (declined, cancelled, expired, used). Each ends in "nothing was charged."
 */
export function refusalSentence(answer: string, waitMs: number): string {
  switch (answer) {
    case "declined":
      return "The person declined; nothing was charged.";
    case "cancelled":
      return "The person cancelled the confirmation; nothing was charged.";
    case "no":
      return "The person did not confirm the charge (the form came back without its box ticked); nothing was charged.";
    case "timeout":
      return `Nobody answered the confirmation within ${Math.ceil(waitMs / 1000)} s; nothing was charged.`;
    case "expired":
      return "The confirmation expired before anyone confirmed it; nothing was charged.";
    case "used":
      return "This confirmation was already used by another call; nothing was charged by this call.";
    default:
      return "The client could not show the confirmation; nothing was charged.";
  }
}
