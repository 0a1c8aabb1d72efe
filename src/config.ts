// The only place that reads argv and the environment. Everything else receives a frozen Config.
import { parseArgs } from "node:util";
import { homedir } from "node:os";
import { join } from "node:path";
import { TOOL_NAMES } from "./tools/catalog.js";
import type { Kek } from "./oauth/kek.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type ConfirmVia = "auto" | "form" | "page";
export type Transport = "stdio" | "http";
export type ProtocolEras = "both" | "2025";
/** How HTTP clients authenticate: their own Geopera key as bearer, OAuth access tokens we issue, or both. */
export type AuthMode = "key" | "oauth" | "both";

/** A client registered by the operator (GEOPERA_OAUTH_CLIENTS), for hosts that take a client id and secret. */
export interface StaticOAuthClient {
  client_id: string;
  client_secret?: string;
  client_name?: string;
  redirect_uris: string[];
}

export interface OAuthConfig {
  /** GEOPERA_OAUTH_KEK, newest first: seal under the first, open under any. Never printed. */
  keks: readonly Kek[];
  /** Redirect URIs (exact) or URL prefixes ending in "/" that DCR and CIMD clients may use besides the built-in list. */
  redirectAllow: readonly string[];
  clients: readonly StaticOAuthClient[];
  /**
   * GEOPERA_OAUTH_TEST_LOOPBACK_CIMD=true: client metadata documents may be fetched from https loopback
   * hosts with any certificate. For tests only; never in production.
   */
  loopbackClientDocuments: boolean;
}

export interface Timeouts {
  /** TCP connect to the API. */
  connectMs: number;
  /** From request sent to response headers (first byte). */
  headersMs: number;
  /** Longest silence between two body chunks. */
  bodyMs: number;
  /** Whole call, headers to last byte: a stream that trickles forever still ends. */
  totalMs: number;
}

export interface Config {
  command: "serve" | "audit-verify" | "help" | "version";
  /**
   * For `audit verify`: what to check — the [file] argument, else the --store / GEOPERA_STORE_URL URL
   * (file: or postgres://), else undefined (the state directory's audit.jsonl).
   */
  auditFile?: string;
  /** For `audit verify`: --expect-head <count>:<hash>, the head the chain must contain at that line. */
  expectHead?: string;
  /**
   * GEOPERA_AUDIT_KEY, split on commas, newest first: audit lines carry an HMAC under the first; `audit
   * verify` checks them under any. Empty: no keyed chain. Never printed.
   */
  auditKeys: readonly string[];
  /**
   * GEOPERA_REQUEST_STATE_SECRET (32+ bytes): the HMAC key of 2026-07-28 confirmation states. Unset: the
   * store's own, generated once (shared by every replica on one PostgreSQL store). Never printed.
   */
  requestStateSecret?: Buffer;
  /** Upstream base URL; undefined with --sandbox until the sandbox has started. */
  apiUrl?: string;
  /** The server's own key (stdio). Never lent to HTTP clients. */
  apiKey?: string;
  sandbox: boolean;
  readOnly: boolean;
  /** Allowlist of tool names, or undefined for all. */
  tools?: readonly string[];
  logLevel: LogLevel;
  transport: Transport;
  /**
   * Protocol eras served: "both" (2025 clients through initialize, 2026-07-28 per request) or "2025" (an
   * operator who is not ready for 2026-07-28 clients; negotiating clients fall back to initialize).
   */
  protocolEras: ProtocolEras;
  host: string;
  port: number;
  allowedOrigins: readonly string[];
  /** Base URL people reach the confirmation page at, in HTTP mode. */
  publicUrl?: string;
  confirmVia: ConfirmVia;
  /** Port of the stdio-mode loopback confirmation page; 0 = ephemeral. */
  confirmPort: number;
  /** How long a form elicitation waits for the person. */
  confirmWaitMs: number;
  /** How long a confirmation stays usable. Never unlimited. */
  confirmTtlMs: number;
  maxCreditsPerCall?: number;
  maxCreditsPerDay?: number;
  stateDir: string;
  /**
   * Where the gate keeps its state: `file:<dir>` or `postgres://…` (several replicas on one database).
   * undefined: files in the state directory.
   */
  store?: string;
  timeouts: Timeouts;
  /** Most NDJSON rows one tool result carries. */
  maxRows: number;
  /** Largest file answer read from upstream; larger ones are described, not embedded. */
  maxFileBytes: number;
  /** Largest JSON answer read from upstream. */
  maxJsonBytes: number;
  /** Largest incoming HTTP request body. */
  maxRequestBytes: number;
  /** Retries for reads (and for spends with their own key). */
  maxRetries: number;
  /** Longest Retry-After we honour. */
  maxRetryAfterMs: number;
  /** HTTP: concurrent tools/call per session (--max-calls-per-session). */
  maxConcurrentCallsPerSession: number;
  /** HTTP: tool calls past that limit that may wait for a slot, per session (--call-queue). */
  callQueue: number;
  /** HTTP: how long such a call waits before a 429 (--call-queue-wait). */
  callQueueWaitMs: number;
  /** Heartbeat of a pending tool call to a caller that gave a progressToken (--progress-interval). */
  progressIntervalMs: number;
  /** HTTP: open sessions at most, both transports (--max-sessions). */
  maxSessions: number;
  /** HTTP: open sessions at most per remote address (--max-sessions-per-address). */
  maxSessionsPerAddress: number;
  /** HTTP: count sessions against the last X-Forwarded-For hop, not the TCP peer (--trust-proxy). */
  trustProxy: boolean;
  /** HTTP: a session with nothing in flight expires after this long (--session-idle). */
  sessionIdleMs: number;
  /** HTTP: how long SIGTERM waits for in-flight calls (--shutdown-grace). */
  shutdownGraceMs: number;
  /** HTTP: --auth key|oauth|both (default key). */
  auth: AuthMode;
  /** Set with --auth oauth|both. */
  oauth?: OAuthConfig;
}

