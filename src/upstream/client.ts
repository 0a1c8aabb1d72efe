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

/**
 * One request's abort switch, timers and caller-signal link, in one object. It stands in for an
 * AbortController: undici takes any EventEmitter-like `signal` with `aborted`/`reason` (it listens with
 * once('abort') and stops listening with removeListener), and an AbortController + AbortSignal per request
 * was a measurable share of a call's CPU (bench/profile.ts). It is also the caller signal's listener
 * (handleEvent) and the timers' argument, so a request allocates no closures for them.
 */
class RequestAbort {
  aborted = false;
  reason: unknown = undefined;
  headersTimer: NodeJS.Timeout | undefined;
  totalTimer: NodeJS.Timeout | undefined;
  private listener: (() => void) | undefined;

  constructor(
    private readonly callerSignal: AbortSignal | undefined,
    private readonly timeouts: Timeouts,
  ) {}

  // The EventEmitter subset undici uses (one listener: the request's own).
  on(_event: "abort", listener: () => void): this {
    this.listener = listener;
    return this;
  }
  once(event: "abort", listener: () => void): this {
    return this.on(event, listener);
  }
  removeListener(_event: "abort", listener: () => void): this {
    if (this.listener === listener) this.listener = undefined;
    return this;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }

  /** The caller's signal fired. */
  handleEvent(): void {
    this.abort(this.callerSignal!.reason);
  }

  /** The request is over (failed, or its body was read or dropped): stop watching it. */
  readonly done = (): void => {
    clearTimeout(this.headersTimer);
    clearTimeout(this.totalTimer);
    this.callerSignal?.removeEventListener("abort", this);
  };

  static onHeadersTimeout(self: RequestAbort): void {
    // The UpstreamTimeout is built only when its timer fires: an Error captures a stack trace, and two of
    // them per request were a measurable share of a call's CPU (bench/profile.ts).
    self.abort(new UpstreamTimeout("headers", self.timeouts.headersMs));
  }
  static onTotalTimeout(self: RequestAbort): void {
    self.abort(new UpstreamTimeout("total", self.timeouts.totalMs));
  }
}

const ignore = () => {};

export function createUpstreamClient(baseUrl: string, timeouts: Timeouts, userAgent: string): UpstreamClient {
  const agent = new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyMs,
    keepAliveTimeout: 30_000,
    connections: 64,
  });
  const base = new URL(baseUrl);
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

      const call = new RequestAbort(req.signal, timeouts);
      call.headersTimer = setTimeout(RequestAbort.onHeadersTimeout, timeouts.headersMs, call).unref();
      // The total budget bounds a stream that trickles forever; per-chunk silence is bodyTimeout.
      call.totalTimer = setTimeout(RequestAbort.onTotalTimeout, timeouts.totalMs, call).unref();
      if (req.signal?.aborted) call.abort(req.signal.reason);
      else req.signal?.addEventListener("abort", call, { once: true });

      let response: UpstreamResponse;
      try {
        response = await agent.request({
          origin,
          path: `${prefix}/v1/op/${req.operationId}`,
          method: "POST",
          headers,
          body: req.body,
          signal: call as unknown as AbortSignal,
        });
      } catch (err) {
        call.done();
        throw err;
      }
      clearTimeout(call.headersTimer);
      // The total timer and the caller's signal keep watching the body until it is fully read or dropped.
      response.body.once("close", call.done);
      // A body aborted by the total timer while nobody reads it must not become an uncaught 'error';
      // readers still get the error through their own listener or iterator.
      response.body.on("error", ignore);
      return response;
    },
    close: () => agent.close(),
  };
}
