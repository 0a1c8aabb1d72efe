// Values a person can pick for an argument, read from the API with the caller's own credential through
// the tools' single upstream path. Any failure (API error, network, a tool not exposed, an odd answer)
// yields no values: a completion is a convenience and never a channel for error text.
import type { Caller } from "../tools/caller.js";
import type { ContextDeps } from "../resources/deps.js";
import { readOperation } from "../resources/read.js";

/** At most this many values per completion (the protocol allows 100; a picker needs far fewer). The handler cuts. */
export const MAX_VALUES = 20;

type Row = Record<string, unknown>;
const isRow = (v: unknown): v is Row => typeof v === "object" && v !== null && !Array.isArray(v);

/** The structured value of a successful read, or undefined. */
async function readValue(deps: ContextDeps, operationId: string, caller: Caller, signal?: AbortSignal): Promise<Row | undefined> {
  try {
    const result = await readOperation(deps, operationId, {}, caller, signal);
    if (!result || result.isError || !isRow(result.structuredContent)) return undefined;
    return result.structuredContent;
  } catch {
    return undefined;
  }
}

const startsWith = (prefix: string) => (id: string) => id.startsWith(prefix);

/** Approval ids from billing.approvals.list: pending ones first (the ones worth acting on), then the rest. */
export async function approvalIds(deps: ContextDeps, caller: Caller, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const value = await readValue(deps, "billing.approvals.list", caller, signal);
  const rows = Array.isArray(value?.rows) ? value.rows.filter(isRow) : [];
  const withId = rows.filter((r): r is Row & { id: string } => typeof r.id === "string" && r.id.length > 0);
  const pending = withId.filter((r) => r.status === "pending");
  const rest = withId.filter((r) => r.status !== "pending");
  const ids = [...new Set([...pending, ...rest].map((r) => r.id))];
  return ids.filter(startsWith(prefix));
}

/** The organization the caller's credential acts for, as billing.credits.balance names it. */
export async function organizationIds(deps: ContextDeps, caller: Caller, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const value = await readValue(deps, "billing.credits.balance", caller, signal);
  const id = value?.organization_id;
  return typeof id === "string" && id.length > 0 && id.startsWith(prefix) ? [id] : [];
}

export type Completer = (deps: ContextDeps, caller: Caller, prefix: string, signal?: AbortSignal) => Promise<string[]>;

/** Completable argument and template-variable names → where their values come from. */
export const COMPLETERS: Readonly<Record<string, Completer>> = {
  approval_id: approvalIds,
  organization_id: organizationIds,
};
