// The JSON-RPC requests a session has in flight: admitted when a client's POST arrives, released when the
// server's answer leaves (or the client cancels, or the HTTP layer refuses the POST). It caps concurrent
// `tools/call` per session and tells a graceful shutdown when every call has been answered.
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

type Id = string | number;

function isId(v: unknown): v is Id {
  return typeof v === "string" || typeof v === "number";
}

const keyOf = (id: Id) => `${typeof id}:${id}`;

export type Admission = { ok: true; ids: Id[] } | { ok: false; id: Id | null };

export class CallTracker {
  /** key → method, for every request of the client not yet answered. */
  private readonly pending = new Map<string, string>();
  private toolCalls = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly maxToolCalls: number,
    /** Told whenever a request is answered, so a session's idle clock restarts from its last answer. */
    private readonly onSettled: () => void = () => {},
  ) {}

  /** Requests in flight (any method). */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Admits the requests in a client's POST body (one message or a batch) unless it would take the
   * session past its `tools/call` limit; then nothing is admitted. Notifications/cancelled release.
   */
  admit(body: unknown): Admission {
    const messages = (Array.isArray(body) ? body : [body]).filter((m): m is Record<string, unknown> => typeof m === "object" && m !== null);
    const requests = messages.filter((m) => typeof m.method === "string" && isId(m.id)) as { method: string; id: Id }[];
    const newToolCalls = requests.filter((r) => r.method === "tools/call" && !this.pending.has(keyOf(r.id))).length;
    if (newToolCalls > 0 && this.toolCalls + newToolCalls > this.maxToolCalls) {
      return { ok: false, id: requests.length === 1 ? requests[0]!.id : null };
    }
    for (const r of requests) {
      const key = keyOf(r.id);
      if (this.pending.has(key)) continue;
      this.pending.set(key, r.method);
      if (r.method === "tools/call") this.toolCalls++;
    }
    for (const m of messages) {
      if (m.method === "notifications/cancelled") {
        const requestId = (m.params as { requestId?: unknown } | undefined)?.requestId;
        if (isId(requestId)) this.release(requestId);
      }
    }
    return { ok: true, ids: requests.map((r) => r.id) };
  }

  release(id: Id): void {
    const key = keyOf(id);
    const method = this.pending.get(key);
    if (method === undefined) return;
    this.pending.delete(key);
    if (method === "tools/call") this.toolCalls--;
    this.onSettled();
    if (this.pending.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  releaseAll(): void {
    for (const key of [...this.pending.keys()]) {
      const method = this.pending.get(key)!;
      this.pending.delete(key);
      if (method === "tools/call") this.toolCalls--;
    }
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Sees the server's answers on their way out. Wraps the transport's `send` (the SDK offers no hook for
   * outgoing messages); call before `server.connect(transport)`.
   */
  watch(transport: Transport): void {
    const send = transport.send.bind(transport);
    transport.send = (message: JSONRPCMessage, options) => {
      if (!("method" in message) && "id" in message && isId(message.id)) this.release(message.id);
      return send(message, options);
    };
  }
}
