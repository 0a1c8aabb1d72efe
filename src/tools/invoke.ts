// The single call path every tool goes through: re-check exposure → (spend: the gate) → upstream →
// shape → log. The SDK has already validated the arguments against the tool's strict schema.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { ToolRecord } from "./record.js";
import type { Caller } from "./caller.js";
import type { UpstreamClient } from "../upstream/client.js";
import type { Logger } from "../log.js";
import { sendWithRetry, READ_RETRY_STATUS, type RetryPolicy } from "../upstream/retry.js";
import { shapeAnswer, toolError, MalformedAnswer, type ShapeLimits } from "./results.js";
import { describeNetworkError } from "../upstream/errors.js";

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Everything about one call that is not its arguments. */
export interface CallEnv {
  caller: Caller;
  extra: Extra;
  /** The low-level server of this session, for elicitation. */
  server: Server;
}

/** The spend gate's contract: it alone decides whether a spend is forwarded, and forwards it itself. */
export interface SpendGate {
  spend(record: ToolRecord, args: Record<string, unknown>, env: CallEnv): Promise<CallToolResult>;
}

export interface InvokeDeps {
  upstream: UpstreamClient;
  gate: SpendGate;
  log: Logger;
  limits: Omit<ShapeLimits, "secrets">;
  retry: Pick<RetryPolicy, "maxRetries" | "maxRetryAfterMs" | "baseDelayMs">;
  /** The exposure decision, asked again at call time (a tool can be disabled after listing). */
  isExposed(name: string): boolean;
}

export type Invoke = (record: ToolRecord, args: Record<string, unknown>, env: CallEnv) => Promise<CallToolResult>;

/** Forward one read or compute call and shape its answer. Reads retry; compute calls are sent once. */
export async function forward(
  deps: Omit<InvokeDeps, "gate">,
  record: ToolRecord,
  args: Record<string, unknown>,
  caller: Caller,
  signal?: AbortSignal,
): Promise<CallToolResult> {
  const policy: RetryPolicy = { ...deps.retry, maxRetries: record.sideEffect === "read" ? deps.retry.maxRetries : 0, retryStatus: READ_RETRY_STATUS };
  try {
    const { response } = await sendWithRetry(deps.upstream, { operationId: record.operationId, body: JSON.stringify(args), credential: caller.credential, signal }, policy);
    return await shapeAnswer(record, args, response, { ...deps.limits, secrets: [caller.credential] });
  } catch (err) {
    if (err instanceof MalformedAnswer) return toolError(`${record.name} failed: ${err.message}.`);
    return toolError(`${record.name} failed: ${describeNetworkError(err, deps.upstream.baseUrl)}`);
  }
}

export function createInvoke(deps: InvokeDeps): Invoke {
  return async (record, args, env) => {
    const started = performance.now();
    let result: CallToolResult;
    if (!deps.isExposed(record.name)) {
      result = toolError(`${record.name} is not enabled on this server.`);
    } else if (record.sideEffect === "spend") {
      result = await deps.gate.spend(record, args, env);
    } else {
      result = await forward(deps, record, args, env.caller, env.extra.signal);
    }
    deps.log.info("tool call", {
      tool: record.name,
      side_effect: record.sideEffect,
      ms: Math.round(performance.now() - started),
      upstream_status: (result._meta?.["com.geopera/upstream_status"] as number | undefined) ?? (result.isError ? "error" : "ok"),
      caller: env.caller.fingerprint,
    });
    return result;
  };
}
