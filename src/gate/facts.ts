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

const MAX_PREVIEW_FACTS = 12;

function show(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Builds the view from the arguments and the preview read's answer (undefined when there is none). */
export function spendFacts(record: ToolRecord, args: Record<string, unknown>, preview: Record<string, unknown> | undefined): SpendFactsResult {
  const spend = record.spend!;
  const credits = spend.credits?.(args) ?? (preview ? spend.previewCredits?.(preview) : undefined);
  const facts: Array<[string, string]> = [["Operation", `${record.title} (${record.operationId})`]];
  if (credits !== undefined) facts.push(["Credits", String(credits)]);
  for (const [k, v] of Object.entries(args)) facts.push([`Argument ${k}`, show(v)]);
  if (preview) {
    const scalars = Object.entries(preview).filter(([, v]) => v === null || typeof v !== "object");
    for (const [k, v] of scalars.slice(0, MAX_PREVIEW_FACTS)) facts.push([`API: ${k}`, show(v)]);
  }
  return { view: { summary: spend.summarize(args), facts }, credits };
}

/** The message of a form question: the same facts as the page, as plain text. */
export function factsAsText(view: ConfirmationView): string {
  return [`Confirm a charge: ${view.summary}.`, ...view.facts.map(([k, v]) => `${k}: ${v}`), "Nothing is charged unless you confirm."].join("\n");
}

export function previewObject(result: CallToolResult): Record<string, unknown> | undefined {
  return result.isError ? undefined : (result.structuredContent as Record<string, unknown> | undefined);
}
