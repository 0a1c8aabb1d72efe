// Network failures in plain words: what failed, which limit was hit, and where (the API's origin, never a
// credential). Every way a timeout can surface is mapped here:
//   - UpstreamTimeout: our own headers/total timers (the client aborts the request with one of these);
//   - undici's UND_ERR_CONNECT_TIMEOUT / UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT;
//   - a DOMException named TimeoutError (an AbortSignal.timeout() signal somewhere up the chain).
import type { Timeouts } from "../config.js";

export type TimeoutPhase = "connect" | "headers" | "body" | "total";

/** The reason the client aborts a request with when one of its own timers fires. */
export class UpstreamTimeout extends Error {
  override readonly name = "UpstreamTimeout";
  constructor(
    readonly phase: TimeoutPhase,
    readonly ms: number,
  ) {
    super(`upstream ${phase} timeout after ${ms} ms`);
  }
}

/** A short machine-readable kind for logs and _meta: "timeout_headers", "connection_refused", … */
export function networkErrorKind(err: unknown): string {
  if (err instanceof UpstreamTimeout) return `timeout_${err.phase}`;
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  if (e?.name === "TimeoutError") return "timeout_total";
  if (e?.name === "AbortError") return "cancelled";
  const code = typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : "";
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return "timeout_connect";
    case "UND_ERR_HEADERS_TIMEOUT":
      return "timeout_headers";
    case "UND_ERR_BODY_TIMEOUT":
      return "timeout_body";
    case "ECONNREFUSED":
      return "connection_refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "dns";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return "connection_reset";
    default:
      return "network";
  }
}

const secs = (ms: number | undefined) => (ms === undefined ? "" : ` ${ms % 1000 === 0 ? ms / 1000 : (ms / 1000).toFixed(1)} s`);

export function describeNetworkError(err: unknown, baseUrl?: string, timeouts?: Readonly<Timeouts>): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | undefined;
  let where = "the billing API";
  try {
    if (baseUrl) where = `the billing API at ${new URL(baseUrl).origin}`;
  } catch {
    // keep the generic name
  }
  const ms = err instanceof UpstreamTimeout ? err.ms : undefined;
  switch (networkErrorKind(err)) {
    case "timeout_connect":
      return `connecting to ${where} timed out (no connection within${secs(ms ?? timeouts?.connectMs)}; --timeout-connect).`;
    case "timeout_headers":
      return `${where} accepted the request but sent no answer within${secs(ms ?? timeouts?.headersMs)} (--timeout-headers); it may be hung or overloaded.`;
    case "timeout_body":
      return `${where} stopped sending its answer part-way (no data for${secs(ms ?? timeouts?.bodyMs)}; --timeout-body).`;
    case "timeout_total":
      return `${where} did not finish answering within the${secs(ms ?? timeouts?.totalMs)} total time limit (--timeout-total).`;
    case "cancelled":
      return "the call was cancelled before the API answered.";
    case "connection_refused":
      return `could not connect to ${where} (connection refused).`;
    case "dns":
      return `could not resolve the host of ${where}.`;
    case "connection_reset":
      return `the connection to ${where} was closed before the answer was complete.`;
    default: {
      const code = typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : "";
      const message = typeof e?.message === "string" ? e.message : typeof err === "string" ? err : "";
      return `the request to ${where} failed (${code || message || "unknown error"}).`;
    }
  }
}
