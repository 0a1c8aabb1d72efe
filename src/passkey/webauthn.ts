// The WebAuthn ceremonies, through @simplewebauthn/server: a passkey is enrolled with user verification
// required; a page confirmation is an assertion with user verification whose challenge is
//   nonce (16 random bytes, kept server-side for one use) || SHA-256(confirmation id, charge hash)
// so a signature made for one confirmation, or for other figures, verifies for nothing else.
// The charge hash covers what money moves: the operation (tool), its canonical arguments, the credits.
import { createHash, randomBytes } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { canonicalJson } from "../gate/digest.js";
import type { RelyingParty } from "./rp.js";
import type { PasskeyRecords, StoredPasskey } from "./records.js";

export function chargeHash(c: { tool: string; args: Record<string, unknown>; credits: number | undefined }): Buffer {
  return createHash("sha256").update(canonicalJson({ operation: c.tool, arguments: c.args, credits: c.credits ?? null })).digest();
}

const bindingOf = (confirmationId: string, charge: Buffer) => createHash("sha256").update(`geopera confirm ${confirmationId}\n`).update(charge).digest();

export async function registrationOptions(rp: RelyingParty, account: string, existing: StoredPasskey[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: `Geopera key ${account}`,
    userID: createHash("sha256").update(`geopera passkey user ${account}`).digest(),
    attestationType: "none",
    excludeCredentials: existing.map((p) => ({ id: p.id })),
    authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
  });
}

export async function verifyRegistration(rp: RelyingParty, response: unknown, expectedChallenge: string): Promise<StoredPasskey | undefined> {
  try {
    const r = await verifyRegistrationResponse({ response: response as RegistrationResponseJSON, expectedChallenge, expectedOrigin: rp.origin, expectedRPID: rp.id, requireUserVerification: true });
    if (!r.verified || !r.registrationInfo.userVerified) return undefined;
    const c = r.registrationInfo.credential;
    return { id: c.id, publicKey: Buffer.from(c.publicKey).toString("base64url"), counter: c.counter, ...(c.transports ? { transports: c.transports } : {}), createdAt: Date.now() };
  } catch {
    return undefined;
  }
}

/** Options for the page of one confirmation; the nonce is stored for one use by this account. */
export async function assertionOptions(rp: RelyingParty, records: PasskeyRecords, account: string, confirmationId: string, charge: Buffer): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const nonce = randomBytes(16);
  await records.newChallenge(nonce.toString("base64url"), confirmationId, account);
  const passkeys = await records.passkeys(account);
  return generateAuthenticationOptions({
    rpID: rp.id,
    challenge: Buffer.concat([nonce, bindingOf(confirmationId, charge)]),
    allowCredentials: passkeys.map((p) => ({ id: p.id, ...(p.transports ? { transports: p.transports } : {}) })),
    userVerification: "required",
  });
}

export type AssertionCheck = { ok: true; credentialId: string; userVerified: boolean } | { ok: false; reason: string };

/** Verifies an assertion for this confirmation and charge by this account; the challenge is used up. */
export async function verifyAssertion(rp: RelyingParty, records: PasskeyRecords, account: string, confirmationId: string, charge: Buffer, response: unknown): Promise<AssertionCheck> {
  const a = response as AuthenticationResponseJSON;
  let challenge: Buffer;
  try {
    const client = JSON.parse(Buffer.from(a.response.clientDataJSON, "base64url").toString("utf8")) as { challenge?: unknown };
    challenge = Buffer.from(String(client.challenge), "base64url");
  } catch {
    return { ok: false, reason: "malformed assertion" };
  }
  if (challenge.length !== 48) return { ok: false, reason: "not our challenge" };
  const nonce = challenge.subarray(0, 16).toString("base64url");
  if (!challenge.subarray(16).equals(bindingOf(confirmationId, charge))) return { ok: false, reason: "challenge made for another confirmation or charge" };
  const issued = await records.challenge(nonce);
  if (!issued || issued.confirmation !== confirmationId || issued.account !== account) return { ok: false, reason: "challenge unknown, used or for another account" };
  const passkeys = await records.passkeys(account);
  const key = passkeys.find((p) => p.id === a.id);
  if (!key) return { ok: false, reason: "passkey not registered for this account" };
  let verified;
  try {
    verified = await verifyAuthenticationResponse({
      response: a,
      expectedChallenge: challenge.toString("base64url"),
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: { id: key.id, publicKey: Buffer.from(key.publicKey, "base64url"), counter: key.counter, ...(key.transports ? { transports: key.transports as never } : {}) },
      requireUserVerification: true,
    });
  } catch (err) {
    return { ok: false, reason: `assertion refused: ${(err as Error).message}` };
  }
  if (!verified.verified || !verified.authenticationInfo.userVerified) return { ok: false, reason: "no user verification" };
  // One use: of two posts of the same assertion (or two replicas), one wins.
  if (!(await records.consumeChallenge(nonce))) return { ok: false, reason: "challenge already used" };
  key.counter = verified.authenticationInfo.newCounter;
  await records.savePasskeys(account, passkeys);
  return { ok: true, credentialId: key.id, userVerified: verified.authenticationInfo.userVerified };
}