export class ConfigError extends Error {}

export const HELP = `geopera-billing-mcp — MCP server for Geopera's billing API

Usage:
  geopera-billing-mcp [options]              serve over stdio (default) or HTTP
  geopera-billing-mcp audit verify [file]    check the audit file's hash chain; with no file, the
      audit the server writes with the same flags (--sandbox, --state-dir, --store, GEOPERA_STORE_URL)
  geopera-billing-mcp audit verify --store postgres://…   check the chain in the database
      audit verify also checks that every spend in the journal is in the audit, prints the head
      (<lines>:<sha256 of the last line>) to pin, and with --expect-head <lines>:<sha256> fails unless
      the chain still has that line with that hash (lines removed, emptied or rewritten). Exit 0 whole,
      1 broken or incomplete, 2 nothing to check.

Environment:
  GEOPERA_API_URL     billing API base URL (e.g. https://api.geopera.com)
  GEOPERA_API_KEY     gpra_ API key or session token (stdio mode)
  GEOPERA_STATE_DIR   where the idempotency journal and audit file live
  GEOPERA_STORE_URL   the gate's store, as --store
  GEOPERA_AUDIT_KEY   optional audit key (16+ characters): every audit line then carries an HMAC-SHA256
                      under it, and audit verify checks them. Rotate with "new,old": lines are written
                      under the first, verify accepts any listed key but never an older after a newer
  GEOPERA_OAUTH_KEK   with --auth oauth|both: key-encryption key of the Geopera keys people sign in with,
                      "<id>:<32 bytes in base64>" (e.g. k1:$(openssl rand -base64 32)); rotate with
                      "new,old": keys are sealed under the first and opened under any listed
  GEOPERA_OAUTH_CLIENTS  optional, with --auth oauth|both: pre-registered clients as JSON, e.g.
                      [{"client_id":"acme","client_secret":"…","client_name":"Acme","redirect_uris":["https://…"]}]
  GEOPERA_REQUEST_STATE_SECRET  optional (32+ bytes): HMAC key of 2026-07-28 confirmation states; unset,
                      the store generates one and keeps it (request-state.key, or the PostgreSQL store)

Options:
  --sandbox                   run against the embedded sandbox API (no account, no key)
  --read-only                 expose only the read tools
  --tools a,b,c               expose only these tools (unknown names stop start-up)
  --transport stdio|http      default stdio
  --protocol-eras both|2025   protocol versions served (default both): 2025-era clients (2024-11-05 to
                              2025-11-25: initialize, then a session) on stdio, Streamable HTTP /mcp and
                              SSE /sse; 2026-07-28 (per-request version in _meta) on stdio and POST /mcp.
                              A client picks by what it sends first: initialize = 2025, server/discover or
                              a request with the 2026-07-28 envelope = 2026-07-28. With 2025, those get
                              "method not found" / 400 and negotiating clients fall back to initialize
  --host H --port P           HTTP listener (default 127.0.0.1:8787)
  --allowed-origins a,b       browser origins allowed over HTTP (default: loopback only)
  --public-url URL            base URL of the confirmation page in HTTP mode (with --auth oauth|both:
                              required, an origin, https unless loopback; the OAuth issuer and resource)
  --auth key|oauth|both       HTTP: how clients authenticate (default key: Authorization: Bearer gpra_…).
                              oauth: OAuth 2.1 (claude.ai, ChatGPT connectors); the person signs in with
                              their Geopera key on our page. both: either. Needs Node 22 or later
  --oauth-redirect-allow a,b  extra redirect URIs (exact, or a prefix ending in "/") that dynamically
                              registered or metadata-document clients may use, besides claude.ai,
                              claude.com, chatgpt.com and loopback
  --max-sessions N            HTTP: open sessions at most, both transports (default 1000)
  --max-sessions-per-address N  HTTP: open sessions per client address (default 32; over it, the
                              address's stalest session idle for 60 s is closed, else 429)
  --trust-proxy               HTTP: take the client address from the last X-Forwarded-For hop
                              (only behind a reverse proxy that sets it)
  --session-idle S            HTTP: seconds before an idle session expires (default 1800)
  --shutdown-grace S          HTTP: seconds SIGTERM waits for in-flight calls (default 10, at most 3600)
  --max-calls-per-session N   HTTP: concurrent tool calls per session (default 8; over it, calls queue)
  --call-queue N              HTTP: calls per session that may wait for a slot (default: as many as
                              --max-calls-per-session; 0 = none); past it, 429
  --call-queue-wait S         HTTP: seconds a queued call waits for a slot before a 429 (default 5)
  --progress-interval S       seconds between progress notifications of a pending call to a client
                              that asked for them (default 4; decimals allowed)
  --confirm-via auto|form|page  how a person confirms a spend (default auto: form if the client can)
  --confirm-port P            port of the loopback confirmation page (default: ephemeral)
  --confirm-wait S            seconds a confirmation form waits for the person (default 600)
  --confirm-ttl S             seconds a confirmation stays usable (default 600, at most 3600)
  --max-credits-per-call N    refuse spends above N credits (off by default)
  --max-credits-per-day N     refuse spends that would pass N credits today (UTC), counted per caller
                              and per organization (off by default)
  --state-dir DIR             journal and audit directory (default ~/.geopera-billing-mcp)
  --store URL                 where the gate keeps confirmations, journal, caps and audit:
                              file:<dir> (default: the state directory) or postgres://user@host/db
                              (shared by several replicas; the schema is created on start)
  --max-rows N                rows per result for streamed lists (default 100)
  --timeout-connect S, --timeout-headers S, --timeout-body S, --timeout-total S
  --log-level debug|info|warn|error|silent   (default info, to stderr)
  --help, --version
`;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];
const MAX_TTL_MS = 3_600_000;
/** Node timers past ~24.8 days fire at once; a shutdown grace is minutes at most anyway. */
const MAX_SHUTDOWN_GRACE_MS = 3_600_000;

