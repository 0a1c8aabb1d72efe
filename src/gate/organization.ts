// Which organization a spend is charged to, for the per-organization daily cap (src/gate/caps.ts).
//  - A spend whose arguments name the organization it charges (a monthly run's organization_id) counts
//    against that organization: it is the one billed, whoever asks.
//  - Any other spend charges the organization the credential acts for, and only the API knows which that
//    is: the balance read names it (organization_id). A top-up already runs that read as its preview, so
//    its answer is reused; an approval's preview (the approval) need not name it, so the balance is read.
// Nothing is cached: a spend is rare, and a stale answer would let a token that moved organizations spend
// against the wrong budget. The value is the API's (or the arguments') data: only a plain, printable id is
// taken; anything else counts as "not named", which with a daily cap set refuses the spend.
import type { InvokeDeps } from "../tools/invoke.js";
import { forward } from "../tools/invoke.js";
import type { Caller } from "../tools/caller.js";
import type { ToolRecord } from "../tools/record.js";
import { recordByOperation } from "../tools/catalog.js";
import { redact, REDACTED } from "../redact.js";
import { previewObject } from "./facts.js";

export const BALANCE_OPERATION = "billing.credits.balance";

/** The organization, or why it could not be learned. */
export type OrganizationLookup = { id: string } | { unknown: string };

/** No whitespace, control, format, unassigned or lone-surrogate characters (one token, as ids are). */
const PLAIN_ID = /^[^\p{C}\p{Z}\s]{1,200}$/u;

/** The value as an organization id, or undefined when it is not one we can count under. */
export function usableOrganizationId(v: unknown): string | undefined {
  if (typeof v !== "string" || !PLAIN_ID.test(v)) return undefined;
  // A credential-shaped or already-redacted id is not stored, and would not tell organizations apart.
  if (v.includes(REDACTED) || redact(v) !== v) return undefined;
  return v;
}

/** The organization a balance answer names. */
export function organizationInBalance(answer: Record<string, unknown>): OrganizationLookup {
  const id = usableOrganizationId(answer.organization_id);
  return id !== undefined ? { id } : { unknown: "the billing_credits_balance answer names no usable organization_id" };
}

const brief = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text);

/**
 * The organization this spend is charged to. `preview` is the answer the gate already read for the
 * person (reused when it is the balance); `read: false` forbids a balance read of its own (no daily cap
 * applies, so the organization is only recorded when it is known for free).
 */
export async function chargedOrganization(
  deps: Omit<InvokeDeps, "gate">,
  record: ToolRecord,
  args: Record<string, unknown>,
  caller: Caller,
  opts: { preview?: Record<string, unknown>; read: boolean; signal?: AbortSignal },
): Promise<OrganizationLookup> {
  const spend = record.spend;
  if (spend?.chargedOrganization) {
    const id = usableOrganizationId(spend.chargedOrganization(args));
    return id !== undefined ? { id } : { unknown: "the organization named in the arguments is not a usable organization id" };
  }
  if (opts.preview && spend?.preview?.operationId === BALANCE_OPERATION) return organizationInBalance(opts.preview);
  if (!opts.read) return { unknown: "not read (no daily cap applies)" };
  const balance = recordByOperation(BALANCE_OPERATION)!;
  const result = await forward(deps, balance, {}, caller, opts.signal);
  const answer = previewObject(result);
  if (!answer) {
    const why = result.content.map((c) => (c.type === "text" ? c.text : "")).join(" ");
    return { unknown: `${balance.name} failed: ${brief(why)}` };
  }
  return organizationInBalance(answer);
}
