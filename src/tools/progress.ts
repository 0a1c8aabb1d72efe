// Keeps a long tool call alive on the client's side: while a call is pending — the gate waiting for a
// person (form or URL elicitation, up to --confirm-wait), a read streaming a big answer — a caller that
// gave `_meta.progressToken` gets `notifications/progress` every interval. Clients that reset their
// request timeout on progress (the SDK's `resetTimeoutOnProgress`) then keep the call open instead of
// giving up after their default 60 s. One place for every tool call (register.ts), every transport.
//
// Progress is only ever a heartbeat: it counts up and carries no figure from the call. A client that gives
// up anyway cancels the request; the gate then forwards nothing, whatever answer arrives late.
import type { Extra } from "./invoke.js";

/** Default heartbeat: under the 5 s the product promises, with room for a busy event loop. */
export const PROGRESS_INTERVAL_MS = 4_000;

/** Runs `work`, sending a progress notification every `everyMs` until it settles or the call is cancelled. */
export async function withProgress<T>(extra: Extra, everyMs: number, work: () => Promise<T>): Promise<T> {
  const token = extra.mcpReq._meta?.progressToken;
  if (token === undefined || !(everyMs > 0)) return work();
  const started = performance.now();
  let progress = 0;
  const timer = setInterval(() => {
    if (extra.mcpReq.signal.aborted) return clearInterval(timer);
    progress++;
    const seconds = Math.round((performance.now() - started) / 1000);
    // A notification that cannot be delivered (the stream has gone) changes nothing about the call.
    extra.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress, message: `Still working (${seconds} s)` } }).catch(() => {});
  }, everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
