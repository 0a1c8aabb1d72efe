// Which browsers and which names may reach the listener (MCP spec, "Security Warning" of Streamable
// HTTP): a foreign Origin is refused, and the Host header is checked so a DNS-rebound name cannot talk to
// a loopback listener. Allowed origins also get the CORS headers a browser client needs.
import type { IncomingMessage, ServerResponse } from "node:http";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

export interface OriginPolicyOptions {
  /** The --host the listener is bound to. */
  bindHost: string;
  /** The port actually bound (known only after listen when --port 0). */
  port: () => number;
  /** Browser origins allowed besides loopback ones, e.g. "https://app.example.com". */
  allowedOrigins: readonly string[];
  /** Extra names clients reach us by (e.g. the public URL's host behind a reverse proxy). */
  allowedHosts?: readonly string[];
}

export interface OriginPolicy {
  /** An absent Origin (a non-browser client) is allowed. */
  originAllowed(origin: string | undefined): boolean;
  hostAllowed(host: string | undefined): boolean;
  /** Sets CORS response headers for an allowed Origin. */
  applyCors(req: IncomingMessage, res: ServerResponse): void;
  /** Answers a CORS preflight. */
  preflight(req: IncomingMessage, res: ServerResponse): void;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

function normalizeOrigin(raw: string): string | undefined {
  try {
    const u = new URL(raw);
    return u.origin === "null" ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

/**
 * parseHost's answers by Host header: clients send the same one on every request, and parsing it is a
 * WHATWG URL parse. Bounded (the header is the client's to choose): emptied when full.
 */
const parsedHosts = new Map<string, { hostname: string; port: string } | undefined>();
const MAX_PARSED_HOSTS = 256;

/** Parses a Host header into its lower-case hostname (IPv6 in brackets) and port ("" when absent). */
function parseHost(host: string): { hostname: string; port: string } | undefined {
  if (parsedHosts.has(host)) return parsedHosts.get(host);
  const parsed = parseHostOnce(host);
  if (parsedHosts.size >= MAX_PARSED_HOSTS) parsedHosts.clear();
  parsedHosts.set(host, parsed && Object.freeze(parsed));
  return parsed;
}

function parseHostOnce(host: string): { hostname: string; port: string } | undefined {
  try {
    const u = new URL(`http://${host}`);
    // Anything beyond host[:port] (a path, credentials) is not a Host header.
    if (u.host !== host.toLowerCase().replace(/:80$/, "")) return undefined;
    return { hostname: u.hostname, port: u.port };
  } catch {
    return undefined;
  }
}

export function createOriginPolicy(opts: OriginPolicyOptions): OriginPolicy {
  const origins = new Set(opts.allowedOrigins.map(normalizeOrigin).filter((o): o is string => o !== undefined));
  const loopbackBind = isLoopbackHost(opts.bindHost);
  const bindName = opts.bindHost.toLowerCase().replace(/^\[?(.*?)\]?$/, "$1");
  const bindHostname = bindName.includes(":") ? `[${bindName}]` : bindName;
  const loopbackNames = new Set([...LOOPBACK_NAMES, ...(loopbackBind ? [bindHostname] : [])]);
  // Names the operator configured (--public-url, --allowed-origins): a rebound attacker's page sends its
  // own name, never one of these, so they are safe to accept even on a loopback bind — which is exactly
  // where a TLS reverse proxy that forwards the public Host header reaches us.
  const configured = new Set<string>();
  for (const o of origins) configured.add(new URL(o).hostname);
  for (const h of opts.allowedHosts ?? []) {
    const parsed = parseHost(h);
    if (parsed) configured.add(parsed.hostname);
  }

  const originAllowed = (origin: string | undefined): boolean => {
    if (origin === undefined) return true;
    const o = normalizeOrigin(origin);
    if (!o) return false;
    if (origins.has(o)) return true;
    const u = new URL(o);
    return (u.protocol === "http:" || u.protocol === "https:") && LOOPBACK_NAMES.has(u.hostname);
  };

  const hostAllowed = (host: string | undefined): boolean => {
    if (!host) return false;
    const parsed = parseHost(host);
    if (!parsed) return false;
    const port = opts.port();
    // A loopback name is always fine as long as it names our port: a rebound page cannot send it.
    if (loopbackNames.has(parsed.hostname)) return parsed.port === String(port) || (parsed.port === "" && port === 80);
    // A reverse proxy may forward its own name and port: match a configured name only.
    if (configured.has(parsed.hostname)) return true;
    // Listening on loopback, nothing else is accepted (DNS-rebinding protection); beyond loopback, the
    // name the listener is bound to is.
    return !loopbackBind && parsed.hostname === bindHostname;
  };

  const applyCors = (req: IncomingMessage, res: ServerResponse): void => {
    const origin = req.headers.origin;
    if (origin === undefined || !originAllowed(origin)) return;
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Vary", "Origin");
    res.setHeader("Access-Control-Expose-Headers", "Mcp-Session-Id, WWW-Authenticate");
  };

  const preflight = (req: IncomingMessage, res: ServerResponse): void => {
    applyCors(req, res);
    res.writeHead(204, {
      "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
      "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID",
      "Access-Control-Max-Age": "600",
    });
    res.end();
  };

  return { originAllowed, hostAllowed, applyCors, preflight };
}
