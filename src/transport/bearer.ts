// Per-client credentials over HTTP: read `Authorization: Bearer <token>`, and compare credentials by
// digest. The raw token is handed to exactly one place (the session factory); everything kept beside a
// session, and everything logged, is derived from its SHA-256.
import { timingSafeEqual } from "node:crypto";

export { credentialDigest, fingerprintOf } from "../fingerprint.js";

/** A Geopera API key (gpra_) or session token (gpst_). */
export const GEOPERA_CREDENTIAL = /^(gpra|gpst)_[A-Za-z0-9_-]{8,}$/;

export const REALM = "geopera-billing-mcp";

export type BearerResult = { ok: true; token: string } | { ok: false; reason: "missing" | "malformed" };

export function readBearer(header: string | undefined): BearerResult {
  if (header === undefined || header.trim() === "") return { ok: false, reason: "missing" };
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match || !GEOPERA_CREDENTIAL.test(match[1]!)) return { ok: false, reason: "malformed" };
  return { ok: true, token: match[1]! };
}

/** RFC 6750 challenge: no error code when nothing was sent, `invalid_token` when something unusable was. */
export function challenge(reason: "missing" | "malformed" | "rejected"): string {
  return reason === "missing" ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
}

export function sameCredential(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
