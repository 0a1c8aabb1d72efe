// A call the API accepted (HTTP 2xx) whose answer could not be read — bad JSON, an empty body, a stream cut
// part-way, a file too big to pass on. The API did act, so this is reported as done, never as a failure:
// an agent told "failed" would repeat a change, or a charge, that already happened. The result carries
// structuredContent because the SDK rejects a successful result without it when the tool has an outputSchema.
import type { CallToolResult } from "@modelcontextprotocol/server";
import { META_ERROR, META_STATUS } from "./results.js";

export const isSuccessStatus = (status: number): boolean => status >= 200 && status < 300;

export interface Accepted {
  /** The paragraphs of the result, in order (a spend ends with its "Charged once" line). */
  lines: string[];
  status: number;
  /** Why the answer could not be read, in plain words (already free of secrets). */
  why: string;
  /** Short kind for logs (bad_json, stream_cut, file_too_large, …). */
  kind: string;
  /** Extra structured fields (a spend's Idempotency-Key). */
  fields?: Record<string, unknown>;
}

export function acceptedUnreadable(a: Accepted): CallToolResult {
  return {
    content: a.lines.map((text) => ({ type: "text" as const, text })),
    structuredContent: { accepted: true, upstream_status: a.status, unreadable_answer: a.why, ...a.fields },
    _meta: { [META_STATUS]: a.status, [META_ERROR]: a.kind },
  };
}

/**
 * The only 2xx answer shapeAnswer turns into an error. Its own text says to fetch the file from the API
 * with the same arguments, which for a call that changes state would repeat it, so it is not quoted.
 */
export const FILE_TOO_LARGE = "it is a file larger than this server passes to an agent";
