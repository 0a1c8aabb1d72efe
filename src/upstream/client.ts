// The one HTTP client to the billing API: a keep-alive undici pool with every timeout chosen on purpose.
// It sends exactly the bytes it is given; retry policy and answer shaping live elsewhere.
//
// Timeouts: connect (undici's connect timeout), headers/first byte and total (our own timers, so they fire
// on time — undici's parser timers above 1 s tick at ~0.5 s and start only once the request is written;
// undici's headersTimeout stays set as a backstop), and body = the longest silence between two chunks
// (undici's bodyTimeout). Each timer aborts with an UpstreamTimeout naming its phase, so the error the
// agent gets says which limit was hit.
import { Agent, type Dispatcher } from "undici";
import type { Timeouts } from "../config.js";
import { UpstreamTimeout } from "./errors.js";

export interface UpstreamRequest {
  operationId: string;
  /** The JSON body, already serialised: a spend's retry must send byte-identical bytes. */
  body: string;
  credential: string;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export type UpstreamResponse = Dispatcher.ResponseData;

export interface UpstreamClient {
  readonly baseUrl: string;
  readonly timeouts: Readonly<Timeouts>;
  send(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function createUpstreamClient(baseUrl: string, timeouts: Timeouts, userAgent: string): UpstreamClient {
  const agent = new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyMs,
    keepAliveTimeout: 30_000,
    connections: 64,
  });
  const base = new URL(baseUrl);
  const onHeadersTimeout = (abort: (reason: unknown) => void) => abort(new UpstreamTimeout("headers", timeouts.headersMs));
  const onTotalTimeout = (abort: (reason: unknown) => void) => abort(new UpstreamTimeout("total", timeouts.totalMs));
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, "");
  return {
    baseUrl,
    timeouts: Object.freeze({ ...timeouts }),
    async send(req) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${req.credential}`,
        "content-type": "application/json",
        accept: "application/json, application/x-ndjson, */*",
        "user-agent": userAgent,
      };
      if (req.idempotencyKey) headers["idempotency-key"] = req.idempotencyKey;

      const controller = new AbortController();
      const abort = (reason: unknown) => controller.abort(reason);
      // The UpstreamTimeout is built only when its timer fires: an Error captures a stack trace, and two of
      // them per request were a measurable share of a call's CPU (bench/profile.ts).
      const headersTimer = setTimeout(onHeadersTimeout, timeouts.headersMs, abort).unref();
      // The total budget bounds a stream that trickles forever; per-chunk silence is bodyTimeout.
      const totalTimer = setTimeout(onTotalTimeout, timeouts.totalMs, abort).unref();
      const onCallerAbort = () => abort(req.signal!.reason);
      if (req.signal?.aborted) abort(req.signal.reason);
      else req.signal?.addEventListener("abort", onCallerAbort, { once: true });
      const done = () => {
        clearTimeout(headersTimer);
        clearTimeout(totalTimer);
        req.signal?.removeEventListener("abort", onCallerAbort);
      };

      let response: UpstreamResponse;
      try {
        response = await agent.request({
          origin,
          path: `${prefix}/v1/op/${req.operationId}`,
          method: "POST",
          headers,
          body: req.body,
          signal: controller.signal,
        });
      } catch (err) {
        done();
        throw err;
      }
      clearTimeout(headersTimer);
      // The total timer and the caller's signal keep watching the body until it is fully read or dropped.
      response.body.once("close", done);
      // A body aborted by the total timer while nobody reads it must not become an uncaught 'error';
      // readers still get the error through their own listener or iterator.
      response.body.on("error", () => {});
      return response;
    },
    close: () => agent.close(),
  };
}
