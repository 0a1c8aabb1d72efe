// Which client a request comes from, for per-address limits. The TCP peer by default: a header is the
// client's word and costs nothing to forge. Behind a reverse proxy every request has the proxy's address,
// so --trust-proxy takes the last X-Forwarded-For hop instead — the one our own proxy appended; hops to
// its left were sent by the client and are ignored.
// An IPv6 client counts as its /64: one subscriber is routinely given a whole /64 (SLAAC, privacy
// addresses), so counting single IPv6 addresses would give one client 2^64 shares of every limit.
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
  if (mapped) return mapped[1]!;
  return isIP(address) === 6 ? prefix64(address) : address;
}

/** The /64 network of a (valid) IPv6 address, as "2001:db8:0:1::/64". */
export function prefix64(address: string): string {
  let text = address.replace(/%.*$/, "");
  // A dotted IPv4 tail (::ffff:0:1.2.3.4, 64:ff9b::1.2.3.4) is the last two groups.
  text = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const [head, tail] = text.split("::") as [string, string | undefined];
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}
