// Which client a request comes from, for per-address limits. The TCP peer by default: a header is the
// client's word and costs nothing to forge. Behind a reverse proxy every request has the proxy's address,
// so --trust-proxy takes the last X-Forwarded-For hop instead — the one our own proxy appended; hops to
// its left were sent by the client and are ignored.
import { isIP } from "node:net";
import type { IncomingMessage } from "node:http";

/** The address a per-address limit counts this request against ("unknown" if the socket has none). */
export function remoteAddressOf(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = lastForwardedHop(req.headers["x-forwarded-for"]);
    if (forwarded) return forwarded;
  }
  return normalize(req.socket.remoteAddress) ?? "unknown";
}

/** The rightmost well-formed address of X-Forwarded-For (node joins repeated headers with ", "). */
function lastForwardedHop(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const joined = Array.isArray(header) ? header.join(",") : header;
  const last = joined.split(",").at(-1)?.trim();
  return normalize(last);
}

function normalize(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  // Some proxies append the client's port: "a.b.c.d:port", "[v6]:port".
  const address = raw.toLowerCase().replace(/^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/, "$1").replace(/^\[([^\]]+)\](?::\d+)?$/, "$1");
  if (!isIP(address)) return undefined;
  // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: the same client either way.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  return mapped ? mapped[1]! : address;
}
