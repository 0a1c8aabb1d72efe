// A credential's stand-in wherever it must be compared or recorded (sessions, gate digests, audit and log
// lines): its SHA-256, and a short "fp_" fingerprint of that. One definition, so the transport's log lines
// and the gate's records name the same caller the same way.
import crypto, { createHash } from "node:crypto";

/** crypto.hash (Node ≥ 20.12): the same digest in one call, without a Hash object per request. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "buffer") => Buffer }).hash;

export function credentialDigest(token: string): Buffer {
  return oneShot ? oneShot("sha256", token, "buffer") : createHash("sha256").update(token).digest();
}

export function fingerprintOf(digest: Buffer): string {
  return "fp_" + digest.toString("hex").slice(0, 16);
}

export const fingerprint = (credential: string): string => fingerprintOf(credentialDigest(credential));
