// The live sessions of the listener, of both kinds (Streamable HTTP, legacy SSE): each bound to the
// digest of the credential that opened it, with its own MCP server, transport and in-flight calls.
// Sessions with nothing in flight and no request for `idleMs` are closed by an unref'd sweep; at an
// address's limit its stalest idle session may be closed early to admit a new one (http.ts).
// Session slots are counted per remote address, from the moment a new session is admitted (a
// reservation, before the transport has even accepted the initialize) until it closes or expires.
import type { SSEServerTransport } from "@modelcontextprotocol/server-legacy/sse";
import type { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import type { McpServer } from "@modelcontextprotocol/server";
import type { Logger } from "../log.js";
import type { CallTracker } from "./calls.js";

export type Session =
  | (SessionBase & { kind: "streamable"; transport: NodeStreamableHTTPServerTransport })
  | (SessionBase & { kind: "sse"; transport: SSEServerTransport });

interface SessionBase {
  id: string;
  /** SHA-256 of the opening credential; later requests must present the same one. */
  credential: Buffer;
  /** For logs. */
  caller: string;
  /** The remote address the session was opened from; its slot counts against that address. */
  address: string;
  server: McpServer;
  calls: CallTracker;
  lastActive: number;
}

/** A session slot held for one address while its session is being opened. */
export interface Reservation {
  readonly address: string;
  /** Set once the slot is handed to a session (add) or given back (cancel). */
  settled: boolean;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  /** Open sessions plus reservations, per remote address. */
  private readonly perAddress = new Map<string, number>();
  /** Reservations not yet settled. */
  private opening = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly idleMs: number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Open sessions plus sessions being opened: what the global session limit counts. */
  get load(): number {
    return this.sessions.size + this.opening;
  }

  /** Open sessions plus sessions being opened from this address. */
  countFor(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /**
   * Takes a slot for `address` at once, so concurrent opens from one address cannot all pass a check
   * made before any of them is registered. Hand it to `add`, or give it back with `cancel`.
   */
  reserve(address: string): Reservation {
    this.opening++;
    this.perAddress.set(address, this.countFor(address) + 1);
    return { address, settled: false };
  }

  /** Gives an unused reservation's slot back; a no-op once it has been settled. */
  cancel(reservation: Reservation): void {
    if (reservation.settled) return;
    reservation.settled = true;
    this.opening--;
    this.free(reservation.address);
  }

  private free(address: string): void {
    const n = this.countFor(address) - 1;
    if (n > 0) this.perAddress.set(address, n);
    else this.perAddress.delete(address);
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /** Registers a session in the slot its reservation holds (the reservation's address is the session's). */
  add(session: Session, reservation: Reservation): void {
    if (reservation.settled) throw new Error("session reservation already used");
    reservation.settled = true;
    this.opening--;
    this.sessions.set(session.id, session);
    this.log.info("session opened", { session: session.id, transport: session.kind, caller: session.caller, sessions: this.sessions.size });
  }

  /** Called from the transport's onclose; safe to call more than once. */
  remove(id: string | undefined, reason: string): void {
    if (id === undefined) return;
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.free(session.address);
    session.calls.releaseAll();
    this.log.info("session closed", { session: id, transport: session.kind, caller: session.caller, reason, sessions: this.sessions.size });
  }

  /** The open sessions opened with this credential (by digest). */
  withCredential(credential: Buffer): Session[] {
    return [...this.sessions.values()].filter((s) => s.credential.equals(credential));
  }

  /**
   * The least recently active session opened from `address` with nothing in flight (a call waiting for a
   * person's confirmation is in flight) and no activity since `idleSince` (epoch ms), if any.
   */
  leastRecentIdle(address: string, idleSince: number): Session | undefined {
    let found: Session | undefined;
    for (const s of this.sessions.values()) {
      if (s.address !== address || s.calls.size > 0 || s.lastActive > idleSince) continue;
      if (!found || s.lastActive < found.lastActive) found = s;
    }
    return found;
  }

  /** Closes one session at once: it leaves the registry (its slot is free on return), then its server closes. */
  async close(session: Session, reason: string): Promise<void> {
    this.remove(session.id, reason);
    await session.server.close().catch((err: Error) => this.log.warn("session close failed", { session: session.id, error: err.message }));
  }

  /** Requests in flight across all sessions. */
  inFlight(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.calls.size;
    return n;
  }

  /** Resolves when no session has anything in flight. */
  async settled(): Promise<void> {
    while (this.inFlight() > 0) await Promise.all([...this.sessions.values()].map((s) => s.calls.idle()));
  }

  startSweeper(): void {
    const every = Math.max(50, Math.min(60_000, Math.floor(this.idleMs / 2)));
    this.sweeper = setInterval(() => void this.sweep(Date.now()), every);
    this.sweeper.unref();
  }

  async sweep(now: number): Promise<void> {
    const idle = [...this.sessions.values()].filter((s) => s.calls.size === 0 && now - s.lastActive >= this.idleMs);
    await Promise.all(idle.map((s) => this.close(s, "idle")));
  }

  async closeAll(reason: string): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => this.close(s, reason)));
  }
}
