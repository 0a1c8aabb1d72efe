import { authenticate, requireScope } from "./auth.js";
import { HttpError, errorReply, type BufferedReply, type Reply } from "./http.js";
import type { Operation } from "./operations.js";
import type { SandboxState } from "./state.js";
import { parseInput } from "./validate.js";

export interface CallRequest {
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  rawBody: string;
  bodyTooLarge: boolean;
}

export interface Outcome {
  reply: Reply;
  /** True only for a fresh, successful spend: replays and failures move no money. */
  charged: boolean;
}

/** Runs one known operation through auth, scope, body checks and idempotency. */
export function execute(state: SandboxState, op: Operation, call: CallRequest): Outcome {
  try {
    return executeOrThrow(state, op, call);
  } catch (err) {
    if (err instanceof HttpError) return { reply: errorReply(err), charged: false };
    throw err;
  }
}

function executeOrThrow(state: SandboxState, op: Operation, call: CallRequest): Outcome {
  const caller = authenticate(call.authorization);
  requireScope(caller, op.scope);
  if (call.bodyTooLarge) {
    throw new HttpError(413, "payload_too_large", "The request body is larger than the 1 MB limit.");
  }
  const input = parseInput(call.rawBody);
  if (!op.spend) return { reply: op.run(state, input), charged: false };

  const key = call.idempotencyKey;
  if (key === undefined) return fresh(op.run(state, input));

  const stored = state.idempotency.lookup(caller.token, key);
  if (stored !== undefined) {
    // Byte-for-byte comparison: a retry must resend exactly what it sent, or it is a different request.
    if (stored.operationId !== op.id || stored.rawBody !== call.rawBody) {
      throw new HttpError(
        422,
        "idempotency_key_reused",
        `Idempotency-Key ${key} was already used with a different request body`,
      );
    }
    return { reply: replayed(stored.reply), charged: false };
  }

  const reply = op.run(state, input);
  // Failures are not stored, so a corrected retry with the same key can still go through.
  if (reply.status >= 200 && reply.status < 300) {
    state.idempotency.save(caller.token, key, { operationId: op.id, rawBody: call.rawBody, reply });
  }
  return fresh(reply);
}

function fresh(reply: BufferedReply): Outcome {
  return { reply, charged: reply.status >= 200 && reply.status < 300 };
}

function replayed(reply: BufferedReply): BufferedReply {
  return { ...reply, headers: { ...reply.headers, "idempotent-replayed": "true" } };
}
