// One read operation as a resource: the caller's credential, through `forward` (the tools' own path),
// and the answer's structured value as JSON. A failed read becomes a protocol error carrying the tool's
// own (already redacted) message; a tool the operator did not expose is not there at all.
import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError } from "@modelcontextprotocol/server";
import type { ReadResourceResult, CallToolResult } from "@modelcontextprotocol/server";
import { forward } from "../tools/invoke.js";
import { recordByOperation } from "../tools/catalog.js";
import { META_STATUS } from "../tools/results.js";
import type { Caller } from "../tools/caller.js";
import type { ContextDeps } from "./deps.js";

/** "Resource not found": the SDK's own error (-32602 with the uri in data, on both protocol eras). */
export const notFound = (uri: string) => new ResourceNotFoundError(uri, `Resource ${uri} not found`);

/** The text of a tool result, text blocks joined. */
export const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === "text" ? c.text : "")).join(" ").trim();

/** Runs one read operation for this caller; undefined when its tool is not exposed on this server. */
export async function readOperation(deps: ContextDeps, operationId: string, args: Record<string, unknown>, caller: Caller, signal?: AbortSignal): Promise<CallToolResult | undefined> {
  const record = recordByOperation(operationId);
  if (!record || record.sideEffect !== "read" || !deps.forward.isExposed(record.name)) return undefined;
  const result = await forward(deps.forward, record, args, caller, signal);
  const status = result._meta?.[META_STATUS];
  if (typeof status === "number") deps.answered?.(status);
  return result;
}

/** A resource read backed by one read operation. */
export async function operationResource(deps: ContextDeps, name: string, uri: string, operationId: string, args: Record<string, unknown>, caller: Caller, signal?: AbortSignal): Promise<ReadResourceResult> {
  const started = performance.now();
  const result = await readOperation(deps, operationId, args, caller, signal);
  if (!result) throw notFound(uri);
  const fields = { resource: name, operation: operationId, ms: Math.round(performance.now() - started), caller: caller.fingerprint };
  if (result.isError || result.structuredContent === undefined) {
    deps.forward.log.warn("resource read", { ...fields, outcome: "error" });
    throw new ProtocolError(ProtocolErrorCode.InternalError, textOf(result) || `Reading ${uri} failed.`);
  }
  deps.forward.log.info("resource read", { ...fields, outcome: "ok" });
  return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(result.structuredContent, null, 2) }] };
}

/** A template variable as its value: one decoded string (a list or an undecodable one is not an id). */
export function variable(value: string | string[] | undefined): string | undefined {
  if (typeof value !== "string") return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
