// What one answer can hold, and what is asked of the API for it. A list result carries at most
// min(the agent's limit, --max-rows) rows; the API is asked for one row more where the operation takes
// `limit`, so "there is more" is known from that one extra row, never by reading (or counting) the rest.
// Streams are read only until the answer is full (results.ts), whether the API honoured the limit or not.
import type { ToolRecord } from "./record.js";

/** The operation takes `limit` (derived from its input schema, so the catalog says it once). */
export function takesLimit(record: ToolRecord): boolean {
  return "limit" in record.input.shape;
}

/** Rows one result may carry: the agent's own limit is honoured, and --max-rows bounds it. */
export function pageRows(args: Record<string, unknown>, maxRows: number): number {
  return typeof args.limit === "number" ? Math.min(args.limit, maxRows) : maxRows;
}

/** The arguments as sent upstream: where the operation takes `limit`, one page plus the one row that says "more". */
export function upstreamArgs(record: ToolRecord, args: Record<string, unknown>, maxRows: number): Record<string, unknown> {
  return takesLimit(record) ? { ...args, limit: pageRows(args, maxRows) + 1 } : args;
}
