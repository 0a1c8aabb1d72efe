// What the person is shown before saying yes: the operation in words, the credits, every argument,
// and what the API itself says about the charge (a read run first, e.g. the approval being approved).
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ToolRecord } from "../tools/record.js";
import type { ConfirmationView } from "../store/types.js";

export interface SpendFactsResult {
  view: ConfirmationView;
  /** Credits this spend moves, when the arguments or the API say so. */
  credits: number | undefined;
}

const MAX_PREVIEW_FACTS = 14;

/** Words for the API fields a person deciding about money cares about; others are humanised. */
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
/** Fields that say nothing about the charge. */
const SKIP = new Set(["as_of", "currency", "id", "requested_at", "plan.id", "current_period.start", "current_period.end"]);

function show(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

const humanise = (key: string) => key.replace(/[._]/g, " ").replace(/^./, (c) => c.toUpperCase());

/** Scalars of the API's answer, one level of nesting flattened (the monthly estimate sits in current_period). */
function previewFacts(preview: Record<string, unknown>): Array<[string, string]> {
  const flat: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(preview)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) flat.push([`${k}.${k2}`, v2]);
    else flat.push([k, v]);
  }
  return flat
    .filter(([k, v]) => v !== null && typeof v !== "object" && !SKIP.has(k))
    .sort(([a], [b]) => rank(a) - rank(b))
    .slice(0, MAX_PREVIEW_FACTS)
    .map(([k, v]) => [LABELS[k] ?? humanise(k), show(v)]);
}

/** Builds the view from the arguments and the preview read's answer (undefined when there is none). */
export function spendFacts(record: ToolRecord, args: Record<string, unknown>, preview: Record<string, unknown> | undefined): SpendFactsResult {
  const spend = record.spend!;
  const credits = spend.credits?.(args) ?? (preview ? spend.previewCredits?.(preview) : undefined);
  const facts: Array<[string, string]> = [["Operation", `${record.title} (${record.operationId})`]];
  if (credits !== undefined) facts.push(["Credits", String(credits)]);
  // Every argument, except credits when the line above already says it.
  for (const [k, v] of Object.entries(args)) if (!(k === "credits" && v === credits)) facts.push([`Argument ${k}`, show(v)]);
  if (preview) facts.push([API_HEADING, ""], ...previewFacts(preview));
  return { view: { summary: spend.summarize(args), facts }, credits };
}

/** The message of a form question: the same facts as the page, as plain text. */
export function factsAsText(view: ConfirmationView): string {
  return [`Confirm a charge: ${view.summary}.`, ...view.facts.map(([k, v]) => (v === "" ? `${k}:` : `${k}: ${v}`)), "Nothing is charged unless you confirm."].join("\n");
}

export function previewObject(result: CallToolResult): Record<string, unknown> | undefined {
  return result.isError ? undefined : (result.structuredContent as Record<string, unknown> | undefined);
}