function positiveInt(name: string, raw: string | undefined, fallback?: number): number | undefined {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new ConfigError(`${name} must be a positive whole number, got "${raw}"`);
  return Number(raw);
}

function port(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new ConfigError(`${name} must be a port number 0-65535, got "${raw}"`);
  return Number(raw);
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got "${raw}"`);
  return raw as T;
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw.split(",").map((s) => s.trim()).filter(Boolean);
}

function url(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

/** A store URL: file:<dir> or postgres(ql)://…; the value is never echoed (it may hold a password). */
function storeUrl(raw: string | undefined, source: string): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (/^file:./i.test(raw)) return raw;
  if (/^postgres(ql)?:\/\//i.test(raw)) {
    try {
      new URL(raw);
    } catch {
      throw new ConfigError(`${source} is not a valid postgres:// URL`);
    }
    return raw;
  }
  throw new ConfigError(`${source} must be file:<dir> or postgres://user@host:port/database`);
}

/** GEOPERA_REQUEST_STATE_SECRET: at least 32 bytes (the SDK's codec refuses less). Never echoed. */
function requestStateSecret(raw: string | undefined): Buffer | undefined {
  if (raw === undefined || raw === "") return undefined;
  const key = Buffer.from(raw, "utf8");
  if (key.length < 32) throw new ConfigError(`GEOPERA_REQUEST_STATE_SECRET is ${key.length} bytes; use at least 32 (e.g. openssl rand -hex 32), or unset it to use the store's own`);
  return key;
}

