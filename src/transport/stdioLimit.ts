// A guard in front of the SDK's StdioServerTransport, which would buffer a line of any length and drops
// unparseable lines without a word. Reading stdin one newline-delimited message at a time, it:
//   - caps a line at maxLineBytes: an oversize line is discarded as it streams (never held whole) and
//     answered with JSON-RPC -32600 "Request too large"; the next line is read normally, so the stream
//     stays in sync;
//   - answers a line that is not JSON with -32700, a JSON value that is not a JSON-RPC message (wrong or
//     missing jsonrpc/id/method, a scalar) with -32600, and a batch array with -32600 (MCP has no batches);
//   - refuses a tools/call whose arguments carry an own "__proto__" key with -32602 naming it: the SDK's
//     request schema (a zod record) silently drops that key before the tool's strict schema could refuse
//     it, so it would otherwise pass as if never sent;
//   - passes every valid message through unchanged, one per line — or, with onMessage, hands it over as
//     parsed and validated here, so the SDK does not parse the same line a second time.
// Error answers carry the request's id when it can be read for certain (a valid message, or an "id"
// member at the very start or the very end of the top-level object — where clients put it), else null.
import { protoKeyProblem } from "./protoKey.js";
import { Transform, type TransformCallback } from "node:stream";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { JSONRPCMessageSchema } from "@modelcontextprotocol/core";

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

export type RequestId = string | number;

export interface JsonRpcErrorMessage {
  jsonrpc: "2.0";
  id: RequestId | null;
  error: { code: number; message: string };
}

export interface LineGuardOptions {
  maxLineBytes?: number;
  /** Writes one error answer (the caller serialises it onto stdout). */
  reply(message: JsonRpcErrorMessage): void;
  /** Told about each rejected line, for the log. Never given the line itself. */
  onReject?(kind: "too_large" | "parse_error" | "invalid_request" | "batch" | "invalid_response" | "proto_key", bytes: number): void;
  /**
   * Takes each valid message as already parsed and validated here (JSONRPCMessageSchema's output, what
   * the SDK's own stdio transport would build from the line), instead of the line being passed on
   * downstream: the message is parsed once, not twice. See GuardedStdioTransport (stdio.ts).
   */
  onMessage?(message: JSONRPCMessage): void;
}

