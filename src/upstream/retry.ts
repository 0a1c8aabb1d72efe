// When a call may be sent again. Reads retry freely; a spend retries only because it carries its own
// Idempotency-Key and byte-identical body (the API then answers once); compute calls never retry.
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from "./client.js";

export interface RetryPolicy {
  maxRetries: number;
  maxRetryAfterMs: number;
  /** First backoff step; doubles each attempt, with full jitter. */
  baseDelayMs: number;
  retryStatus(status: number): boolean;
}

/** Errors where the connection failed or broke before an answer arrived. */
const CONNECTION_ERRORS = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
]);

export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return CONNECTION_ERRORS.has(e?.code ?? "") || CONNECTION_ERRORS.has(e?.cause?.code ?? "");
}

export const READ_RETRY_STATUS = (s: number) => s === 429 || s === 502 || s === 503 || s === 504;
export const SPEND_RETRY_STATUS = (s: number) => s === 429 || s >= 500;

/** Retry-After in ms (seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

export interface SendOutcome {
  response: UpstreamResponse;
  attempts: number;
}

/**
 * Sends `req`, retrying per policy. `onAttempt` runs before each send (the spend path journals there).
 * Returns the last response (which may itself be an error status) or throws the last connection error.
 */
export async function sendWithRetry(
  client: UpstreamClient,
  req: UpstreamRequest,
  policy: RetryPolicy,
  onAttempt?: (attempt: number) => void,
): Promise<SendOutcome> {
  for (let attempt = 1; ; attempt++) {
    onAttempt?.(attempt);
    let wait: number | undefined;
    try {
      const response = await client.send(req);
      const last = attempt > policy.maxRetries;
      if (last || !policy.retryStatus(response.statusCode)) return { response, attempts: attempt };
      const after = retryAfterMs(response.headers["retry-after"]);
      if (after !== undefined && after > policy.maxRetryAfterMs) return { response, attempts: attempt };
      await response.body.dump();
      wait = after;
    } catch (err) {
      if (attempt > policy.maxRetries || !isConnectionError(err) || req.signal?.aborted) throw err;
    }
    const backoff = Math.random() * policy.baseDelayMs * 2 ** (attempt - 1);
    await sleep(wait ?? backoff, req.signal);
  }
}