/** GEOPERA_AUDIT_KEY: one key, or "new,old,…" (newest first). A key is never echoed in an error. */
function auditKeyList(raw: string | undefined): readonly string[] {
  if (raw === undefined || raw.trim() === "") return [];
  const keys = raw.split(",").map((k) => k.trim());
  keys.forEach((k, i) => {
    if (k.length < 16) throw new ConfigError(`GEOPERA_AUDIT_KEY: key #${i + 1} is ${k.length === 0 ? "empty" : "shorter than 16 characters"}; use a long random value (e.g. openssl rand -hex 32)`);
  });
  if (new Set(keys).size !== keys.length) throw new ConfigError("GEOPERA_AUDIT_KEY lists the same key twice");
  return keys;
}

const seconds = (n: number | undefined) => (n === undefined ? undefined : n * 1000);

function wholeNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number (0 or more), got "${raw}"`);
  return Number(raw);
}

/** Seconds that may have decimals (0.2), as milliseconds; at least 10 ms, at most an hour. */
function fractionalSeconds(name: string, raw: string | undefined, fallbackMs: number): number {
  if (raw === undefined) return fallbackMs;
  const ms = /^\d+(\.\d+)?$/.test(raw) ? Math.round(Number(raw) * 1000) : NaN;
  if (!(ms >= 10 && ms <= 3_600_000)) throw new ConfigError(`${name} must be a number of seconds between 0.01 and 3600, got "${raw}"`);
  return ms;
}

/** At most 60 printable characters of something the user typed, for an error line. */
const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 60);

/**
 * One line for a parseArgs failure, naming the option: its own messages are several lines long and speak
 * of positionals and "-XYZ", which is the parser talking, not this program.
 */
function argumentError(err: Error & { code?: string }): string {
  const name = printable(/'(-[^' <]*)/.exec(err.message)?.[1] ?? "");
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${name}; see --help`;
  if (/does not take an argument/.test(err.message)) return `${name} takes no value; see --help`;
  if (/argument missing/.test(err.message)) return `${name} needs a value; see --help`;
  // "argument is ambiguous": the value starts with "-" and parseArgs will not take it as the value.
  if (/ambiguous/.test(err.message)) return `${name} needs a value (one starting with "-" is written ${name}=-…); see --help`;
  return `${name ? `${name}: ` : ""}invalid option; see --help`;
}

