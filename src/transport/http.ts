// HTTP: one node:http listener serving Streamable HTTP (/mcp), the legacy HTTP+SSE transport (/sse and
// /messages), /healthz, and the caller's extra browser routes (/confirm/…). Every MCP request carries
// its own bearer credential; a session is opened by one credential — one the API accepts, checked before
// the session takes a slot (verify.ts) — and answers to no other. Tool calls past the per-session limit
// wait in a short queue before a 429 (calls.ts). One McpServer per session, built by the factory it is
// given: this file knows nothing about billing.
import { protoKeyProblem } from "./protoKey.js";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { SSEServerTransport } from "@modelcontextprotocol/server-legacy/sse";
import { NodeStreamableHTTPServerTransport, toNodeHandler } from "@modelcontextprotocol/node";
import { createMcpHandler, isInitializeRequest, isLegacyRequest } from "@modelcontextprotocol/server";
import type { AuthInfo, McpServer } from "@modelcontextprotocol/server";
import type { RequestScope } from "../server.js";
import type { Logger } from "../log.js";
import { bearerToken, readBearer, challenge, credentialDigest, sameCredential, fingerprintOf, GEOPERA_CREDENTIAL } from "./bearer.js";
import { createOriginPolicy, isLoopbackHost } from "./origin.js";
import { readJsonBody, BodyTooLarge, BodyNotJson } from "./body.js";
import { sendJson, sendRpcError, RPC } from "./replies.js";
import { CallTracker } from "./calls.js";
import { SessionRegistry, type Session, type Reservation } from "./sessions.js";
import { remoteAddressOf } from "./remote.js";
import { CredentialCheck, type VerifyCredential } from "./verify.js";
import type { OAuthFront, Principal } from "../oauth/front.js";
import type { Tier } from "../oauth/provider.js";

/** What an OAuth grant allows: the tools of its tier, and the person's own daily credit limit if they set one. */
export interface GrantAccess {
  tier: Tier;
  maxCreditsPerDay?: number;
}

/** What a 2026-07-28 request's server is built for: its principal, and the digest its sessions and caches key on. */
interface ModernCaller {
  principal: Principal;
  digest: Buffer;
}

const accessOf = (p: Principal): GrantAccess | undefined => (p.tier ? { tier: p.tier, ...(p.maxCreditsPerDay !== undefined ? { maxCreditsPerDay: p.maxCreditsPerDay } : {}) } : undefined);

