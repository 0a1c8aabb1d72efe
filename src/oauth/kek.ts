// The Geopera key a person pastes at sign-in is kept only encrypted: AES-256-GCM (node:crypto) under the
// key-encryption key from GEOPERA_OAUTH_KEK, with the grant id as associated data, so a sealed key
// copied onto another grant's record does not open. The sealed form names the KEK's id, so the operator
// can rotate ("new,old": seal under the first, open under any listed).
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export interface Kek {
  id: string;
  key: Buffer;
}

/** Sealed: "<kek id>.<iv>.<ciphertext>.<tag>", base64url parts. */
export function seal(keks: readonly Kek[], plaintext: string, aad: string): string {
  const kek = keks[0];
  if (!kek) throw new Error("no key-encryption key");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek.key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [kek.id, iv.toString("base64url"), ct.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
}

/** The plaintext, or undefined when the KEK named is not configured or the data or AAD do not match. */
export function open(keks: readonly Kek[], sealed: string, aad: string): string | undefined {
  const [id, iv, ct, tag] = sealed.split(".");
  const kek = keks.find((k) => k.id === id);
  if (!kek || iv === undefined || ct === undefined || tag === undefined) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", kek.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}
