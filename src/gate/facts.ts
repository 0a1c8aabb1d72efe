// What the person is shown before saying yes: the operation in words, the credits, what the API itself
// says about the charge (a read run first, e.g. the approval being approved), and every argument.
// The server's own lines come first, at fixed places. Everything the agent or the API sent is data:
// one line each, shown through quote.ts (agent values always inside “…”), so no argument can add a line,
// imitate one of ours, or hide the figures; and it is redacted, so a credential in a value is never shown.
import type { CallToolResult } from "@modelcontextprotocol/server";
import type { ToolRecord } from "../tools/record.js";
import type { ConfirmationView } from "../store/types.js";
import { redactValue } from "../redact.js";
import { oneLine, quoted } from "./quote.js";

export interface SpendFactsResult {
  view: ConfirmationView;
  /** Credits this spend moves, when the arguments or the API say so. */
  credits: number | undefined;
}

const MAX_PREVIEW_FACTS = 14;

/** Words for the API fields a person deciding about money cares about; any other field is shown by its quoted name. */
// In the order they are shown: the money first.
const LABELS: Record<string, string> = {
  amount_aud: "Amount charged (AUD)",
  "current_period.estimated_charge_aud": "Estimated charge (AUD)",
  credits: "Credits",
  organization_id: "Organization",
  organization_name: "Organization name",
  balance_credits: "Current balance (credits)",
  status: "Status",
  expires_at: "Expires",
  "plan.name": "Plan",
  "plan.monthly_price_aud": "Plan price per month (AUD)",
  "current_period.period": "Billing period",
  "current_period.credits_used": "Credits used this period",
};
const ORDER = Object.keys(LABELS);
const rank = (k: string) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
/** A row with an empty value is a heading, on the page and in the form's text. */
export const API_HEADING = "What the billing API says";
/** The heading above the arguments, each shown quoted, as the agent sent it. */
export const ARGS_HEADING = "What the assistant sent (quoted)";
/** Fields that say nothing about the charge. */
const SKIP = new Set(["as_of", "currency", "id", "requested_at", "plan.id", "current_period.start", "current_period.end"]);

/** An API value: a string is quoted data; a number or boolean is shown as it is (it cannot hold text). */
const showApiValue = (v: unknown, secrets: readonly string[]) => (typeof v === "string" ? quoted(v, secrets) : oneLine(v, secrets));

/** A field we have no words for: its name is the API's, so it is shown quoted too. */
const unknownField = (key: string, secrets: readonly string[]) => `Field ${quoted(key, secrets, 80)}`;

/** Scalars of the API's answer, one level of nesting flattened (the monthly estimate sits in current_period). */
function previewFacts(preview: Record<string, unknown>, secrets: readonly string[]): Array<[string, string]> {
  const flat: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(preview)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) flat.push([`${k}.${k2}`, v2]);
    else flat.push([k, v]);
  }
  return flat
    .filter(([k, v]) => v !== null && typeof v !== "object" && !SKIP.has(k))
    .sort(([a], [b]) => rank(a) - rank(b))
    .slice(0, MAX_PREVIEW_FACTS)
    .map(([k, v]) => [Object.hasOwn(LABELS, k) ? LABELS[k]! : unknownField(k, secrets), showApiValue(v, secrets)]);
}

/**
 * Builds the view from the arguments and the preview read's answer (undefined when there is none).
 * `secrets` (the caller's credential) are redacted wherever they appear, as are credential-shaped values.
 */
export function spendFacts(record: ToolRecord, args: Record<string, unknown>, preview: Record<string, unknown> | undefined, secrets: readonly string[] = []): SpendFactsResult {
  const spend = record.spend!;
  const credits = spend.credits?.(args) ?? (preview ? spend.previewCredits?.(preview) : undefined);
  const facts: Array<[string, string]> = [["Operation", `${record.title} (${record.operationId})`]];
  // A number by construction (a validated argument or typeof-checked API field); oneLine all the same.
  if (credits !== undefined) facts.push(["Credits", oneLine(credits)]);
  if (preview) facts.push([API_HEADING, ""], ...previewFacts(preview, secrets));
  // Every argument, quoted, except credits when the line above already says it. Keys are the schema's.
  const shownArgs = redactValue(args, secrets);
  const argFacts = Object.entries(shownArgs)
    .filter(([k, v]) => !(k === "credits" && v === credits))
    .map(([k, v]): [string, string] => [`Argument ${oneLine(k, secrets, 80)}`, quoted(v, secrets)]);
  if (argFacts.length) facts.push([ARGS_HEADING, ""], ...argFacts);
  return { view: { summary: spend.summarize(shownArgs), facts }, credits };
}

/** The view with one more line of the server's own, among the server's lines (before the first heading). */
export function withServerFact(view: ConfirmationView, fact: readonly [string, string]): ConfirmationView {
  const at = view.facts.findIndex(([, v]) => v === "");
  const facts = [...view.facts];
  facts.splice(at < 0 ? facts.length : at, 0, fact);
  return { summary: view.summary, facts };
}

/** The message of a form question: the same facts as the page, as plain text. */
export function factsAsText(view: ConfirmationView): string {
  return [`Confirm a charge: ${view.summary}.`, ...view.facts.map(([k, v]) => (v === "" ? `${k}:` : `${k}: ${v}`)), "Nothing is charged unless you confirm."].join("\n");
}

export function previewObject(result: CallToolResult): Record<string, unknown> | undefined {
  return result.isError ? undefined : (result.structuredContent as Record<string, unknown> | undefined);
}