/** A yes/no environment variable: true/1 or false/0/empty (what a bundle's boolean user config expands to). */
function flagEnv(name: string, raw: string | undefined): boolean {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "" || v === "false" || v === "0") return false;
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(raw)}`);
}

export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Readonly<Config> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        sandbox: { type: "boolean" },
        "read-only": { type: "boolean" },
        tools: { type: "string" },
        transport: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "allowed-origins": { type: "string" },
        "public-url": { type: "string" },
        auth: { type: "string" },
        "oauth-redirect-allow": { type: "string" },
        "max-sessions": { type: "string" },
        "max-sessions-per-address": { type: "string" },
        "trust-proxy": { type: "boolean" },
        "session-idle": { type: "string" },
        "shutdown-grace": { type: "string" },
        "max-calls-per-session": { type: "string" },
        "call-queue": { type: "string" },
        "call-queue-wait": { type: "string" },
        "progress-interval": { type: "string" },
        "confirm-via": { type: "string" },
        "protocol-eras": { type: "string" },
        "confirm-port": { type: "string" },
        "confirm-wait": { type: "string" },
        "confirm-ttl": { type: "string" },
        "max-credits-per-call": { type: "string" },
        "max-credits-per-day": { type: "string" },
        "state-dir": { type: "string" },
        store: { type: "string" },
        "max-rows": { type: "string" },
        "timeout-connect": { type: "string" },
        "timeout-headers": { type: "string" },
        "timeout-body": { type: "string" },
        "timeout-total": { type: "string" },
        "log-level": { type: "string" },
        "expect-head": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (err) {
    throw new ConfigError(argumentError(err as Error & { code?: string }));
  }
  const v = parsed.values;
  const pos = parsed.positionals;

  let command: Config["command"] = "serve";
  let auditFile: string | undefined;
  if (v.help) command = "help";
  else if (v.version) command = "version";
  else if (pos.length > 0) {
    if (pos[0] === "audit" && pos[1] === "verify" && pos.length <= 3) {
      command = "audit-verify";
      auditFile = pos[2];
    } else {
      throw new ConfigError(`unknown command "${printable(pos.join(" "))}"; see --help`);
    }
  }

  const tools = list(v.tools);
  if (tools) {
    const unknown = tools.filter((t) => !TOOL_NAMES.includes(t));
    if (unknown.length) throw new ConfigError(`--tools names unknown tool(s): ${unknown.join(", ")}. Known: ${TOOL_NAMES.join(", ")}`);
    if (tools.length === 0) throw new ConfigError("--tools must name at least one tool");
  }

  const transport = oneOf<Transport>("--transport", v.transport, ["stdio", "http"], "stdio");
  // GEOPERA_SANDBOX is how a bundle's user config (Claude Desktop's "try the sandbox" box) asks for --sandbox.
  const sandbox = Boolean(v.sandbox) || flagEnv("GEOPERA_SANDBOX", env.GEOPERA_SANDBOX);
  const apiUrl = sandbox ? undefined : url("GEOPERA_API_URL", env.GEOPERA_API_URL);
  const apiKey = sandbox ? undefined : env.GEOPERA_API_KEY || undefined;
  if (command === "serve" && !sandbox) {
    // HTTP clients bring their own key, so only the URL is needed there.
    const missing = [!apiUrl && "GEOPERA_API_URL", transport === "stdio" && !apiKey && "GEOPERA_API_KEY"].filter(Boolean);
    if (missing.length) {
      throw new ConfigError(`${missing.join(" and ")} must be set (or pass --sandbox, or set GEOPERA_SANDBOX=true, to try the embedded sandbox API with no key)`);
    }
  }

  const store = storeUrl(v.store ?? (env.GEOPERA_STORE_URL || undefined), v.store !== undefined ? "--store" : "GEOPERA_STORE_URL");
  if (command === "audit-verify") {
    if (auditFile !== undefined && v.store !== undefined) throw new ConfigError("audit verify takes a file or --store, not both");
    auditFile ??= store;
  }

  const expectHead = v["expect-head"];
  if (expectHead !== undefined) {
    if (command !== "audit-verify") throw new ConfigError("--expect-head is an option of audit verify");
    if (!/^\d{1,15}:[0-9a-fA-F]{64}$/.test(expectHead)) throw new ConfigError(`--expect-head must be <line count>:<64 hex digits>, as audit verify prints the head, got "${expectHead}"`);
  }
  const auditKeys = auditKeyList(env.GEOPERA_AUDIT_KEY);
  const stateSecret = requestStateSecret(env.GEOPERA_REQUEST_STATE_SECRET);

  const ttl = seconds(positiveInt("--confirm-ttl", v["confirm-ttl"])) ?? 600_000;
  if (ttl > MAX_TTL_MS) throw new ConfigError(`--confirm-ttl must be at most ${MAX_TTL_MS / 1000} seconds`);
  const shutdownGraceMs = seconds(positiveInt("--shutdown-grace", v["shutdown-grace"])) ?? 10_000;
  if (shutdownGraceMs > MAX_SHUTDOWN_GRACE_MS) throw new ConfigError(`--shutdown-grace must be at most ${MAX_SHUTDOWN_GRACE_MS / 1000} seconds`);

  const auth = oneOf<AuthMode>("--auth", v.auth, ["key", "oauth", "both"], "key");
  const publicUrl = url("--public-url", v["public-url"]);
  const oauth = command === "serve" && auth !== "key" ? oauthConfig(auth, transport, publicUrl, v["oauth-redirect-allow"], env) : undefined;

  const maxCalls = positiveInt("--max-calls-per-session", v["max-calls-per-session"], 8)!;

  const config: Config = {
    command,
    auditFile,
    expectHead,
    auditKeys,
    ...(stateSecret ? { requestStateSecret: stateSecret } : {}),
    apiUrl,
    apiKey,
    sandbox,
    readOnly: Boolean(v["read-only"]),
    tools,
    logLevel: oneOf<LogLevel>("--log-level", v["log-level"], LOG_LEVELS, "info"),
    transport,
    protocolEras: oneOf<ProtocolEras>("--protocol-eras", v["protocol-eras"], ["both", "2025"], "both"),
    host: v.host ?? "127.0.0.1",
    port: port("--port", v.port, 8787),
    allowedOrigins: list(v["allowed-origins"]) ?? [],
    publicUrl,
    confirmVia: oneOf<ConfirmVia>("--confirm-via", v["confirm-via"], ["auto", "form", "page"], "auto"),
    confirmPort: port("--confirm-port", v["confirm-port"], 0),
    confirmWaitMs: seconds(positiveInt("--confirm-wait", v["confirm-wait"])) ?? 600_000,
    confirmTtlMs: ttl,
    maxCreditsPerCall: positiveInt("--max-credits-per-call", v["max-credits-per-call"]),
    maxCreditsPerDay: positiveInt("--max-credits-per-day", v["max-credits-per-day"]),
    stateDir: v["state-dir"] ?? env.GEOPERA_STATE_DIR ?? join(homedir(), ".geopera-billing-mcp"),
    store,
    timeouts: {
      connectMs: seconds(positiveInt("--timeout-connect", v["timeout-connect"])) ?? 5_000,
      headersMs: seconds(positiveInt("--timeout-headers", v["timeout-headers"])) ?? 30_000,
      bodyMs: seconds(positiveInt("--timeout-body", v["timeout-body"])) ?? 30_000,
      totalMs: seconds(positiveInt("--timeout-total", v["timeout-total"])) ?? 120_000,
    },
    maxRows: positiveInt("--max-rows", v["max-rows"], 100)!,
    maxFileBytes: 512 * 1024,
    maxJsonBytes: 4 * 1024 * 1024,
    maxRequestBytes: 1024 * 1024,
    maxRetries: 3,
    maxRetryAfterMs: 30_000,
    maxConcurrentCallsPerSession: maxCalls,
    callQueue: wholeNumber("--call-queue", v["call-queue"], maxCalls),
    callQueueWaitMs: fractionalSeconds("--call-queue-wait", v["call-queue-wait"], 5_000),
    progressIntervalMs: fractionalSeconds("--progress-interval", v["progress-interval"], 4_000),
    maxSessions: positiveInt("--max-sessions", v["max-sessions"], 1000)!,
    maxSessionsPerAddress: positiveInt("--max-sessions-per-address", v["max-sessions-per-address"], 32)!,
    trustProxy: Boolean(v["trust-proxy"]),
    sessionIdleMs: seconds(positiveInt("--session-idle", v["session-idle"])) ?? 30 * 60_000,
    shutdownGraceMs,
    auth,
    ...(oauth ? { oauth } : {}),
  };
  return Object.freeze(config);
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** GEOPERA_OAUTH_KEK: "<id>:<base64 of 32 bytes>", comma-separated, newest first. Never echoed. */
function kekList(raw: string | undefined): Kek[] {
  if (raw === undefined || raw.trim() === "") throw new ConfigError("--auth oauth|both needs GEOPERA_OAUTH_KEK (e.g. k1:$(openssl rand -base64 32)): the key that encrypts the Geopera keys people sign in with");
  const keks = raw.split(",").map((part, i) => {
    const m = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(part.trim());
    const key = m ? Buffer.from(m[2]!, "base64") : undefined;
    if (!m || key?.length !== 32) throw new ConfigError(`GEOPERA_OAUTH_KEK: key #${i + 1} must be <id>:<32 bytes in base64> (e.g. k1:$(openssl rand -base64 32))`);
    return { id: m[1]!, key: key! };
  });
  if (new Set(keks.map((k) => k.id)).size !== keks.length) throw new ConfigError("GEOPERA_OAUTH_KEK lists the same key id twice");
  return keks;
}

