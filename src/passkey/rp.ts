// The WebAuthn relying party (RP) of the passkey-bound confirmation page, from --public-url: its host name
// is the RP id and its origin the only origin assertions may come from. Browsers refuse an IP address
// as RP id, so a public URL naming an IP (e.g. http://127.0.0.1:8080) leaves passkeys off: OAuth spend
// grants then keep today's rule (no elicitation: refused), and the server says so at start.
// http: is accepted for localhost only (browsers treat http://localhost as a secure context, tests and
// local use); any other public URL must be https (behind a TLS proxy).
import { isIP } from "node:net";

export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingPartyOf(publicUrl: string): RelyingParty | { off: string } {
  const url = new URL(publicUrl);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host)) return { off: `the public URL ${url.origin} names an IP address, which browsers refuse as a WebAuthn relying party; use a host name (http://localhost:<port> locally)` };
  if (url.protocol !== "https:" && host !== "localhost") return { off: `the public URL ${url.origin} is not https (only http://localhost may be plain http)` };
  return { id: host, origin: url.origin, name: "Geopera billing" };
}
