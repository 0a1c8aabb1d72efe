// Which redirect URIs a client that registered itself (DCR) or describes itself (a Client ID Metadata
// Document) may use: the hosted agents' documented callbacks, loopback (desktop and CLI clients, any
// port), and the operator's --oauth-redirect-allow entries (exact, or a prefix ending in "/"). A code
// is only ever sent to one of these, so a stranger's registration cannot point it elsewhere.

/** Documented callbacks: support.claude.com "Building custom connectors via remote MCP servers" (claude.ai, and claude.com which it says to allow too); ChatGPT connectors (chatgpt.com). */
export const KNOWN_CALLBACKS = ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback", "https://chatgpt.com/connector_platform_oauth_redirect"];

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

export function redirectAllowed(uri: string, extra: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return false;
  }
  if (u.hash) return false;
  if (u.protocol === "http:" && LOOPBACK.has(u.hostname)) return true;
  if (KNOWN_CALLBACKS.includes(uri)) return true;
  return extra.some((a) => (a.endsWith("/") ? uri.startsWith(a) : uri === a));
}