/** GEOPERA_OAUTH_CLIENTS: a JSON array of {client_id, client_secret?, client_name?, redirect_uris}. Secrets never echoed. */
function staticClients(raw: string | undefined): StaticOAuthClient[] {
  if (raw === undefined || raw.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError("GEOPERA_OAUTH_CLIENTS must be a JSON array of clients");
  }
  if (!Array.isArray(parsed)) throw new ConfigError("GEOPERA_OAUTH_CLIENTS must be a JSON array of clients");
  return parsed.map((c: Record<string, unknown>, i) => {
    const ok =
      typeof c === "object" && c !== null && typeof c.client_id === "string" && /^[\x21-\x7e]{1,200}$/.test(c.client_id) &&
      (c.client_secret === undefined || (typeof c.client_secret === "string" && c.client_secret.length >= 16)) &&
      (c.client_name === undefined || typeof c.client_name === "string") &&
      Array.isArray(c.redirect_uris) && c.redirect_uris.length > 0 && c.redirect_uris.every((u) => typeof u === "string" && URL.canParse(u));
    if (!ok) throw new ConfigError(`GEOPERA_OAUTH_CLIENTS: client #${i + 1} needs client_id, redirect_uris (URLs), and optionally client_name and client_secret (16+ characters)`);
    return { client_id: c.client_id as string, client_secret: c.client_secret as string | undefined, client_name: c.client_name as string | undefined, redirect_uris: c.redirect_uris as string[] };
  });
}