const NL = 0x0a;
const EDGE = 256;
const ID_TOKEN = String.raw`(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.){0,256}")`;
const HEAD_ID = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID_TOKEN}\s*[,}]`);
const TAIL_ID = new RegExp(String.raw`,\s*"id"\s*:\s*${ID_TOKEN}\s*\}\s*$`);

function validId(value: unknown): RequestId | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  return undefined;
}

/** The id of a line we could not (or would not) parse, if its head or tail states it unambiguously. */
export function recoverId(head: string, tail: string): RequestId | null {
  const m = HEAD_ID.exec(head) ?? TAIL_ID.exec(tail);
  if (!m) return null;
  try {
    return validId(JSON.parse(m[1]!)) ?? null;
  } catch {
    return null;
  }
}

function errorMessage(id: RequestId | null, code: number, message: string): JsonRpcErrorMessage {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

function invalidReason(value: Record<string, unknown>): string {
  if (value.jsonrpc !== "2.0") return 'jsonrpc must be "2.0"';
  if ("id" in value && validId(value.id) === undefined) return "id must be a string or an integer";
  if ("method" in value && typeof value.method !== "string") return "method must be a string";
  if ("params" in value && (typeof value.params !== "object" || value.params === null || Array.isArray(value.params))) return "params must be an object";
  return "not a JSON-RPC 2.0 request, notification or response";
}

/** Never written to: head/tail are replaced, not filled. */
const EMPTY = Buffer.alloc(0);

export class JsonRpcLineGuard extends Transform {
  private readonly max: number;
  private readonly opts: LineGuardOptions;
  /** Pieces of the current line while it is within the cap. */
  private parts: Buffer[] = [];
  private size = 0;
  /** Past the cap: bytes are counted and dropped until the newline; only the edges are kept. */
  private discarding = false;
  private head = EMPTY;
  private tail = EMPTY;

  constructor(opts: LineGuardOptions) {
    super();
    this.max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.opts = opts;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.feed(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    // An unterminated last line was never a complete message; drop it like the SDK would.
    this.reset();
    done();
  }

  /** Takes one chunk of the byte stream synchronously (what _transform does, without the stream machinery). */
  feed(chunk: Buffer): void {
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl < 0 ? chunk.length : nl;
      if (end > start) this.add(chunk.subarray(start, end));
      if (nl < 0) break;
      this.endLine();
      start = nl + 1;
    }
  }

  /** Drops a partial line (the stream ended or the reader is closing). */
  discardPartial(): void {
    this.reset();
  }

  private add(piece: Buffer): void {
    if (!this.discarding && this.size + piece.length <= this.max) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    if (!this.discarding) {
      const sofar = Buffer.concat(this.parts, this.size);
      this.head = Buffer.from(Buffer.concat([sofar.subarray(0, EDGE), piece.subarray(0, EDGE)]).subarray(0, EDGE));
      this.parts = [];
      this.discarding = true;
    }
    this.size += piece.length;
    this.tail = Buffer.from(piece.length >= EDGE ? piece.subarray(piece.length - EDGE) : Buffer.concat([this.tail, piece]).subarray(-EDGE));
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.discarding = false;
    this.head = EMPTY;
    this.tail = EMPTY;
  }

  private reject(kind: Parameters<NonNullable<LineGuardOptions["onReject"]>>[0], bytes: number, message?: JsonRpcErrorMessage): void {
    this.opts.onReject?.(kind, bytes);
    if (message) this.opts.reply(message);
  }

  private endLine(): void {
    if (this.discarding) {
      const bytes = this.size;
      const id = recoverId(this.head.toString("utf8"), this.tail.toString("utf8"));
      this.reset();
      this.reject(
        "too_large",
        bytes,
        errorMessage(id, -32600, `Request too large: ${bytes} bytes, more than the ${this.max}-byte limit (maxRequestBytes). It was dropped unread.`),
      );
      return;
    }
    // A line that arrived in one piece needs no copy: it is only read (decoded, or pushed on concatenated).
    let line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.reset();
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    const text = line.toString("utf8");
    if (text.trim() === "") return;

    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const id = recoverId(text.slice(0, EDGE), text.slice(-EDGE));
      this.reject("parse_error", line.length, errorMessage(id, -32700, "Parse error: the line is not valid JSON (one JSON-RPC message per line)."));
      return;
    }
    if (Array.isArray(value)) {
      const ids = value.map((m) => validId((m as { id?: unknown } | null)?.id)).filter((id): id is RequestId => id !== undefined);
      const message = "Invalid Request: JSON-RPC batches are not supported; send one message per line.";
      this.reject("batch", line.length);
      if (ids.length === 0) this.opts.reply(errorMessage(null, -32600, message));
      for (const id of ids) this.opts.reply(errorMessage(id, -32600, message));
      return;
    }
    if (typeof value !== "object" || value === null) {
      this.reject("invalid_request", line.length, errorMessage(null, -32600, "Invalid Request: a JSON-RPC message must be a JSON object."));
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) {
      const obj = value as Record<string, unknown>;
      if (!("method" in obj) && ("result" in obj || "error" in obj)) {
        // A malformed answer to one of our requests: answering an answer makes no sense.
        this.reject("invalid_response", line.length);
        return;
      }
      this.reject("invalid_request", line.length, errorMessage(validId(obj.id) ?? null, -32600, `Invalid Request: ${invalidReason(obj)}.`));
      return;
    }
    const proto = protoKeyProblem(value);
    if (proto) {
      this.reject("proto_key", line.length, errorMessage(validId((value as { id?: unknown }).id) ?? null, -32602, proto));
      return;
    }
    if (this.opts.onMessage) this.opts.onMessage(parsed.data);
    else this.push(Buffer.concat([line, Buffer.from("\n")]));
  }
}