export interface HttpServeOptions {
  /**
   * What `GET /` answers (after the Host and Origin checks): a short JSON pointing a person who opened
   * the server's address to its endpoints. Omitted: 404, as before.
   */
  about?: Readonly<Record<string, unknown>>;
  host: string;
  /** 0 = ephemeral; the bound port is in the returned url. */
  port: number;
  /** Browser origins allowed besides loopback ones. */
  allowedOrigins: readonly string[];
  /** Base URL people reach this listener at (behind a reverse proxy): its host is an accepted Host. */
  publicUrl?: string;
  maxRequestBytes: number;
  /** Serve 2026-07-28 requests on POST /mcp (default true); false: 2025 sessions only. */
  serveModern?: boolean;
  maxConcurrentCallsPerSession: number;
  sessionIdleMs: number;
  shutdownGraceMs: number;
  /** Open sessions at most (both kinds); further ones get 503. Default 1000. */
  maxSessions?: number;
  /**
   * Open sessions (both kinds) at most per remote address (an IPv6 client is its /64); further ones get
   * 429. Default 32. Without verifyCredential, bearer tokens are not checked when a session opens, and
   * this is all that keeps one client with made-up tokens from holding every slot for the idle window.
   */
  maxSessionsPerAddress?: number;
  /**
   * At the per-address limit, a new session from that address closes the address's least recently active
   * session that has nothing in flight and has had no request for this long, instead of being refused.
   * Clients that never end their sessions (Claude Code 2.1 sends no DELETE when it exits) would otherwise
   * lock their own address out for the whole idle window. Default 60 s.
   */
  evictIdleAfterMs?: number;
  /**
   * Count sessions against the last X-Forwarded-For hop instead of the TCP peer (only behind a reverse
   * proxy that sets it; otherwise any client could claim any address). Default false.
   */
  trustProxy?: boolean;
  /**
   * Asks the API whether it accepts a bearer credential. Given, a session opens only for an accepted
   * one; the verdict is cached by credential digest (credentialCheck), refusals included, so a rejected
   * token never holds a session slot. Absent: credentials are not checked when a session opens.
   */
  verifyCredential?: VerifyCredential;
  /** Cache lifetimes and budget of those checks (defaults: accepted 300 s, rejected 60 s, 64 at once, 4 per address, 10 s each). */
  credentialCheck?: { acceptedTtlMs?: number; rejectedTtlMs?: number; maxPending?: number; maxPendingPerAddress?: number; timeoutMs?: number };
  /**
   * Tool calls past maxConcurrentCallsPerSession wait for a free slot — at most this many per session,
   * for at most callQueueWaitMs — before a 429. Default: as many as maxConcurrentCallsPerSession, 5 s.
   */
  callQueue?: number;
  callQueueWaitMs?: number;
  /** Interval of the `: keep-alive` comment on open legacy SSE streams, so proxies keep them. Default 15 s. */
  sseKeepAliveMs?: number;
  /**
   * Builds one MCP server bound to one caller credential: for a 2025 session (it lives as long as the
   * session), or for one 2026-07-28 request (it serves that request only).
   */
  createSessionServer(credential: string, hooks: SessionHooks, scope?: RequestScope, grant?: GrantAccess): McpServer;
  /**
   * --auth oauth|both: the authorization server's routes and the access-token check. `acceptKeys`
   * (both): a bearer shaped like a Geopera credential is used as before; any other must be our token.
   */
  oauth?: { front: OAuthFront; acceptKeys: boolean };
  /**
   * Browser routes under /confirm/, served WITHOUT bearer auth (Host and Origin checks still apply).
   * Returns true if it handled the request; false → 404.
   */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  log: Logger;
}

/** What a session's server may tell the listener about its session. */
export interface SessionHooks {
  /**
   * The API refused the session's credential (a call answered 401: revoked or expired since the session
   * opened). The session closes once its calls are answered, and new sessions with it are refused.
   */
  credentialRejected(): void;
}

export interface HttpHandle {
  url: string;
  /**
   * Graceful: refuses new sessions and new requests at once (503, healthz "draining"), lets in-flight
   * calls finish for up to shutdownGraceMs, then closes the sessions and the listener. The socket keeps
   * accepting connections during the grace on purpose: the answer to an elicitation (or a person's click
   * on the confirmation page) that an in-flight call waits for arrives on a new connection.
   */
  close(): Promise<void>;
}

const MCP = "/mcp";
const SSE = "/sse";
const MESSAGES = "/messages";