function oauthConfig(auth: AuthMode, transport: Transport, publicUrl: string | undefined, redirectAllow: string | undefined, env: Readonly<Record<string, string | undefined>>): OAuthConfig {
  if (transport !== "http") throw new ConfigError(`--auth ${auth} is for --transport http (stdio uses the server's own key)`);
  if (!publicUrl) throw new ConfigError(`--auth ${auth} needs --public-url: the https origin clients and people reach this server at (it is the OAuth issuer)`);
  const u = new URL(publicUrl);
  if (u.pathname !== "/" || u.search || u.hash) throw new ConfigError(`--auth ${auth}: --public-url must be an origin (scheme, host and port, no path), got "${publicUrl}"`);
  if (u.protocol !== "https:" && !LOOPBACK_NAMES.has(u.hostname)) throw new ConfigError(`--auth ${auth}: --public-url must be https outside loopback (OAuth tokens and keys travel over it), got "${publicUrl}"`);
  const allow = list(redirectAllow) ?? [];
  for (const a of allow) if (!URL.canParse(a) || !/^https?:$/.test(new URL(a).protocol)) throw new ConfigError(`--oauth-redirect-allow: "${printable(a)}" is not an http(s) URL`);
  return {
    keks: kekList(env.GEOPERA_OAUTH_KEK),
    redirectAllow: allow,
    clients: staticClients(env.GEOPERA_OAUTH_CLIENTS),
    loopbackClientDocuments: flagEnv("GEOPERA_OAUTH_TEST_LOOPBACK_CIMD", env.GEOPERA_OAUTH_TEST_LOOPBACK_CIMD),
  };
}
