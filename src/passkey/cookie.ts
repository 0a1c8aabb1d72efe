// The person's browser session, set at OAuth consent: a random value in a __Host- cookie (HttpOnly,
// Secure, SameSite=Lax, Path=/, no Domain), its SHA-256 kept server-side with the account it stands for.
// __Host- and Secure need a secure context: https, or http://localhost, which Chromium and Firefox treat
// as secure (a cookie set there is kept and sent back; the passkey test checks it in Chromium).
// Lax: the cookie goes with a top-level GET from another site (the person opens the link from the chat)
// and with same-site POSTs (the page's own), never with a cross-site POST.
import type { IncomingMessage } from "node:http";

export const SESSION_COOKIE = "__Host-geopera_session";
export const SESSION_TTL_MS = 30 * 24 * 3600_000;

export function sessionCookieHeader(value: string): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}; HttpOnly; Secure; SameSite=Lax`;
}

export function sessionCookieOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === SESSION_COOKIE) {
      const v = rest.join("=");
      return /^[A-Za-z0-9_-]{20,100}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}
