// Reads a request body as JSON with a hard byte cap, before any of it reaches an MCP transport.
import type { IncomingMessage } from "node:http";

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`Request body exceeds ${limit} bytes`);
  }
}

export class BodyNotJson extends Error {
  constructor() {
    super("Parse error: the request body is not valid JSON");
  }
}

/**
 * Rejects with BodyTooLarge as soon as the cap is passed (or declared passed), without destroying the
 * socket, so the caller can still answer 413; the rest of the body is discarded as it arrives.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new BodyTooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      chunks.length = 0;
      req.resume();
      reject(new BodyTooLarge(limit));
    };
    const onEnd = () => {
      cleanup();
      try {
        resolve(JSON.parse(Buffer.concat(chunks, total).toString("utf8")));
      } catch {
        reject(new BodyNotJson());
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}
