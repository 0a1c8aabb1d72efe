// When a call may be sent again. Reads retry freely; a spend retries only because it carries its own
// Idempotency-Key and byte-identical body (the API then answers once); compute calls never retry.
//
// What is retried: connection failures where the request may not have been processed (refused, reset,
// closed) and the statuses the policy names, after a backoff with full jitter, or after the API's
// Retry-After when it asks for one no longer than maxRetryAfterMs. A longer Retry-After is not waited
// out: the answer is returned at once and the caller reports it. Timeouts are not retried: the operator's
// --timeout-* is the longest anyone waits, and repeating a hung call would multiply it.
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from "./client.js";

export interface RetryPolicy {
  maxRetries: number;
  maxRetryAfterMs: number;
  /** First backoff step; doubles each attempt, with full jitter. */
  baseDelayMs: number;
  retryStatus(status: number): boolean;
}

/** Largest single backoff step, whatever the attempt number. */
const MAX_BACKOFF_MS = 10_000;

/** Errors where the connection failed or broke before an answer arrived. */
const CONNECTION_ERRORS = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return CONNECTION_ERRORS.has(e?.code ?? "") || CONNECTION_ERRORS.has(e?.cause?.code ?? "");
}

export const READ_RETRY_STATUS = (s: number) => s === 429 || s === 502 || s === 503 || s === 504;
export const SPEND_RETRY_STATUS = (s: number) => s === 429 || s >= 500;

/** Retry-After in ms (seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Full jitter: uniformly between 0 and base·2^(attempt-1), capped. */
export function backoffMs(attempt: number, baseDelayMs: number, random: () => number = Math.random): number {
  return random() * Math.min(MAX_BACKOFF_MS, baseDelayMs * 2 ** (attempt - 1));
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => (clearTimeout(t), reject(signal!.reason));
    const t = setTimeout(() => (signal?.removeEventListener("abort", onAbort), resolve()), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export interface SendOutcome {
  response: UpstreamResponse;
  attempts: number;
  /** The answer was retryable but its Retry-After (ms) is longer than the policy waits, so it was not retried. */
  retryAfterTooLongMs?: number;
  /** The answer was retryable but every allowed retry was used. */
  exhausted?: boolean;
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
      if (!policy.retryStatus(response.statusCode)) return { response, attempts: attempt };
      const after = retryAfterMs(response.headers["retry-after"]);
      if (after !== undefined && after > policy.maxRetryAfterMs) return { response, attempts: attempt, retryAfterTooLongMs: after };
      if (attempt > policy.maxRetries) return { response, attempts: attempt, exhausted: policy.maxRetries > 0 };
      await response.body.dump();
      wait = after;
    } catch (err) {
      if (attempt > policy.maxRetries || !isConnectionError(err) || req.signal?.aborted) {
        // Tell the caller how many times it was sent (for the log and the agent's message).
        if (typeof err === "object" && err !== null && Object.isExtensible(err)) (err as { attempts?: number }).attempts = attempt;
        throw err;
      }
    }
    await sleep(wait ?? backoffMs(attempt, policy.baseDelayMs), req.signal);
  }
}
