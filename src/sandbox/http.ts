import type { IncomingMessage, ServerResponse } from "node:http";

export const JSON_TYPE = "application/json";
export const NDJSON_TYPE = "application/x-ndjson";

/** Bodies past this are refused with 413, matching the real API's limit. */
export const MAX_BODY_BYTES = 1024 * 1024;

// Batching lines into ~64 KiB writes keeps a million-row stream fast without
// holding more than one batch in memory.
const WRITE_BATCH_CHARS = 64 * 1024;

export interface BufferedReply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

export interface StreamReply {
  status: number;
  contentType: string;
  /** Lines without their trailing newline; pulled lazily while writing. */
  lines: Iterable<string>;
}

export type Reply = BufferedReply | StreamReply;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function errorJson(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

export function errorReply(err: HttpError): BufferedReply {
  return {
    status: err.status,
    contentType: JSON_TYPE,
    body: errorJson(err.code, err.message),
    headers: err.headers,
  };
}

export function jsonReply(value: unknown, status = 200): BufferedReply {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}

/** Streams rows as NDJSON; rows are stringified only when the writer asks for them. */
export function ndjsonStream(rows: Iterable<unknown>, status = 200): StreamReply {
  function* lines(): Generator<string> {
    for (const row of rows) yield JSON.stringify(row);
  }
  return { status, contentType: NDJSON_TYPE, lines: lines() };
}

/** NDJSON held as one string, for replies that must be replayable byte for byte. */
export function ndjsonBuffered(rows: readonly unknown[], status = 200): BufferedReply {
  return {
    status,
    contentType: NDJSON_TYPE,
    body: rows.map((r) => JSON.stringify(r) + "\n").join(""),
  };
}

export function isBuffered(reply: Reply): reply is BufferedReply {
  return "body" in reply;
}

export async function sendReply(res: ServerResponse, reply: Reply): Promise<void> {
  if (isBuffered(reply)) {
    res.writeHead(reply.status, {
      ...reply.headers,
      "content-type": reply.contentType,
      "content-length": String(Buffer.byteLength(reply.body)),
    });
    res.end(reply.body);
    return;
  }
  res.writeHead(reply.status, { "content-type": reply.contentType });
  await writeLines(res, reply.lines);
}

/** Resolves once the socket can take more, or once it is gone (then the caller stops). */
export function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

function gone(res: ServerResponse): boolean {
  return res.destroyed || res.writableEnded;
}

export async function writeLines(res: ServerResponse, lines: Iterable<string>): Promise<void> {
  let batch = "";
  for (const line of lines) {
    batch += line + "\n";
    if (batch.length < WRITE_BATCH_CHARS) continue;
    if (gone(res)) return;
    const ok = res.write(batch);
    batch = "";
    if (!ok) {
      await waitForDrain(res);
      if (gone(res)) return;
    }
  }
  if (gone(res)) return;
  res.end(batch);
}

export interface ReadBody {
  text: string;
  tooLarge: boolean;
}

/**
 * Reads the whole body, but past the cap keeps draining without storing, so the
 * client gets to read our 413 instead of a broken pipe mid-upload.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<ReadBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      resolve({ text: tooLarge ? "" : Buffer.concat(chunks).toString("utf8"), tooLarge });
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", finish);
    req.on("close", finish);
    req.on("error", finish);
  });
}
