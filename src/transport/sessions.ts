// The live sessions of the listener, of both kinds (Streamable HTTP, legacy SSE): each bound to the
// digest of the credential that opened it, with its own MCP server, transport and in-flight calls.
// Sessions with nothing in flight and no request for `idleMs` are closed by an unref'd sweep.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import type { Logger } from "../log.js";
import type { CallTracker } from "./calls.js";

export type Session =
  | (SessionBase & { kind: "streamable"; transport: StreamableHTTPServerTransport })
  | (SessionBase & { kind: "sse"; transport: SSEServerTransport });

interface SessionBase {
  id: string;
  /** SHA-256 of the opening credential; later requests must present the same one. */
  credential: Buffer;
  /** For logs. */
  caller: string;
  server: McpServer;
  calls: CallTracker;
  lastActive: number;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly idleMs: number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  add(session: Session): void {
    this.sessions.set(session.id, session);
    this.log.info("session opened", { session: session.id, transport: session.kind, caller: session.caller, sessions: this.sessions.size });
  }

  /** Called from the transport's onclose; safe to call more than once. */
  remove(id: string | undefined, reason: string): void {
    if (id === undefined) return;
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    session.calls.releaseAll();
    this.log.info("session closed", { session: id, transport: session.kind, caller: session.caller, reason, sessions: this.sessions.size });
  }

  /** Closes one session: its server, then its transport (whose onclose removes it). */
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
