// The single call path every tool goes through: re-check exposure → (spend: the gate) → upstream →
// shape → log. The SDK has already validated the arguments against the tool's strict schema.
import { isInputRequiredResult, type CallToolResult, type InputRequiredResult, type Server, type ServerContext } from "@modelcontextprotocol/server";
import type { ToolRecord } from "./record.js";
import type { Caller } from "./caller.js";
import type { UpstreamClient } from "../upstream/client.js";
import type { Logger } from "../log.js";
import { sendWithRetry, READ_RETRY_STATUS, type RetryPolicy, type SendOutcome } from "../upstream/retry.js";
import { shapeAnswer, toolError, MalformedAnswer, META_STATUS, META_ERROR, META_ATTEMPTS, META_GATE_OUTCOME, META_GATE_REASON, type ShapeLimits } from "./results.js";
import { describeNetworkError, networkErrorKind } from "../upstream/errors.js";
import { redact } from "../redact.js";
import { upstreamArgs } from "./page.js";
import { acceptedUnreadable, isSuccessStatus, FILE_TOO_LARGE } from "./accepted.js";

export type Extra = ServerContext;

/** Everything about one call that is not its arguments. */
export interface CallEnv {
  caller: Caller;
  extra: Extra;
  /** The low-level server of this session, for elicitation. */
  server: Server;
}

/**
 * The spend gate's contract: it alone decides whether a spend is forwarded, and forwards it itself. On
 * protocol 2026-07-28 its answer may be an input-required round (the question for the person).
 */