export async function serveHttp(opts: HttpServeOptions): Promise<HttpHandle> {
  const { log } = opts;
  const sessions = new SessionRegistry(log, opts.sessionIdleMs);
  const maxSessions = opts.maxSessions ?? 1000;
  const maxSessionsPerAddress = opts.maxSessionsPerAddress ?? 32;
  const evictIdleAfterMs = opts.evictIdleAfterMs ?? 60_000;
  const trustProxy = opts.trustProxy ?? false;
  const sseKeepAliveMs = opts.sseKeepAliveMs ?? 15_000;
  const queue = { size: opts.callQueue ?? opts.maxConcurrentCallsPerSession, waitMs: opts.callQueueWaitMs ?? 5_000 };
  const cc = opts.credentialCheck ?? {};
  const credentials = opts.verifyCredential
    ? new CredentialCheck({
        verify: opts.verifyCredential,
        acceptedTtlMs: cc.acceptedTtlMs ?? 300_000,
        rejectedTtlMs: cc.rejectedTtlMs ?? 60_000,
        maxPending: cc.maxPending ?? 64,
        maxPendingPerAddress: cc.maxPendingPerAddress ?? 4,
        timeoutMs: cc.timeoutMs ?? 10_000,
      })
    : undefined;
  // 2026-07-28 on POST /mcp: no session, one server per request from the same factory, bound to the bearer
  // of that request (passed as authInfo; the SDK verifies nothing itself). The SDK checks the version
  // envelope and the Mcp-Method / Mcp-Name headers against the body. 2025 traffic never reaches it.
  const modern = createMcpHandler(
    (ctx) => {
      // handleModern put them there; route() lets no request through without them.
      const caller = ctx.authInfo?.extra as ModernCaller | undefined;
      if (!caller) throw new Error("2026-07-28 request without a credential");
      const headers = ctx.requestInfo?.headers;
      const scope = { method: headers?.get("mcp-method") ?? undefined, name: headers?.get("mcp-name") ?? undefined };
      return opts.createSessionServer(caller.principal.credential, { credentialRejected: () => closeRevoked(caller.digest, caller.principal) }, scope, accessOf(caller.principal));
    },
    { legacy: "reject", maxRequestBodySize: opts.maxRequestBytes, onerror: (err) => log.debug("2026-07-28 request error", { error: err.message }) },
  );
  const serveModern = toNodeHandler(modern, { maxRequestBodySize: opts.maxRequestBytes });
  const serveModernRequests = opts.serveModern ?? true;

  // A slot frees when one of the address's sessions closes or expires: at the latest one idle window on.
  const perAddressRetryAfter = String(Math.max(1, Math.min(60, Math.ceil(opts.sessionIdleMs / 1000))));
  /** Responses still being written, other than long-lived listening streams (GET /sse, GET /mcp). */
  const inFlight = new Set<ServerResponse>();
  let onQuiet: (() => void) | undefined;
  const quiet = () => (inFlight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onQuiet = resolve)));
  let draining = false;
  let boundPort = opts.port;

  const policy = createOriginPolicy({
    bindHost: opts.host,
    port: () => boundPort,
    // The confirmation page is served from the public URL: its own form posts carry that Origin.
    allowedOrigins: [...opts.allowedOrigins, ...(opts.publicUrl ? [new URL(opts.publicUrl).origin] : [])],
    allowedHosts: opts.publicUrl ? [new URL(opts.publicUrl).host] : [],
  });

  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, code: number, message: string, reason: string, headers: Record<string, string> = {}, id: string | number | null = null, fields: Record<string, unknown> = {}) => {
    log.info("http refused", { method: req.method, path: pathOf(req), status, reason, ...fields });
    sendRpcError(res, status, code, message, headers, id);
  };

  /** New sessions and new requests while draining: 503, and come back to another replica or later. */
  const refuseDraining = (req: IncomingMessage, res: ServerResponse, id: string | number | null = null) =>
    refuse(req, res, 503, RPC.serverError, "Server is shutting down", "draining", { Connection: "close", "Retry-After": "5" }, id);

  /**
   * Admits a new session (either kind) or writes the refusal: 503 while draining or with every slot
   * taken, 429 when this remote address holds its share and none of its sessions is stale enough to close
   * (evictIdleAfterMs). Admitted, the slot is reserved at once.
   */
  const admitSession = (req: IncomingMessage, res: ServerResponse, id: string | number | null = null): Reservation | undefined => {
    if (draining) {
      refuseDraining(req, res, id);
      return undefined;
    }
    const address = remoteAddressOf(req, trustProxy);
    if (sessions.countFor(address) >= maxSessionsPerAddress) {
      // Room is made from the address's own stale sessions only, never another client's.
      const stale = sessions.leastRecentIdle(address, Date.now() - evictIdleAfterMs);
      if (stale) void sessions.close(stale, "evicted");
    }
    if (sessions.countFor(address) >= maxSessionsPerAddress) {
      const message = `Too many open sessions from this address (limit ${maxSessionsPerAddress}); close one or wait for one to expire`;
      refuse(req, res, 429, RPC.serverError, message, "address session limit", { "Retry-After": perAddressRetryAfter }, id, { address });
      return undefined;
    }
    if (sessions.load >= maxSessions) {
      refuse(req, res, 503, RPC.serverError, "Too many open sessions", "session limit", { "Retry-After": "5" }, id);
      return undefined;
    }
    return sessions.reserve(address);
  };

  /**
   * Before a session opens: the API must accept its credential (cached verdicts answer at once). Writes
   * the refusal and returns false otherwise: 401 for a refused credential, 503 when the API could not say
   * or too many checks are running. Runs before a slot is reserved, so a refused token never holds one.
   */
  const credentialAccepted = async (req: IncomingMessage, res: ServerResponse, token: string, id: string | number | null = null): Promise<boolean> => {
    if (!credentials) return true;
    if (draining) {
      refuseDraining(req, res, id);
      return false;
    }
    const address = remoteAddressOf(req, trustProxy);
    const digest = credentialDigest(token);
    const verdict = await credentials.check(token, digest.toString("hex"), address);
    if (verdict === "accepted") return true;
    const fields = { address, caller: fingerprintOf(digest) };
    if (verdict === "rejected") {
      const message = "Unauthorized: the billing API does not accept this credential";
      refuse(req, res, 401, RPC.serverError, message, "credential rejected", { "WWW-Authenticate": challenge("rejected") }, id, fields);
    } else if (verdict === "busy") {
      refuse(req, res, 503, RPC.serverError, "Too many new credentials are being checked right now; try again shortly", "credential check busy", { "Retry-After": "1" }, id, fields);
    } else {
      refuse(req, res, 503, RPC.serverError, "The billing API could not confirm this credential right now; try again shortly", "credential check failed", { "Retry-After": "5" }, id, fields);
    }
    return false;
  };

  /**
   * Every session of a credential the API has refused since they opened gives its slot back as soon as
   * its calls are answered (the refusal itself still reaches the client), and the refusal is cached.
   */
  const revoked = new WeakSet<Session>();
  const closeRevoked = (credential: Buffer, principal?: Principal) => {
    // An OAuth grant whose key the API refused is revoked with all its tokens: the app must sign in again.
    if (principal?.grantId) void opts.oauth?.front.revokeGrant(principal.grantId).catch((err: Error) => log.error("oauth grant revocation failed", { error: err.message }));
    credentials?.reject(credential.toString("hex"));
    for (const session of sessions.withCredential(credential)) {
      if (revoked.has(session)) continue;
      revoked.add(session);
      log.warn("session credential rejected by the API", { session: session.id, caller: session.caller });
      // setImmediate: the answer that carried the refusal is handed to the transport first.
      void session.calls.idle().then(() => setImmediate(() => void sessions.close(session, "credential rejected")));
    }
  };

  /** The parts of a session common to both transports. */
  const newSession = (principal: Principal, address: string) => {
    const credential = credentialDigest(principal.id);
    const hooks: SessionHooks = { credentialRejected: () => closeRevoked(credential, principal) };
    return { credential, caller: fingerprintOf(credential), address, server: opts.createSessionServer(principal.credential, hooks, undefined, accessOf(principal)), lastActive: Date.now() };
  };

  /** A known session of this kind answering to this credential, or undefined with a refusal written. */
  const sessionFor = <K extends Session["kind"]>(req: IncomingMessage, res: ServerResponse, id: string, principal: Principal, kind: K): Extract<Session, { kind: K }> | undefined => {
    const session = sessions.get(id);
    if (!session) {
      refuse(req, res, 404, RPC.sessionNotFound, "Session not found", "unknown session");
      return undefined;
    }
    const presented = credentialDigest(principal.id);
    if (!sameCredential(session.credential, presented)) {
      log.warn("session credential mismatch", { session: id, caller: fingerprintOf(presented), owner: session.caller });
      refuse(req, res, 403, RPC.serverError, "Forbidden: this session was opened with another credential", "credential mismatch");
      return undefined;
    }
    if (session.kind !== kind) {
      refuse(req, res, 400, RPC.serverError, "Bad Request: session exists but uses a different transport protocol", "wrong transport");
      return undefined;
    }
    session.lastActive = Date.now();
    return session as Extract<Session, { kind: K }>;
  };

  /** Reads the JSON body, or writes 413/400 and returns undefined. */
  const readBody = async (req: IncomingMessage, res: ServerResponse): Promise<{ body: unknown } | undefined> => {
    try {
      const body = await readJsonBody(req, opts.maxRequestBytes);
      for (const message of Array.isArray(body) ? body : [body]) {
        const problem = protoKeyProblem(message);
        if (problem) {
          const id = (message as { id?: string | number }).id;
          refuse(req, res, 400, RPC.invalidParams, problem, "proto key", {}, typeof id === "string" || typeof id === "number" ? id : null);
          return undefined;
        }
      }
      return { body };
    } catch (err) {
      if (err instanceof BodyTooLarge) refuse(req, res, 413, RPC.serverError, err.message, "body too large", { Connection: "close" });
      else if (err instanceof BodyNotJson) refuse(req, res, 400, RPC.parseError, err.message, "malformed json");
      else throw err;
      return undefined;
    }
  };

  /**
   * Admits the POST's requests into the session's tracker (429 past the tools/call limit; 503 for new
   * requests while draining — answers and notifications still pass, an in-flight call may need them),
   * hands it to the transport, and releases the requests again if the transport refused the POST.
   */
  const forward = async (req: IncomingMessage, res: ServerResponse, session: Session, body: unknown, handle: () => Promise<void>) => {
    if (draining && carriesRequest(body)) {
      refuseDraining(req, res);
      return;
    }
    // Past the limit, the calls wait in the session's short queue; a client that hangs up leaves it.
    const gone = new AbortController();
    const onGone = () => gone.abort();
    res.once("close", onGone);
    const admission = await session.calls.admitQueued(body, queue.size, queue.waitMs, gone.signal);
    res.off("close", onGone);
    if (!admission.ok) {
      if (res.destroyed) return;
      const message = `Too many tool calls in flight on this session (limit ${opts.maxConcurrentCallsPerSession}; ${queue.size} more may wait up to ${queue.waitMs / 1000} s for a slot); wait for one to finish`;
      refuse(req, res, 429, RPC.serverError, message, "call limit", { "Retry-After": "1" }, admission.id);
      return;
    }
    res.once("close", () => {
      // Refused by the transport (bad headers, unknown protocol version…): nothing will answer these.
      if (res.statusCode >= 400) for (const id of admission.ids) session.calls.release(id);
    });
    await handle();
  };

  const handleMcp = async (req: IncomingMessage, res: ServerResponse, principal: Principal) => {
    const token = principal.credential;
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = sessionFor(req, res, sessionId, principal, "streamable");
      if (!session) return;
      if (req.method === "POST") {
        const read = await readBody(req, res);
        if (read) await forward(req, res, session, read.body, () => session.transport.handleRequest(req, res, read.body));
        return;
      }
      if (req.method === "GET" && draining) return refuse(req, res, 503, RPC.serverError, "Server is shutting down", "draining", { Connection: "close" });
      if (req.method === "GET" || req.method === "DELETE") return session.transport.handleRequest(req, res);
      return refuse(req, res, 405, RPC.serverError, "Method not allowed", "method", { Allow: "GET, POST, DELETE" });
    }
    if (req.method !== "POST") return refuse(req, res, 400, RPC.serverError, "Bad Request: No valid session ID provided", "no session");
    const read = await readBody(req, res);
    if (!read) return;
    if (!isInitializeRequest(read.body)) {
      // Not a 2025 session's: a 2026-07-28 request (the SDK's own classification), or a 2025 request
      // without its session.
      if (serveModernRequests && !(await isLegacyRequest(headersOnly(req), read.body, { maxRequestBodySize: opts.maxRequestBytes }))) return handleModern(req, res, principal, read.body);
      return refuse(req, res, 400, RPC.serverError, "Bad Request: No valid session ID provided", "no session");
    }
    const initializeId = (read.body as unknown as { id: string | number }).id;
    if (!(await credentialAccepted(req, res, token, initializeId))) return;
    const slot = admitSession(req, res, initializeId);
    if (!slot) return;

    let base: ReturnType<typeof newSession> | undefined;
    try {
      base = newSession(principal, slot.address);
      const calls = new CallTracker(opts.maxConcurrentCallsPerSession, () => (session.lastActive = Date.now()));
      const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          session.id = id;
          sessions.add(session, slot);
        },
      });
      // The id is known once the transport has accepted the initialize request.
      const session: Session = { ...base, id: "", kind: "streamable", transport, calls };
      transport.onclose = () => sessions.remove(transport.sessionId, "closed");
      calls.watch(transport);
      await base.server.connect(transport);
      await forward(req, res, session, read.body, () => transport.handleRequest(req, res, read.body));
    } finally {
      // An initialize the transport refused (or that failed) leaves a server with no session: close it,
      // and give the slot back.
      if (!slot.settled) {
        sessions.cancel(slot);
        await base?.server.close().catch(() => {});
      }
    }
  };

  /** One 2026-07-28 request: the credential checked (cached verdicts), then served by a server of its own. */
  const handleModern = async (req: IncomingMessage, res: ServerResponse, principal: Principal, body: unknown) => {
    const token = principal.credential;
    const id = requestIdOf(body);
    if (draining && carriesRequest(body)) return refuseDraining(req, res, id);
    if (!(await credentialAccepted(req, res, token, id))) return;
    const digest = credentialDigest(principal.id);
    const caller: ModernCaller = { principal, digest };
    const auth: AuthInfo = { token, clientId: fingerprintOf(digest), scopes: principal.tier ? [principal.tier] : [], extra: { ...caller } };
    await serveModern(Object.assign(req, { auth }), res, body);
  };

  const handleSse = async (req: IncomingMessage, res: ServerResponse, principal: Principal) => {
    const token = principal.credential;
    if (req.method !== "GET") return refuse(req, res, 405, RPC.serverError, "Method not allowed", "method", { Allow: "GET" });
    if (!(await credentialAccepted(req, res, token))) return;
    const slot = admitSession(req, res);
    if (!slot) return;
    let base: ReturnType<typeof newSession>;
    try {
      base = newSession(principal, slot.address);
    } catch (err) {
      sessions.cancel(slot);
      throw err;
    }
    const transport = new SSEServerTransport(MESSAGES, res);
    const session: Session = { ...base, id: transport.sessionId, kind: "sse", transport, calls: new CallTracker(opts.maxConcurrentCallsPerSession, () => (session.lastActive = Date.now())) };
    transport.onclose = () => sessions.remove(transport.sessionId, "closed");
    session.calls.watch(transport);
    sessions.add(session, slot);
    await base.server.connect(transport);
    keepAlive(res);
  };

  /**
   * Writes an SSE comment line on the open legacy stream every sseKeepAliveMs, so reverse proxies do not
   * cut it while idle. The SDK writes each event with one write() call and this runs on the same thread,
   * so a comment always lands between two whole events.
   */
  const keepAlive = (res: ServerResponse) => {
    if (res.writableEnded || res.destroyed) return;
    const timer = setInterval(() => {
      if (res.writableEnded || res.destroyed) return clearInterval(timer);
      res.write(": keep-alive\n\n");
    }, sseKeepAliveMs);
    timer.unref();
    res.once("close", () => clearInterval(timer));
  };

  const handleMessages = async (req: IncomingMessage, res: ServerResponse, principal: Principal) => {
    if (req.method !== "POST") return refuse(req, res, 405, RPC.serverError, "Method not allowed", "method", { Allow: "POST" });
    const id = new URL(req.url ?? "/", "http://x").searchParams.get("sessionId");
    if (!id) return refuse(req, res, 400, RPC.serverError, "Bad Request: sessionId query parameter required", "no session");
    const session = sessionFor(req, res, id, principal, "sse");
    if (!session) return;
    const read = await readBody(req, res);
    if (read) await forward(req, res, session, read.body, () => session.transport.handlePostMessage(req, res, read.body));
  };

  const route = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (draining) res.setHeader("Connection", "close");
    // Load balancers probe by address, not by name: health answers before the Host check, and says nothing.
    if (path === "/healthz") {
      if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: "method not allowed" }, { Allow: "GET, HEAD" });
      return sendJson(res, draining ? 503 : 200, { status: draining ? "draining" : "ok" });
    }
    if (!policy.hostAllowed(req.headers.host)) return refuse(req, res, 403, RPC.serverError, "Forbidden: Host not allowed", "host");
    // The authorization server and its metadata answer apps' servers and browsers from any origin (the
    // library does its own CORS; the sign-in form checks its own Origin), so before the Origin check.
    if (opts.oauth && (path.startsWith("/oauth/") || path.startsWith("/.well-known/")) && (await opts.oauth.front.handle(req, res, path, remoteAddressOf(req, trustProxy)))) return;
    if (!policy.originAllowed(req.headers.origin)) return refuse(req, res, 403, RPC.serverError, "Forbidden: Origin not allowed", "origin");
    policy.applyCors(req, res);

    if (path === "/" && opts.about) {
      if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: "method not allowed" }, { Allow: "GET, HEAD" });
      return sendJson(res, 200, opts.about);
    }
    if (path === "/confirm" || path.startsWith("/confirm/")) {
      if (opts.extraRoutes && (await opts.extraRoutes(req, res))) return;
      return sendJson(res, 404, { error: "not found" });
    }
    if (path !== MCP && path !== SSE && path !== MESSAGES) return sendJson(res, 404, { error: "not found" });
    if (req.method === "OPTIONS") return policy.preflight(req, res);

    const principal = opts.oauth ? await oauthPrincipal(req, res, path, opts.oauth) : keyPrincipal(req, res);
    if (!principal) return;
    if (path === MCP) return handleMcp(req, res, principal);
    if (path === SSE) return handleSse(req, res, principal);
    return handleMessages(req, res, principal);
  };

  /** --auth key: the bearer is the caller's own Geopera credential. Undefined with the 401 written. */
  const keyPrincipal = (req: IncomingMessage, res: ServerResponse): Principal | undefined => {
    const bearer = readBearer(req.headers.authorization);
    if (!bearer.ok) {
      const message = "Unauthorized: send Authorization: Bearer <gpra_ API key or gpst_ session token>";
      refuse(req, res, 401, RPC.serverError, message, bearer.reason === "missing" ? "no credential" : "malformed credential", { "WWW-Authenticate": challenge(bearer.reason) });
      return undefined;
    }
    return { id: bearer.token, credential: bearer.token };
  };

  /**
   * --auth oauth|both: an access token we issued (its grant's key is the upstream credential), or in
   * `both` a Geopera credential as before. Anything else: 401 pointing at the resource metadata (RFC 9728).
   */
  const oauthPrincipal = async (req: IncomingMessage, res: ServerResponse, path: string, oauth: NonNullable<HttpServeOptions["oauth"]>): Promise<Principal | undefined> => {
    const header = req.headers.authorization;
    const token = bearerToken(header);
    const unauthorized = (reason: string) => {
      const message = oauth.acceptKeys ? "Unauthorized: sign in (OAuth), or send Authorization: Bearer <gpra_ API key or gpst_ session token>" : "Unauthorized: sign in (OAuth); see the resource metadata";
      refuse(req, res, 401, RPC.serverError, message, reason, { "WWW-Authenticate": oauth.front.challenge(path === SSE || path === MESSAGES ? SSE : MCP, header !== undefined) });
      return undefined;
    };
    if (token === undefined) return unauthorized(header === undefined ? "no credential" : "malformed credential");
    if (GEOPERA_CREDENTIAL.test(token)) {
      if (!oauth.acceptKeys) return unauthorized("geopera credential in oauth mode");
      return { id: token, credential: token };
    }
    const principal = await oauth.front.authenticate(token);
    return principal ?? unauthorized("access token rejected");
  };

  const server: Server = createServer((req, res) => {
    const path = pathOf(req);
    const listening = req.method === "GET" && (path === MCP || path === SSE);
    if (!listening) {
      inFlight.add(res);
      res.once("close", () => {
        inFlight.delete(res);
        if (inFlight.size === 0) onQuiet?.();
      });
    }
    route(req, res, path).catch((err: Error) => {
      log.error("http request failed", { method: req.method, path, error: err.message });
      if (!res.headersSent) sendRpcError(res, 500, RPC.internalError, "Internal server error");
      else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  log.info("http limits", {
    max_sessions: maxSessions,
    max_sessions_per_address: maxSessionsPerAddress,
    max_calls_per_session: opts.maxConcurrentCallsPerSession,
    call_queue: queue.size,
    call_queue_wait_s: queue.waitMs / 1000,
    verify_credentials: credentials !== undefined,
    session_idle_s: opts.sessionIdleMs / 1000,
    shutdown_grace_s: opts.shutdownGraceMs / 1000,
    trust_proxy: trustProxy,
  });
  sessions.startSweeper();
  const hostForUrl = opts.host.includes(":") && !opts.host.startsWith("[") ? `[${opts.host}]` : opts.host;
  const url = `http://${hostForUrl}:${boundPort}`;
  if (!isLoopbackHost(opts.host)) log.warn("listening beyond loopback: put TLS in front (reverse proxy) and set --allowed-origins / --public-url", { host: opts.host });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      log.info("http draining", { sessions: sessions.size, in_flight_requests: inFlight.size, in_flight_calls: sessions.inFlight(), grace_ms: opts.shutdownGraceMs });
      const settled = (async () => {
        while (sessions.inFlight() > 0 || inFlight.size > 0) {
          await sessions.settled();
          await quiet();
        }
        return true as const;
      })();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), opts.shutdownGraceMs)));
      const finished = await Promise.race([settled, graceOver]);
      clearTimeout(timer);
      if (!finished) log.warn("shutdown grace over with work in flight", { in_flight_requests: inFlight.size, in_flight_calls: sessions.inFlight() });
      await sessions.closeAll("shutdown");
      await modern.close().catch(() => {});
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
      log.info("http closed");
    })());

  return { url, close };
}

/** Request targets that are already their own pathname (no query, dot segment, escape or "//" to resolve). */
const PLAIN_PATHS = new Set([MCP, SSE, MESSAGES, "/healthz"]);

function pathOf(req: IncomingMessage): string {
  if (req.url !== undefined && PLAIN_PATHS.has(req.url)) return req.url;
  try {
    return new URL(req.url ?? "/", "http://x").pathname;
  } catch {
    return "/";
  }
}

/**
 * The request as the SDK's era classifier reads it: method and headers (MCP-Protocol-Version); the body
 * it is given already parsed, so nothing is read or copied twice.
 */
function headersOnly(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return new Request("http://localhost/mcp", { method: req.method, headers });
}

/** The id of a single request body, for a refusal's answer (null for a batch or a notification). */
function requestIdOf(body: unknown): string | number | null {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === "string" || typeof id === "number" ? id : null;
}

/** True when a POST body holds at least one request (not only answers or notifications). */
function carriesRequest(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => typeof m === "object" && m !== null && "method" in m && "id" in m);
}
