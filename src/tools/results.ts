// Turns an API answer into an agent-sized tool result: JSON → structuredContent, NDJSON → rows parsed
// as they arrive (bounded, never held whole), anything else → described, embedded only when small.
// Upstream errors keep the API's own words and the status, in plain language. Nothing here is trusted
// to be secret-free: every string that comes from the API is redacted — as a value, before any text is
// serialised from it (src/redact.ts), so a result's JSON text is always JSON.
//
// Every result carries the API's HTTP status in _meta["com.geopera/upstream_status"] (the invoke path
// logs it). An answer that cannot be trusted as complete — bad JSON, a broken NDJSON line, an HTML page,
// a body cut off part-way — throws MalformedAnswer naming what was wrong; it is never passed off as data.
import { StringDecoder } from "node:string_decoder";
import type { CallToolResult } from "@modelcontextprotocol/server";
import type { UpstreamResponse } from "../upstream/client.js";
import type { Timeouts } from "../config.js";
import type { ToolRecord } from "./record.js";
import { redact, redactValue } from "../redact.js";
import { describeNetworkError, networkErrorKind } from "../upstream/errors.js";
import { pageRows, takesLimit } from "./page.js";

export interface ShapeLimits {
  maxRows: number;
  maxJsonBytes: number;
  maxFileBytes: number;
  /** Secrets to hide verbatim (the caller's credential). */
  secrets: readonly string[];
  /** For naming the API and the limit hit when an answer breaks off part-way. */
  baseUrl?: string;
  timeouts?: Readonly<Timeouts>;
}

export const META_STATUS = "com.geopera/upstream_status";
export const META_CODE = "com.geopera/upstream_code";
export const META_ERROR = "com.geopera/error";
export const META_ATTEMPTS = "com.geopera/attempts";
/**
 * Set by the spend gate on a spend it did not send: declined | cancelled | expired | refused | pending |
 * busy. The per-call log line reads it (and META_GATE_REASON, a short code, never an argument value).
 */
export const META_GATE_OUTCOME = "com.geopera/gate_outcome";
export const META_GATE_REASON = "com.geopera/gate_reason";

const MAX_LINE_BYTES = 1024 * 1024;
const MAX_ERROR_BODY = 16 * 1024;
/** The first this-many bytes of an NDJSON answer are read by 'data' events, the rest by the async iterator (see ndjsonResult). */
const SMALL_BODY = 64 * 1024;
/** How much of an unexpected (HTML/text) answer is read to quote it. */
const MAX_HINT_BODY = 4 * 1024;

export class MalformedAnswer extends Error {
  constructor(
    message: string,
    /** Short kind for logs: bad_json, bad_ndjson_line, wrong_content_type, stream_cut, timeout_body, … */
    readonly kind: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function toolError(text: string, meta?: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], isError: true, ...(meta ? { _meta: meta } : {}) };
}

function header(res: UpstreamResponse, name: string): string {
  const v = res.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

function mediaType(res: UpstreamResponse): string {
  const type = header(res, "content-type");
  // The API's usual answer, as it sends it: no parameters, no case or space to normalise.
  if (type === "application/x-ndjson" || type === "application/json") return type;
  return type.split(";")[0]!.trim().toLowerCase();
}

const isJson = (t: string) => t === "application/json" || t.endsWith("+json");
const isNdjson = (t: string) => t === "application/x-ndjson" || t === "application/ndjson" || t === "application/jsonl" || t === "application/x-jsonlines";
/** Types no billing operation answers with: an error page from a proxy, or nothing declared at all. */
const isUnexpectedText = (t: string) => t === "" || t === "text/html" || t === "application/xhtml+xml" || t === "text/plain";

function brokeOff(err: unknown, what: string, limits: ShapeLimits, status: number): MalformedAnswer {
  const kind = networkErrorKind(err);
  return new MalformedAnswer(`${what}: ${describeNetworkError(err, limits.baseUrl, limits.timeouts)}`, kind.startsWith("timeout_") ? kind : "stream_cut", status);
}

/** Reads at most `max` bytes; returns undefined (and stops reading) when the body is larger. */
async function readCapped(res: UpstreamResponse, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Hands each chunk of the body to `onChunk` as it arrives, synchronously ('data' events: nothing is buffered
 * beyond the chunk in hand). Resolves "ended" at the body's end, or "long" as soon as more than `upTo` bytes
 * have been handed over: the body is then paused with the rest unread, for the caller to go on with
 * `for await`. Rejects with the body's error, with an ERR_STREAM_PREMATURE_CLOSE error when it closes
 * without ending (as the async iterator would), or with what `onChunk` threw (the body is then destroyed).
 * Cheaper per answer than `for await` over the body, whose iterator machinery was a measurable share of a
 * small call's latency (bench/profile.ts); a long stream is better off with the iterator (see ndjsonResult).
 */
function eachChunk(body: UpstreamResponse["body"], onChunk: (chunk: Buffer) => void, upTo = Infinity): Promise<"ended" | "long"> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let seen = 0;
    const finish = (err?: unknown, how: "ended" | "long" = "ended") => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", finish);
      body.off("close", onClose);
      if (err === undefined) resolve(how);
      else reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      try {
        onChunk(chunk);
      } catch (err) {
        finish(err);
        body.destroy();
        return;
      }
      seen += chunk.length;
      if (seen > upTo) {
        body.pause();
        finish(undefined, "long");
      }
    };
    const onEnd = () => finish();
    const onClose = () => finish(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    body.on("error", finish);
    body.on("end", onEnd);
    body.on("close", onClose);
    // Already over before we listened: eos (behind `for await`) reports these two the same way.
    if (body.errored) return finish(body.errored);
    if (body.destroyed || body.readableEnded) return body.readableEnded ? finish() : onClose();
    body.on("data", onData);
  });
}