export interface SpendGate {
  spend(record: ToolRecord, args: Record<string, unknown>, env: CallEnv): Promise<CallToolResult | InputRequiredResult>;
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

export type Invoke = (record: ToolRecord, args: Record<string, unknown>, env: CallEnv) => Promise<CallToolResult | InputRequiredResult>;

const secondsText = (ms: number) => `${Math.ceil(ms / 1000)} s`;

/** What the agent should know about retries, in one sentence (empty when nothing notable happened). */
function retryNote(record: ToolRecord, outcome: SendOutcome, maxRetryAfterMs: number): string {
  if (outcome.retryAfterTooLongMs !== undefined) {
    return ` Not retried: the API asked to wait ${secondsText(outcome.retryAfterTooLongMs)}, longer than this server waits (${secondsText(maxRetryAfterMs)}); try again after that.`;
  }
  if (outcome.exhausted) return ` Tried ${outcome.attempts} times.`;
  const status = outcome.response.statusCode;
  if (record.sideEffect === "compute" && (status >= 500 || status === 429)) {
    return ` ${record.name} changes state, so it was sent once and not retried; check its effect before calling it again.`;
  }
  return "";
}

type RetrySettings = InvokeDeps["retry"];
const policyCache = new WeakMap<RetrySettings, { read: RetryPolicy; once: RetryPolicy }>();

/** The two retry policies of one set of settings, built once: reads retry, compute calls are sent once. */
function policiesOf(retry: RetrySettings): { read: RetryPolicy; once: RetryPolicy } {
  let p = policyCache.get(retry);
  if (!p) {
    p = { read: { ...retry, retryStatus: READ_RETRY_STATUS }, once: { ...retry, maxRetries: 0, retryStatus: READ_RETRY_STATUS } };
    policyCache.set(retry, p);
  }
  return p;
}

/** Forward one read or compute call and shape its answer. Reads retry; compute calls are sent once. */
export async function forward(
  deps: Omit<InvokeDeps, "gate">,
  record: ToolRecord,
  args: Record<string, unknown>,
  caller: Caller,
  signal?: AbortSignal,
): Promise<CallToolResult> {
  const policy = policiesOf(deps.retry)[record.sideEffect === "read" ? "read" : "once"];
  const secrets = [caller.credential];
  const limits: ShapeLimits = { ...deps.limits, secrets, baseUrl: deps.upstream.baseUrl, timeouts: deps.upstream.timeouts };
  const started = performance.now();
  let outcome: SendOutcome;
  try {
    outcome = await sendWithRetry(deps.upstream, { operationId: record.operationId, body: JSON.stringify(upstreamArgs(record, args, deps.limits.maxRows)), credential: caller.credential, signal }, policy);
  } catch (err) {
    const attempts = (err as { attempts?: number } | undefined)?.attempts ?? 1;
    const cancelled = signal?.aborted === true;
    const kind = cancelled ? "cancelled" : networkErrorKind(err);
    const what = cancelled ? "the call was cancelled before the API answered." : describeNetworkError(err, deps.upstream.baseUrl, deps.upstream.timeouts);
    const maybeApplied =
      record.sideEffect === "compute" && !cancelled && kind !== "connection_refused" && kind !== "dns" && kind !== "timeout_connect"
        ? ` The API may or may not have applied it; check before calling ${record.name} again.`
        : "";
    if (deps.log.enabled("debug")) deps.log.debug("upstream failed", { tool: record.name, operation: record.operationId, attempts, error: kind, ms: Math.round(performance.now() - started) });
    return toolError(redact(`${record.name} failed: ${what}${attempts > 1 ? ` Tried ${attempts} times.` : ""}${maybeApplied}`, secrets), {
      [META_STATUS]: null,
      [META_ERROR]: kind,
      [META_ATTEMPTS]: attempts,
    });
  }
  const status = outcome.response.statusCode;
  if (deps.log.enabled("debug")) {
    deps.log.debug("upstream answered", {
      tool: record.name,
      operation: record.operationId,
      status,
      attempts: outcome.attempts,
      content_type: outcome.response.headers["content-type"],
      ms: Math.round(performance.now() - started),
    });
  }
  try {
    const result = await shapeAnswer(record, args, outcome.response, limits);
    if (result.isError && record.sideEffect === "compute" && isSuccessStatus(status)) {
      // A 2xx answer shaped as an error (a file too big to pass on): the API still applied the call.
      return appliedUnreadable(record, status, FILE_TOO_LARGE, "file_too_large", outcome.attempts);
    }
    const note = result.isError ? retryNote(record, outcome, deps.retry.maxRetryAfterMs) : "";
    if (note) result.content = [...result.content, { type: "text" as const, text: note.trim() }];
    // The result is ours, freshly built by shapeAnswer: completed in place rather than copied.
    const meta = (result._meta ??= {});
    meta[META_STATUS] = status;
    meta[META_ATTEMPTS] = outcome.attempts;
    return result;
  } catch (err) {
    const kind = err instanceof MalformedAnswer ? err.kind : networkErrorKind(err);
    if (record.sideEffect === "compute" && isSuccessStatus(status)) {
      const why = err instanceof MalformedAnswer ? err.message : `its answer broke off: ${describeNetworkError(err, deps.upstream.baseUrl, deps.upstream.timeouts)}`;
      return appliedUnreadable(record, status, redact(why, secrets), kind, outcome.attempts);
    }
    const what = err instanceof MalformedAnswer ? `${err.message}.` : `the API answered HTTP ${status}, then ${describeNetworkError(err, deps.upstream.baseUrl, deps.upstream.timeouts)}`;
    return toolError(redact(`${record.name} failed: ${what}`, secrets), { [META_STATUS]: status, [META_ERROR]: kind, [META_ATTEMPTS]: outcome.attempts });
  }
}

/** A compute call the API answered 2xx, with an answer that could not be read: done, not failed (see accepted.ts). */
function appliedUnreadable(record: ToolRecord, status: number, why: string, kind: string, attempts: number): CallToolResult {
  const result = acceptedUnreadable({
    lines: [
      `${record.name}: the API accepted this call (HTTP ${status}) and applied it, but its answer could not be read: ${why.replace(/\.$/, "")}. ` +
        `Its output is not available; check its effect with a read tool before calling ${record.name} again.`,
    ],
    status,
    why,
    kind,
  });
  result._meta![META_ATTEMPTS] = attempts;
  return result;
}

/** Failures where the API or the network misbehaved (as opposed to a refusal the agent can act on). */
function isUpstreamFailure(result: CallToolResult): boolean {
  const status = result._meta?.[META_STATUS];
  const error = result._meta?.[META_ERROR];
  return (typeof status === "number" && status >= 500) || (error !== undefined && error !== "file_too_large");
}

export function createInvoke(deps: InvokeDeps): Invoke {
  return async (record, args, env) => {
    const started = performance.now();
    if (deps.log.enabled("debug")) deps.log.debug("tool call start", { tool: record.name, side_effect: record.sideEffect, args: Object.keys(args), caller: env.caller.fingerprint });
    let result: CallToolResult;
    if (!deps.isExposed(record.name)) {
      result = toolError(`${record.name} is not enabled on this server.`);
    } else if (record.sideEffect === "spend") {
      const answer = await deps.gate.spend(record, args, env);
      if (isInputRequiredResult(answer)) {
        // The person is being asked (2026-07-28): nothing was sent, the client comes back with the answer.
        deps.log.info("tool call", { tool: record.name, side_effect: record.sideEffect, ms: Math.round(performance.now() - started), upstream_status: null, outcome: "input_required", caller: env.caller.fingerprint });
        return answer;
      }
      result = answer;
    } else {
      result = await forward(deps, record, args, env.caller, env.extra.mcpReq.signal);
    }
    const status = result._meta?.[META_STATUS];
    const gateOutcome = result._meta?.[META_GATE_OUTCOME];
    const fields = {
      tool: record.name,
      side_effect: record.sideEffect,
      ms: Math.round(performance.now() - started),
      // The API's HTTP status of the answer this result came from; null when none arrived (nothing sent,
      // refused by the gate, or a network failure).
      upstream_status: typeof status === "number" ? status : null,
      // A spend the gate did not send says how it ended (declined, cancelled, expired, refused, pending,
      // busy) and why, in the gate's own fixed words; anything else is ok or error.
      outcome: typeof gateOutcome === "string" ? gateOutcome : result.isError ? "error" : "ok",
      ...(typeof result._meta?.[META_GATE_REASON] === "string" ? { reason: result._meta[META_GATE_REASON] } : {}),
      ...(typeof result._meta?.[META_ERROR] === "string" ? { error: result._meta[META_ERROR] } : {}),
      ...(typeof result._meta?.[META_ATTEMPTS] === "number" ? { attempts: result._meta[META_ATTEMPTS] } : {}),
      caller: env.caller.fingerprint,
    };
    // 401/403: the credential is revoked, expired or lacks the right; an operator wants to see that.
    if (isUpstreamFailure(result) || status === 401 || status === 403) deps.log.warn("tool call", fields);
    else deps.log.info("tool call", fields);
    return result;
  };
}
