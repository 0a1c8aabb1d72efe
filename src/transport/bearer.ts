// Per-client credentials over HTTP: read `Authorization: Bearer <token>`, and compare credentials by
// digest. The raw token is handed to exactly one place (the session factory); everything kept beside a
// session, and everything logged, is derived from its SHA-256.
import { timingSafeEqual } from "node:crypto";

export { credentialDigest, fingerprintOf } from "../fingerprint.js";

/** A Geopera API key (gpra_) or session token (gpst_). */
export const GEOPERA_CREDENTIAL = /^(gpra|gpst)_[A-Za-z0-9_-]{8,}$/;

/** A Geopera API key as a person pastes it on a sign-in page (API keys only, bounded). */
export const GEOPERA_KEY = /^gpra_[A-Za-z0-9_-]{8,200}$/;

export const REALM = "geopera-billing-mcp";

export type BearerResult = { ok: true; token: string } | { ok: false; reason: "missing" | "malformed" };

/** The token of an `Authorization: Bearer <token>` header, whatever its shape; undefined for any other header. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(header)?.[1];
}

/** A Geopera credential as bearer (--auth key). */
export function readBearer(header: string | undefined): BearerResult {
  if (header === undefined || header.trim() === "") return { ok: false, reason: "missing" };
  const token = bearerToken(header);
  if (token === undefined || !GEOPERA_CREDENTIAL.test(token)) return { ok: false, reason: "malformed" };
  return { ok: true, token };
}

/** RFC 6750 challenge: no error code when nothing was sent, `invalid_token` when something unusable was. */
export function challenge(reason: "missing" | "malformed" | "rejected"): string {
  return reason === "missing" ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
}

export function sameCredential(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
