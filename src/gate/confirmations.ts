// Pending confirmations of the page channel (the file store's part): asked once per call, decided by a
// person on the page, consumed at most once. Kept in memory on purpose: a restart forgets every
// confirmation, so nothing confirmed before a restart can release a spend after it (fail closed).
// Every check-and-mark below runs with no await inside, so concurrent callers cannot interleave.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "./clock.js";
import type { ConfirmationState, ConfirmationView, Confirmation as Snapshot, DecideOutcome } from "../store/types.js";

export type { ConfirmationState, ConfirmationView, DecideOutcome };

/** The live, mutable record; the store hands out snapshots of it. */
export interface Confirmation extends Omit<Snapshot, "state"> {
  state: ConfirmationState;
}

/** Open (pending or confirmed) confirmations at most, in one process or across replicas. */
export const MAX_OPEN = 1000;

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class ConfirmationStore {
  private readonly byId = new Map<string, Confirmation>();
  private readonly listeners = new Map<string, Set<(state: ConfirmationState) => void>>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /** Marks lapsed confirmations expired and forgets old ones, so the map stays bounded. */
  private sweep(): void {
    const now = this.clock();
    for (const c of this.byId.values()) {
      if (now >= c.expiresAt && (c.state === "pending" || c.state === "confirmed")) this.settle(c, "expired");
      if (now >= c.expiresAt + this.ttlMs) this.byId.delete(c.id);
    }
  }

  private settle(c: Confirmation, state: ConfirmationState): void {
    c.state = state;
    for (const fn of this.listeners.get(c.id) ?? []) fn(state);
    this.listeners.delete(c.id);
  }

  create(digest: string, tool: string, args: Record<string, unknown>, caller: string, view: ConfirmationView, credits: number | undefined): Confirmation {
    this.sweep();
    if (this.byId.size >= MAX_OPEN) throw new Error("too many open confirmations; try again later");
    const now = this.clock();
    const c: Confirmation = {
      id: randomBytes(16).toString("base64url"),
      token: randomBytes(24).toString("base64url"),
      digest,
      tool,
      args: structuredClone(args),
      caller,
      view,
      credits,
      createdAt: now,
      expiresAt: now + this.ttlMs,
      state: "pending",
    };
    this.byId.set(c.id, c);
    return c;
  }

  get(id: string): Confirmation | undefined {
    this.sweep();
    return this.byId.get(id);
  }

  /** The still-pending question for this exact call, so a repeat call is not asked twice. */
  findPending(digest: string): Confirmation | undefined {
    this.sweep();
    for (const c of this.byId.values()) if (c.digest === digest && c.state === "pending") return c;
    return undefined;
  }

  /** A person's decision on the page. Only a pending, unexpired confirmation with the right token moves. */
  decide(id: string, token: string, yes: boolean): DecideOutcome {
    this.sweep();
    const c = this.byId.get(id);
    if (!c) return "unknown";
    if (!sameSecret(token, c.token)) return "bad-token";
    if (c.state === "expired") return "expired";
    if (c.state !== "pending") return "already-decided";
    this.settle(c, yes ? "confirmed" : "declined");
    return yes ? "confirmed" : "declined";
  }

  /** A "no" given through the client: open confirmations (this one, or every one of this call) become declined. */
  close(which: { id: string } | { digest: string }): number {
    this.sweep(); // lapsed ones are expired first, and stay so
    let closed = 0;
    for (const c of this.byId.values()) {
      const match = "id" in which ? c.id === which.id : c.digest === which.digest;
      if (match && (c.state === "pending" || c.state === "confirmed")) {
        this.settle(c, "declined");
        closed++;
      }
    }
    return closed;
  }

  /**
   * Takes the confirmed, unexpired confirmation for this exact call and marks it used, with no await
   * between the check and the mark: of any number of concurrent callers, exactly one gets it.
   */
  consume(digest: string): Confirmation | undefined {
    this.sweep();
    for (const c of this.byId.values()) {
      if (c.digest === digest && c.state === "confirmed") {
        c.state = "used";
        return c;
      }
    }
    return undefined;
  }

  /** Resolves when the person decides or the confirmation lapses, or with "pending" after `waitMs`. */
  waitForDecision(id: string, waitMs: number, signal?: AbortSignal): Promise<ConfirmationState> {
    const c = this.byId.get(id);
    if (!c || c.state !== "pending") return Promise.resolve(c?.state ?? "expired");
    return new Promise((resolve) => {
      const done = (state: ConfirmationState) => {
        clearTimeout(timer);
        clearTimeout(lapse);
        signal?.removeEventListener("abort", onAbort);
        this.listeners.get(id)?.delete(done);
        resolve(state);
      };
      const onAbort = () => done("pending");
      const timer = setTimeout(() => done("pending"), waitMs);
      // Expiry is otherwise only noticed on access; make a waiter see it on time.
      const lapse = setTimeout(() => this.sweep(), Math.max(0, c.expiresAt - this.clock()) + 5);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (!this.listeners.has(id)) this.listeners.set(id, new Set());
      this.listeners.get(id)!.add(done);
    });
  }
}
