// Turns an API answer into an agent-sized tool result: JSON → structuredContent, NDJSON → rows parsed
// as they arrive (bounded, never held whole), anything else → described, embedded only when small.
// Upstream errors keep the API's own words and the status, in plain language. Nothing here is trusted
// to be secret-free: every string that comes from the API is redacted.
import { StringDecoder } from "node:string_decoder";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { UpstreamResponse } from "../upstream/client.js";
import type { ToolRecord } from "./record.js";
import { redact } from "../redact.js";

export interface ShapeLimits {
  maxRows: number;
  maxJsonBytes: number;
  maxFileBytes: number;
  /** Secrets to hide verbatim (the caller's credential). */
  secrets: readonly string[];
}

const MAX_LINE_BYTES = 1024 * 1024;
const MAX_ERROR_BODY = 16 * 1024;

export class MalformedAnswer extends Error {}

export function toolError(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

function header(res: UpstreamResponse, name: string): string {
  const v = res.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

function mediaType(res: UpstreamResponse): string {
  return header(res, "content-type").split(";")[0]!.trim().toLowerCase();
}

const isJson = (t: string) => t === "application/json" || t.endsWith("+json");
const isNdjson = (t: string) => t === "application/x-ndjson" || t === "application/ndjson" || t === "application/jsonl" || t === "application/x-jsonlines";

/** Reads at most `max` bytes; returns undefined (and stops reading) when the body is larger. */
async function readCapped(res: UpstreamResponse, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function plainStatus(status: number): string {
  if (status === 400 || status === 422) return "the API refused the request as invalid";
  if (status === 401) return "the API key or session token is missing, wrong or expired";
  if (status === 403) return "the credential lacks the permission (scope) this operation needs";
  if (status === 404) return "not found";
  if (status === 409) return "the request conflicts with the current state";
  if (status === 413) return "the request was too large for the API";
  if (status === 429) return "rate limited by the API; wait and try again";
  if (status >= 500) return "the billing API failed on its side; try again shortly";
  return "the API refused the request";
}

async function errorResult(record: ToolRecord, res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  const raw = (await readCapped(res, MAX_ERROR_BODY).catch(() => undefined))?.toString("utf8") ?? "";
  let apiMessage = raw.trim();
  let code: string | undefined;
  try {
    const parsed = JSON.parse(raw) as { error?: { code?: string; message?: string } | string; message?: string };
    const e = parsed.error;
    apiMessage = (typeof e === "object" ? e?.message : e) ?? parsed.message ?? apiMessage;
    code = typeof e === "object" ? e?.code : undefined;
  } catch {
    // Not JSON: keep the text as the API's words.
  }
  const retryAfter = header(res, "retry-after");
  const parts = [
    `${record.name} failed: HTTP ${res.statusCode} — ${plainStatus(res.statusCode)}.`,
    apiMessage ? `API said: ${apiMessage.slice(0, 500)}` : "",
    retryAfter ? `Retry after: ${retryAfter}s.` : "",
  ].filter(Boolean);
  const text = redact(parts.join(" "), limits.secrets);
  return {
    content: [{ type: "text", text }],
    isError: true,
    _meta: { "com.geopera/upstream_status": res.statusCode, ...(code ? { "com.geopera/upstream_code": code } : {}) },
  };
}

async function jsonResult(res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  const buf = await readCapped(res, limits.maxJsonBytes);
  if (!buf) throw new MalformedAnswer(`the API's JSON answer is larger than ${limits.maxJsonBytes} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(buf.toString("utf8"));
  } catch {
    throw new MalformedAnswer("the API answered with malformed JSON");
  }
  const structured = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  return { content: [{ type: "text", text: redact(JSON.stringify(value), limits.secrets) }], structuredContent: structured };
}

function parseLine(line: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new MalformedAnswer(`line ${n} of the API's NDJSON stream is not valid JSON`);
  }
}

/**
 * Parses NDJSON as it arrives. Keeps at most maxRows rows; the rest are parsed (a broken line anywhere
 * is an error) and counted, then dropped, so memory stays flat however long the stream is.
 */
async function ndjsonResult(record: ToolRecord, args: Record<string, unknown>, res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  const rows: unknown[] = [];
  let total = 0;
  let pending = "";
  const decoder = new StringDecoder("utf8");
  const take = (line: string) => {
    if (line.trim() === "") return;
    total++;
    const row = parseLine(line, total);
    if (rows.length < limits.maxRows) rows.push(row);
  };
  try {
    for await (const chunk of res.body) {
      pending += decoder.write(chunk as Buffer);
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        take(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE_BYTES) throw new MalformedAnswer(`the API's NDJSON stream has a line longer than ${MAX_LINE_BYTES} bytes`);
    }
  } catch (err) {
    if (err instanceof MalformedAnswer) {
      res.body.destroy();
      throw err;
    }
    throw new MalformedAnswer(`the API's stream broke off after ${total} rows (${(err as Error).message}); the list is incomplete`);
  }
  take(pending + decoder.end());

  if (record.singleRecord && total === 1 && rows[0] && typeof rows[0] === "object" && !Array.isArray(rows[0])) {
    const one = rows[0] as Record<string, unknown>;
    return { content: [{ type: "text", text: redact(JSON.stringify(one), limits.secrets) }], structuredContent: one };
  }

  const truncated = total > rows.length;
  const offset = typeof args.offset === "number" ? args.offset : 0;
  const structured: Record<string, unknown> = { rows, count: rows.length, total_rows: total, truncated };
  let more = "";
  if (truncated) {
    if (record.pagesByOffset) {
      structured.next_offset = offset + rows.length;
      more = `More rows: call ${record.name} again with offset=${offset + rows.length}.`;
    } else {
      more = `More rows: showing the first ${rows.length} of ${total}; pass a smaller limit or a filter.`;
    }
  }
  const lines = [`${rows.length} of ${total} rows${truncated ? " (cut)" : ""}.`, ...rows.map((r) => JSON.stringify(r))];
  if (more) lines.push(more);
  return { content: [{ type: "text", text: redact(lines.join("\n"), limits.secrets) }], structuredContent: redactDeep(structured, limits) };
}

async function fileResult(record: ToolRecord, res: UpstreamResponse, type: string, limits: ShapeLimits): Promise<CallToolResult> {
  const declared = Number(header(res, "content-length")) || undefined;
  const disposition = header(res, "content-disposition");
  const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1];
  const buf = declared && declared > limits.maxFileBytes ? undefined : await readCapped(res, limits.maxFileBytes);
  if (!buf) {
    res.body.destroy();
    const size = declared ? `${declared} bytes` : `more than ${limits.maxFileBytes} bytes`;
    return toolError(
      `${record.name} answered with a file (${type}${filename ? `, ${filename}` : ""}, ${size}) larger than this server passes to an agent (${limits.maxFileBytes} bytes). Fetch it from the API directly: POST /v1/op/${record.operationId}.`,
    );
  }
  const uri = `geopera://files/${record.operationId}/${filename ?? "answer"}`;
  return {
    content: [
      { type: "text", text: `A file: ${type}${filename ? `, ${filename}` : ""}, ${buf.length} bytes (embedded as a resource).` },
      { type: "resource", resource: { uri, mimeType: type || "application/octet-stream", blob: buf.toString("base64") } },
    ],
    structuredContent: { file: { type, bytes: buf.length, filename: filename ?? null, uri } },
  };
}

function redactDeep(value: Record<string, unknown>, limits: ShapeLimits): Record<string, unknown> {
  return JSON.parse(redact(JSON.stringify(value), limits.secrets)) as Record<string, unknown>;
}

/** Shapes one upstream answer. Throws MalformedAnswer when the answer cannot be trusted as complete. */
export async function shapeAnswer(record: ToolRecord, args: Record<string, unknown>, res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  if (res.statusCode >= 400) return errorResult(record, res, limits);
  const type = mediaType(res);
  if (isNdjson(type)) return ndjsonResult(record, args, res, limits);
  if (isJson(type)) {
    const result = await jsonResult(res, limits);
    return result.structuredContent ? { ...result, structuredContent: redactDeep(result.structuredContent, limits) } : result;
  }
  if (type === "text/html" || type === "") {
    res.body.destroy();
    throw new MalformedAnswer(`the API answered with content type "${type || "none"}" where ${record.payload === "json" ? "JSON" : "NDJSON"} was expected`);
  }
  return fileResult(record, res, type, limits);
}