/** Up to `max` bytes of the body as text, then stops reading; never throws. */
async function readSome(res: UpstreamResponse, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) break;
    }
  } catch {
    // whatever arrived is enough for a hint
  }
  res.body.destroy();
  return Buffer.concat(chunks).subarray(0, max).toString("utf8");
}

/** An HTML page or text as one short line: the title/headings, not the markup. */
function gist(text: string, max = 200): string {
  const plain = text
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&nbsp;/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return plain.length > max ? plain.slice(0, max) + "…" : plain;
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

function retryAfterText(raw: string): string {
  const v = raw.trim();
  if (/^\d+$/.test(v)) return `The API asked to retry after ${v} s.`;
  return Number.isNaN(Date.parse(v)) ? "" : `The API asked to retry after ${new Date(Date.parse(v)).toISOString()}.`;
}

async function errorResult(record: ToolRecord, res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  const raw = (await readCapped(res, MAX_ERROR_BODY).catch(() => undefined))?.toString("utf8") ?? "";
  let apiMessage = raw.trim();
  let code: string | undefined;
  try {
    const parsed = JSON.parse(raw) as { error?: { code?: string; message?: string } | string; message?: string };
    const e = parsed.error;
    apiMessage = (typeof e === "object" ? e?.message : e) ?? parsed.message ?? apiMessage;
    code = typeof e === "object" && typeof e?.code === "string" ? e.code : undefined;
  } catch {
    // Not JSON: keep the text (an HTML error page is reduced to its words) as the API's words.
    if (/<[a-z!][^>]*>/i.test(apiMessage)) apiMessage = gist(apiMessage, 500);
  }
  if (typeof apiMessage !== "string") apiMessage = JSON.stringify(apiMessage);
  const retryAfter = header(res, "retry-after");
  const parts = [
    `${record.name} failed: HTTP ${res.statusCode} — ${plainStatus(res.statusCode)}.`,
    apiMessage ? `API said: ${apiMessage.slice(0, 500)}` : "",
    retryAfter ? retryAfterText(retryAfter) : "",
  ].filter(Boolean);
  const text = redact(parts.join(" "), limits.secrets);
  return {
    content: [{ type: "text", text }],
    isError: true,
    _meta: { [META_STATUS]: res.statusCode, ...(code ? { [META_CODE]: redact(code, limits.secrets) } : {}) },
  };
}

async function jsonResult(res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  let buf: Buffer | undefined;
  try {
    buf = await readCapped(res, limits.maxJsonBytes);
  } catch (err) {
    throw brokeOff(err, `the API's JSON answer (HTTP ${res.statusCode}) broke off part-way`, limits, res.statusCode);
  }
  if (!buf) throw new MalformedAnswer(`the API's JSON answer is larger than ${limits.maxJsonBytes} bytes, more than this server reads`, "too_large", res.statusCode);
  let value: unknown;
  try {
    value = JSON.parse(buf.toString("utf8"));
  } catch (err) {
    const why = buf.length === 0 ? "the body is empty" : redact((err as Error).message, limits.secrets).slice(0, 160);
    throw new MalformedAnswer(`the API answered with malformed JSON (${why})`, "bad_json", res.statusCode);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return objectResult(value as Record<string, unknown>, limits, res.statusCode);
  }
  const clean = redactValue(value, limits.secrets);
  return {
    content: [{ type: "text", text: JSON.stringify(clean) }],
    structuredContent: structuredOf({ value: clean }),
    _meta: { [META_STATUS]: res.statusCode },
  };
}

/** Thrown from inside the read loop when the answer is full; caught by ndjsonResult, never seen outside. */
const FULL = Symbol("answer full");

/**
 * Parses NDJSON as it arrives: each chunk is decoded once (StringDecoder keeps UTF-8 sequences split across
 * chunks intact) and lines are cut out as slices. Keeps at most one page of rows (page.ts: the agent's limit,
 * bounded by --max-rows); at the first line past the page it stops reading and drops the rest of the stream
 * unread, so the cost of a call grows with the page, not with the list (a 1,000,000-row ledger is not read
 * to answer 100 of it). That one extra line is how "more rows" is known; the rest is never counted.
 */
async function ndjsonResult(record: ToolRecord, args: Record<string, unknown>, res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  const status = res.statusCode;
  const cap = pageRows(args, limits.maxRows);
  const rows: unknown[] = [];
  let more = false;
  let lineNo = 0;
  let pending = "";
  const decoder = new StringDecoder("utf8");

  const take = (line: string, last = false) => {
    lineNo++;
    if (line.length === 0) return;
    if (rows.length >= cap) {
      // A row past the page: there is more. It is not parsed; nothing after it is read.
      if (line.trim() !== "") more = true;
      return;
    }
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      if (line.trim() === "") return;
      throw new MalformedAnswer(
        last
          ? `the API's NDJSON stream ended in the middle of line ${lineNo} (no closing newline, not valid JSON): it was cut off after ${rows.length} complete rows; the list is incomplete`
          : `line ${lineNo} of the API's NDJSON stream is not valid JSON (after ${rows.length} good rows); the list cannot be trusted`,
        last ? "stream_cut" : "bad_ndjson_line",
        status,
      );
    }
    rows.push(row);
  };

  const onChunk = (chunk: Buffer) => {
    pending += decoder.write(chunk);
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      take(pending.slice(0, nl));
      if (more) throw FULL;
      pending = pending.slice(nl + 1);
    }
    if (pending.length > MAX_LINE_BYTES) {
      throw new MalformedAnswer(`line ${lineNo + 1} of the API's NDJSON stream is longer than ${MAX_LINE_BYTES} characters, more than this server reads`, "too_large", status);
    }
  };
  try {
    // The first SMALL_BODY bytes by 'data' events, which is all of a single record or a short page, whatever
    // its framing (the API streams even one record chunked, with no declared length); past that, the async
    // iterator: with 'data' events for a whole long stream the peak RSS rose and varied (bench/rss.ts).
    if ((await eachChunk(res.body, onChunk, SMALL_BODY)) === "long") for await (const chunk of res.body as AsyncIterable<Buffer>) onChunk(chunk);
  } catch (err) {
    res.body.destroy();
    if (err !== FULL) {
      if (err instanceof MalformedAnswer) throw err;
      throw brokeOff(err, `the API's NDJSON stream broke off after ${rows.length} rows, so the list is incomplete`, limits, status);
    }
  }
  if (!more) take(pending + decoder.end(), true);

  if (record.singleRecord && rows.length === 1 && !more && rows[0] && typeof rows[0] === "object" && !Array.isArray(rows[0])) {
    return objectResult(rows[0] as Record<string, unknown>, limits, status);
  }

  const offset = typeof args.offset === "number" ? args.offset : 0;
  const clean = redactValue(rows, limits.secrets);
  const structured: Record<string, unknown> = { rows: clean, count: rows.length, truncated: more };
  let next = "";
  if (more && record.pagesByOffset) {
    structured.next_offset = offset + rows.length;
    next = `More rows: call ${record.name} again with offset=${offset + rows.length}.`;
  } else if (more) {
    // The agent's own limit made the page smaller than this server allows: a larger one is an option.
    const raise = takesLimit(record) && cap < limits.maxRows ? "ask for a larger limit or " : "";
    next = `More rows: this list has no offset, so ${raise}narrow it with a filter.`;
  }
  // Each row's line is serialised from its redacted value; the server's own lines hold no API text.
  const lines = [`${rows.length} rows${more ? " (more after these)" : ""}.`, ...clean.map((r) => JSON.stringify(r))];
  if (next) lines.push(next);
  return {
    content: [{ type: "text", text: lines.join("\n") }],
    structuredContent: structuredOf(structured),
    _meta: { [META_STATUS]: status },
  };
}

