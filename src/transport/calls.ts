// The JSON-RPC requests a session has in flight: admitted when a client's POST arrives, released when the
// server's answer leaves (or the client cancels, or the HTTP layer refuses the POST). It caps concurrent
// `tools/call` per session and tells a graceful shutdown when every call has been answered. Calls past the
// cap may wait, first come first served, in a short bounded queue for a slot (admitQueued).
import type { Transport, JSONRPCMessage } from "@modelcontextprotocol/server";

type Id = string | number;

function isId(v: unknown): v is Id {
  return typeof v === "string" || typeof v === "number";
}

const keyOf = (id: Id) => `${typeof id}:${id}`;

export type Admission = { ok: true; ids: Id[] } | { ok: false; id: Id | null };

/** A POST whose tool calls wait for room. */
interface Waiter {
  body: unknown;
  /** Tool calls it brings. */
  need: number;
  settle(admission: Admission): void;
}

export class CallTracker {
  /** key → method, for every request of the client not yet answered. */
  private readonly pending = new Map<string, string>();
  private toolCalls = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly queue: Waiter[] = [];
  /** Tool calls waiting in the queue. */
  private queued = 0;

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
    const { requests, newToolCalls } = this.parse(body);
    if (newToolCalls > 0 && this.toolCalls + newToolCalls > this.maxToolCalls) {
      return { ok: false, id: requests.length === 1 ? requests[0]!.id : null };
    }
    return this.take(body);
  }

  /**
   * As admit, but a POST that does not fit now waits for room behind the ones already waiting, as long
   * as at most `maxQueued` tool calls wait in all and for at most `waitMs`; refused past either, or when
   * `signal` aborts (the client hung up) or the session closes.
   */
  admitQueued(body: unknown, maxQueued: number, waitMs: number, signal?: AbortSignal): Admission | Promise<Admission> {
    const { requests, newToolCalls } = this.parse(body);
    const refusal: Admission = { ok: false, id: requests.length === 1 ? requests[0]!.id : null };
    // Nothing waiting and room now, or no tool call to count: straight in (first come, first served).
    if (newToolCalls === 0 || (this.queue.length === 0 && this.toolCalls + newToolCalls <= this.maxToolCalls)) return this.take(body);
    if (newToolCalls > this.maxToolCalls || this.queued + newToolCalls > maxQueued || waitMs <= 0 || signal?.aborted) return refusal;
    return new Promise<Admission>((resolve) => {
      const leave = () => {
        const at = this.queue.indexOf(waiter);
        if (at < 0) return;
        this.queue.splice(at, 1);
        this.queued -= waiter.need;
        waiter.settle(refusal);
      };
      const timer = setTimeout(leave, waitMs);
      signal?.addEventListener("abort", leave, { once: true });
      const waiter: Waiter = {
        body,
        need: newToolCalls,
        settle: (admission) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", leave);
          resolve(admission);
        },
      };
      this.queue.push(waiter);
      this.queued += newToolCalls;
    });
  }

  private parse(body: unknown) {
    return parseWith(this.pending, body);
  }

  /** Hands freed slots to the queue's head, in order, while it fits. */
  private wakeQueue(): void {
    while (this.queue.length > 0 && this.toolCalls + this.queue[0]!.need <= this.maxToolCalls) {
      const waiter = this.queue.shift()!;
      this.queued -= waiter.need;
      waiter.settle(this.take(waiter.body));
    }
  }

  /** Records the body's requests as in flight (the caller checked there is room). */
  private take(body: unknown): Admission {
    const { messages, requests } = this.parse(body);
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
    if (method === "tools/call") {
      this.toolCalls--;
      this.wakeQueue();
    }
    this.onSettled();
    if (this.pending.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  releaseAll(): void {
    for (const waiter of this.queue.splice(0)) {
      this.queued -= waiter.need;
      const { requests } = this.parse(waiter.body);
      waiter.settle({ ok: false, id: requests.length === 1 ? requests[0]!.id : null });
    }
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

function parseWith(pending: ReadonlyMap<string, string>, body: unknown) {
  const messages = (Array.isArray(body) ? body : [body]).filter((m): m is Record<string, unknown> => typeof m === "object" && m !== null);
  const requests = messages.filter((m) => typeof m.method === "string" && isId(m.id)) as { method: string; id: Id }[];
  // Counted against what is pending now; a call already pending (a retransmission) brings nothing new.
  return { messages, requests, newToolCalls: requests.filter((r) => r.method === "tools/call" && !pending.has(keyOf(r.id))).length };
}
