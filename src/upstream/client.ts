// The one HTTP client to the billing API: a keep-alive undici pool with every timeout chosen on purpose.
// It sends exactly the bytes it is given; retry policy and answer shaping live elsewhere.
//
// Timeouts: connect (undici's connect timeout), headers/first byte and total (our own deadlines, checked
// every 50 ms by one sweep for all requests — undici's parser timers above 1 s tick at ~0.5 s and start
// only once the request is written; undici's headersTimeout stays set as a backstop), and body = the
// longest silence between two chunks (undici's bodyTimeout). Each deadline aborts with an UpstreamTimeout
// naming its phase, so the error the agent gets says which limit was hit. A caller's cancellation (the
// SDK's AbortSignal) is noticed by the same sweep.
import { Agent, type Dispatcher } from "undici";
import type { Timeouts } from "../config.js";
import { UpstreamTimeout } from "./errors.js";
import { DeadlineSweep, type Watched } from "./sweep.js";

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
 * One request's abort switch, deadlines and caller-signal check, in one object. It stands in for an
 * AbortController: undici takes any EventEmitter-like `signal` with `aborted`/`reason` (it listens with
 * once('abort') and stops listening with removeListener), and an AbortController + AbortSignal per request
 * was a measurable share of a call's CPU (bench/profile.ts). Its deadlines and the caller's signal are
 * checked by the client's DeadlineSweep (sweep.ts), not by timers or listeners of its own.
 */
class RequestAbort implements Watched {
  aborted = false;
  reason: unknown = undefined;
  headersSeen = false;
  private listener: (() => void) | undefined;
  private readonly headersDeadline: number;
  private readonly totalDeadline: number;

  constructor(
    private readonly callerSignal: AbortSignal | undefined,
    private readonly timeouts: Timeouts,
    private readonly sweep: DeadlineSweep,
  ) {
    const now = performance.now();
    this.headersDeadline = now + timeouts.headersMs;
    this.totalDeadline = now + timeouts.totalMs;
  }

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

  check(now: number): void {
    // The UpstreamTimeout is built only when a deadline passes: an Error captures a stack trace, and two of
    // them per request were a measurable share of a call's CPU (bench/profile.ts).
    if (this.aborted) return; // already stopped; it leaves the sweep when its request or body closes
    if (this.callerSignal?.aborted) this.abort(this.callerSignal.reason);
    else if (!this.headersSeen && now >= this.headersDeadline) this.abort(new UpstreamTimeout("headers", this.timeouts.headersMs));
    else if (now >= this.totalDeadline) this.abort(new UpstreamTimeout("total", this.timeouts.totalMs));
  }

  /** The request is over (failed, or its body was read or dropped): stop watching it. */
  readonly done = (): void => {
    this.sweep.delete(this);
  };
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
  const sweep = new DeadlineSweep();
  const base = new URL(baseUrl);
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, "");
  // The headers of a call without an idempotency key depend only on the credential: built once per
  // credential seen last (one in stdio mode; per session over HTTP), not per call. undici only reads them.
  let lastCredential: string | undefined;
  let lastHeaders: Readonly<Record<string, string>> = {};
  const headersFor = (credential: string): Readonly<Record<string, string>> => {
    if (credential !== lastCredential) {
      lastHeaders = Object.freeze({ authorization: `Bearer ${credential}`, "content-type": "application/json", "user-agent": userAgent });
      lastCredential = credential;
    }
    return lastHeaders;
  };
  return {
    baseUrl,
    timeouts: Object.freeze({ ...timeouts }),
    async send(req) {
      const headers = req.idempotencyKey ? { ...headersFor(req.credential), "idempotency-key": req.idempotencyKey } : headersFor(req.credential);

      // The total budget bounds a stream that trickles forever; per-chunk silence is bodyTimeout.
      const call = new RequestAbort(req.signal, timeouts, sweep);
      if (req.signal?.aborted) call.abort(req.signal.reason);
      else sweep.add(call);

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
      call.headersSeen = true;
      // The total deadline and the caller's signal stay watched (the sweep) until the body is fully read or dropped.
      response.body.once("close", call.done);
      // A body aborted at the total deadline while nobody reads it must not become an uncaught 'error';
      // readers still get the error through their own listener or iterator.
      response.body.on("error", ignore);
      return response;
    },
    close: () => {
      sweep.stop();
      return agent.close();
    },
  };
}
