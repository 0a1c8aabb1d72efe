// The one HTTP client to the billing API: a keep-alive undici pool with every timeout chosen on purpose.
// It sends exactly the bytes it is given; retry policy and answer shaping live elsewhere.
import { Agent, type Dispatcher } from "undici";
import type { Timeouts } from "../config.js";

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
  const prefix = base.pathname.replace(/\/+$/, "");
  return {
    baseUrl,
    send(req) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${req.credential}`,
        "content-type": "application/json",
        accept: "application/json, application/x-ndjson, */*",
        "user-agent": userAgent,
      };
      if (req.idempotencyKey) headers["idempotency-key"] = req.idempotencyKey;
      // The total budget bounds a stream that trickles forever; per-chunk silence is bodyTimeout.
      const total = AbortSignal.timeout(timeouts.totalMs);
      const signal = req.signal ? AbortSignal.any([req.signal, total]) : total;
      return agent.request({
        origin: base.origin,
        path: `${prefix}/v1/op/${req.operationId}`,
        method: "POST",
        headers,
        body: req.body,
        signal,
      });
    },
    close: () => agent.close(),
  };
}