function bytesText(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${n} bytes (${(n / 1024).toFixed(1)} KB)`;
  return `${n} bytes (${(n / 1024 / 1024).toFixed(1)} MB)`;
}

async function fileResult(record: ToolRecord, res: UpstreamResponse, apiType: string, limits: ShapeLimits): Promise<CallToolResult> {
  const status = res.statusCode;
  const length = header(res, "content-length");
  const declared = /^\d+$/.test(length) ? Number(length) : undefined;
  const disposition = header(res, "content-disposition");
  // The API's own words (its headers), redacted as values: they go into structuredContent and the uri too.
  const type = redact(apiType, limits.secrets);
  const rawName = /filename="?([^";]+)"?/i.exec(disposition)?.[1];
  const filename = rawName === undefined ? undefined : redact(rawName, limits.secrets);
  const what = `${type}${filename ? `, ${filename}` : ""}`;
  const tooBig = (size: string) =>
    toolError(
      redact(
        `${record.name} answered with a file (${what}, ${size}) larger than this server passes to an agent (${bytesText(limits.maxFileBytes)}); nothing of it is included. Fetch it from the API directly: POST /v1/op/${record.operationId} with the same arguments.`,
        limits.secrets,
      ),
      { [META_STATUS]: status, [META_ERROR]: "file_too_large" },
    );
  if (declared !== undefined && declared > limits.maxFileBytes) {
    res.body.destroy();
    return tooBig(bytesText(declared));
  }
  let buf: Buffer | undefined;
  try {
    buf = await readCapped(res, limits.maxFileBytes);
  } catch (err) {
    throw brokeOff(err, `the API's file answer (${what}) broke off part-way, so no part of it is returned`, limits, status);
  }
  if (!buf) {
    // No declared length: reading stopped at the cap, so only a lower bound is known.
    return tooBig(`more than ${bytesText(limits.maxFileBytes)}`);
  }
  const uri = `geopera://files/${record.operationId}/${encodeURIComponent(filename ?? "answer")}`;
  return {
    content: [
      { type: "text", text: redact(`A file: ${what}, ${bytesText(buf.length)} (embedded as a resource).`, limits.secrets) },
      { type: "resource", resource: { uri, mimeType: type || "application/octet-stream", blob: buf.toString("base64") } },
    ],
    structuredContent: { file: { type, bytes: buf.length, filename: filename ?? null, uri } },
    _meta: { [META_STATUS]: status },
  };
}

