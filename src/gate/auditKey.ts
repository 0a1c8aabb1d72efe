// The optional keyed audit chain (GEOPERA_AUDIT_KEY). The hash chain alone proves order, but anyone who
// can write the file or the table can rewrite it and recompute every hash. With a key, each line also
// carries "mac": HMAC-SHA256 under the key of the line's own text without the mac (which includes its
// seq and the previous line's hash, so the mac of line N vouches for every line before it too). Only
// whoever holds the key can write a line that checks.
//
// Keys are a list, newest first ("new,old"): lines are written with the first; `audit verify` accepts a
// line under any listed key, but never an older key after a line under a newer one (rotation only moves
// forward). The key never leaves this process: the PostgreSQL store builds keyed lines here too.
import { createHmac, timingSafeEqual } from "node:crypto";

/** The mac of a line's text (the line exactly as it would be stored without a key). */
export function macOf(key: string, text: string): string {
  return createHmac("sha256", key).update(text).digest("hex");
}

/** The stored line: the unkeyed line's own value with its mac as the last field, serialised again. */
export function sealLine(line: string, key: string): string {
  const value = JSON.parse(line) as Record<string, unknown>;
  return JSON.stringify({ ...value, mac: macOf(key, line) });
}

export type MacCheck =
  /** No "mac" field. */
  | { kind: "none" }
  /** Checked under keys[index]. */
  | { kind: "ok"; index: number }
  | { kind: "bad"; reason: string };

/** Checks the mac of one parsed line against each key in turn. */
export function checkMac(raw: string, parsed: Record<string, unknown>, keys: readonly string[]): MacCheck {
  if (!Object.hasOwn(parsed, "mac")) return { kind: "none" };
  const { mac, ...rest } = parsed;
  if (typeof mac !== "string" || !/^[0-9a-f]{64}$/.test(mac)) return { kind: "bad", reason: "its mac is not 64 hex digits" };
  const text = JSON.stringify(rest);
  // A line the server wrote is exactly its unkeyed text plus the mac as the last field.
  if (JSON.stringify({ ...rest, mac }) !== raw) return { kind: "bad", reason: "it is not in the form the server writes keyed lines in (edited)" };
  const given = Buffer.from(mac, "hex");
  for (let i = 0; i < keys.length; i++) {
    if (timingSafeEqual(Buffer.from(macOf(keys[i]!, text), "hex"), given)) return { kind: "ok", index: i };
  }
  return { kind: "bad", reason: `its mac does not match ${keys.length === 1 ? "the key" : "any of the given keys"} (rewritten, or written under another key)` };
}
