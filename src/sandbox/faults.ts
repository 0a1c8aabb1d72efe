import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { JSON_TYPE, NDJSON_TYPE, errorJson, waitForDrain } from "./http.js";
import type { Fault } from "./types.js";

interface Pending {
  operationId: string;
  fault: Fault;
  remaining: number;
}

/** Faults are consumed first-in first-out; "*" matches any operation. */
export class FaultQueue {
  private pending: Pending[] = [];

  add(operationId: string, fault: Fault, times = 1): void {
    if (!Number.isSafeInteger(times) || times < 1) {
      throw new RangeError(`times must be a positive integer, got ${String(times)}`);
    }
    this.pending.push({ operationId, fault: checkFault(fault), remaining: times });
  }

  take(operationId: string): Fault | undefined {
    const index = this.pending.findIndex((p) => p.operationId === operationId || p.operationId === "*");
    const entry = this.pending[index];
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.pending.splice(index, 1);
    return entry.fault;
  }

  clear(): void {
    this.pending = [];
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalStringField(value: Record<string, unknown>, field: string): void {
  if (value[field] !== undefined && typeof value[field] !== "string") {
    throw new TypeError(`fault.${field} must be a string`);
  }
}

function nonNegativeInt(value: Record<string, unknown>, field: string): void {
  const n = value[field];
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(`fault.${field} must be a non-negative integer`);
  }
}

/** Faults also arrive as JSON over HTTP, so they are checked rather than trusted. */
export function checkFault(value: unknown): Fault {
  if (!isRecord(value) || typeof value.kind !== "string") throw new TypeError("fault.kind is required");
  switch (value.kind) {
    case "status": {
      const status = value.status;
      if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
        throw new TypeError("fault.status must be an HTTP status code");
      }
      optionalStringField(value, "body");
      optionalStringField(value, "retryAfter");
      optionalStringField(value, "contentType");
      break;
    }
    case "delay":
      nonNegativeInt(value, "ms");
      break;
    case "file":
      nonNegativeInt(value, "bytes");
      optionalStringField(value, "contentType");
      break;
    case "reset":
    case "hang":
    case "badJson":
    case "brokenNdjsonLine":
    case "cutStream":
    case "wrongContentType":
    case "echoAuth":
    case "chargeThenReset":
      break;
    default:
      throw new TypeError(`unknown fault kind ${JSON.stringify(value.kind)}`);
  }
  return value as Fault;
}

/** A real RST, so clients see ECONNRESET rather than a polite end of stream. */
export function resetSocket(socket: Socket | null): void {
  if (socket === null || socket.destroyed) return;
  socket.resetAndDestroy();
}

const STATUS_CODES: Record<number, [string, string]> = {
  400: ["bad_request", "The request could not be understood."],
  401: ["unauthorized", "Missing or invalid API key."],
  403: ["forbidden", "This key is not allowed to do that."],
  404: ["not_found", "Nothing was found here."],
  409: ["conflict", "The request conflicts with the current state."],
  422: ["validation_error", "The request failed validation."],
  429: ["rate_limited", "Too many requests; slow down and retry later."],
  500: ["internal_error", "Something went wrong on our side."],
  502: ["bad_gateway", "An upstream service failed."],
  503: ["service_unavailable", "The service is temporarily unavailable."],
  504: ["gateway_timeout", "An upstream service timed out."],
};

function defaultBody(status: number): string {
  const [code, message] = STATUS_CODES[status] ?? [`http_${status}`, `The server answered with status ${status}.`];
  return errorJson(code, message);
}

const NDJSON_SAMPLE = ['{"id":"row_1","ok":true}', '{"id":"row_2","ok":true}', '{"id":"row_3","ok":true}'];

function extensionFor(contentType: string): string {
  if (contentType.includes("pdf")) return "pdf";
  if (contentType.includes("csv")) return "csv";
  if (contentType.includes("zip")) return "zip";
  if (contentType.includes("png")) return "png";
  return "bin";
}

async function writeFile(res: ServerResponse, bytes: number, contentType: string): Promise<void> {
  res.writeHead(200, {
    "content-type": contentType,
    "content-length": String(bytes),
    "content-disposition": `attachment; filename="invoice-sandbox.${extensionFor(contentType)}"`,
  });
  const chunk = Buffer.alloc(64 * 1024, "0123456789abcdef\n");
  const header = Buffer.from("%PDF-1.7\n% geopera sandbox file\n");
  let sent = 0;
  while (sent < bytes) {
    if (res.destroyed) return;
    const size = Math.min(chunk.length, bytes - sent);
    const piece = sent === 0 ? Buffer.concat([header, chunk]).subarray(0, size) : chunk.subarray(0, size);
    sent += size;
    if (!res.write(piece)) await waitForDrain(res);
  }
  if (!res.destroyed) res.end();
}

function plain(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...extra, "content-type": contentType, "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

/**
 * Answers (or refuses to answer) in place of the real handler.
 * Returns the status sent, or 0 when nothing was answered.
 * delay and chargeThenReset wrap normal handling, so index.ts applies those itself.
 */
export async function applyFault(fault: Fault, req: IncomingMessage, res: ServerResponse): Promise<number> {
  switch (fault.kind) {
    case "status": {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      if (fault.status === 401) headers["www-authenticate"] = "Bearer";
      plain(res, fault.status, fault.contentType ?? JSON_TYPE, fault.body ?? defaultBody(fault.status), headers);
      return fault.status;
    }
    case "reset":
    case "chargeThenReset":
      resetSocket(req.socket);
      return 0;
    case "hang":
    case "delay":
      // Left open on purpose; close() destroys the socket.
      return 0;
    case "badJson":
      plain(res, 200, JSON_TYPE, '{"oops":');
      return 200;
    case "brokenNdjsonLine": {
      const lines = [NDJSON_SAMPLE[0], '{"id":"row_2","ok":tr', NDJSON_SAMPLE[2]];
      plain(res, 200, NDJSON_TYPE, lines.join("\n") + "\n");
      return 200;
    }
    case "cutStream": {
      res.writeHead(200, { "content-type": NDJSON_TYPE });
      const partial = `${NDJSON_SAMPLE[0]}\n${NDJSON_SAMPLE[1]}\n{"id":"row_3","o`;
      // Destroy only after the bytes reached the socket, so the client sees a truncated body, not nothing.
      res.write(partial, () => req.socket.destroy());
      return 200;
    }
    case "wrongContentType":
      plain(res, 200, "text/html", "<html><body><h1>Service temporarily unavailable</h1></body></html>");
      return 200;
    case "file":
      await writeFile(res, fault.bytes, fault.contentType ?? "application/pdf");
      return 200;
    case "echoAuth": {
      const auth = req.headers.authorization ?? "(none)";
      plain(res, 400, JSON_TYPE, errorJson("bad_request", `Malformed request. Received Authorization: ${auth}`));
      return 400;
    }
  }
}