/**
 * True when JSON.parse(JSON.stringify(value)) would give back an equal value. For values made of what
 * JSON.parse returns, only two numbers change on the way: a non-finite one (an overflowing literal such
 * as 1e400 parses as Infinity and comes back as null) and -0 (comes back as 0).
 */
function survivesJson(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  if (typeof value !== "object" || value === null) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (!survivesJson(v)) return false;
    return true;
  }
  for (const k in value) if (!survivesJson((value as Record<string, unknown>)[k])) return false;
  return true;
}

/**
 * The structured copy of an already redacted value: the value itself, unless a JSON round trip would change
 * it (an overflowing number, -0), so that structuredContent says exactly what the text says.
 */
function structuredOf(clean: Record<string, unknown>, text?: string): Record<string, unknown> {
  return survivesJson(clean) ? clean : (JSON.parse(text ?? JSON.stringify(clean)) as Record<string, unknown>);
}

/** One JSON object answer: redacted once as a value (no copy when nothing changes), then serialised once for the text. */
function objectResult(value: Record<string, unknown>, limits: ShapeLimits, status: number): CallToolResult {
  const clean = redactValue(value, limits.secrets);
  const text = JSON.stringify(clean);
  return { content: [{ type: "text", text }], structuredContent: structuredOf(clean, text), _meta: { [META_STATUS]: status } };
}

/** Shapes one upstream answer. Throws MalformedAnswer when the answer cannot be trusted as complete. */
export async function shapeAnswer(record: ToolRecord, args: Record<string, unknown>, res: UpstreamResponse, limits: ShapeLimits): Promise<CallToolResult> {
  if (res.statusCode >= 400) return errorResult(record, res, limits);
  const type = mediaType(res);
  if (isNdjson(type)) return ndjsonResult(record, args, res, limits);
  if (isJson(type)) return jsonResult(res, limits);
  if (isUnexpectedText(type)) {
    const said = gist(await readSome(res, MAX_HINT_BODY));
    const expected = record.payload === "json" ? "JSON (application/json)" : "NDJSON (application/x-ndjson)";
    throw new MalformedAnswer(
      `the API answered HTTP ${res.statusCode} with content type "${type || "none"}" where ${expected} was expected — probably an error page from a proxy, not billing data` +
        (said ? ` (it said: "${redact(said, limits.secrets)}")` : ""),
      "wrong_content_type",
      res.statusCode,
    );
  }
  return fileResult(record, res, type, limits);
}
