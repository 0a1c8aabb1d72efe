// What the passkey-bound page keeps, in the gate's store (the OAuth records: a file, or PostgreSQL's
// gate_oauth table of migration 5, so every replica on one database sees the same): browser sessions,
// each account's passkeys (credential id, public key, counter; never a private key), the one-use
// challenges, and which confirmations need a passkey. Keys hold hashes of secrets, never the secrets.
//
// The account is the OAuth grant's account: the fingerprint of the Geopera key the person signed in with
// (src/oauth/interaction.ts), which is also the gate's caller for that grant. A person with two keys has
// two accounts (and enrols a passkey for each); the organization is not used, since one organization has
// many keys held by different people.
import { createHash, randomBytes } from "node:crypto";
import type { OAuthRecords } from "../store/types.js";
import { SESSION_TTL_MS } from "./cookie.js";

export interface StoredPasskey {
  /** base64url credential id. */
  id: string;
  /** base64url COSE public key. */
  publicKey: string;
  counter: number;
  transports?: string[];
  createdAt: number;
}

const sha = (s: string) => createHash("sha256").update(s).digest("base64url");
const PASSKEYS_TTL_MS = 400 * 24 * 3600_000;
export const CHALLENGE_TTL_MS = 10 * 60_000;

export function createPasskeyRecords(records: OAuthRecords) {
  const passkeysKey = (account: string) => `Passkeys:${sha(account)}`;
  return {
    async newSession(account: string): Promise<string> {
      const value = randomBytes(32).toString("base64url");
      await records.put(`BrowserSession:${sha(value)}`, { model: "BrowserSession", payload: { account }, expiresAt: Date.now() + SESSION_TTL_MS });
      return value;
    },
    async sessionAccount(value: string | undefined): Promise<string | undefined> {
      if (!value) return undefined;
      const r = await records.get(`BrowserSession:${sha(value)}`);
      return typeof r?.payload.account === "string" ? r.payload.account : undefined;
    },
    async passkeys(account: string): Promise<StoredPasskey[]> {
      const r = await records.get(passkeysKey(account));
      return Array.isArray(r?.payload.list) ? (r!.payload.list as StoredPasskey[]) : [];
    },
    /** Replaces the account's list (add, remove, counter). Last writer wins across replicas. */
    async savePasskeys(account: string, list: StoredPasskey[]): Promise<void> {
      await records.put(passkeysKey(account), { model: "Passkeys", payload: { list }, expiresAt: Date.now() + PASSKEYS_TTL_MS });
    },
    /** A challenge for one confirmation, by one account; `consumeChallenge` takes it once. */
    async newChallenge(nonce: string, confirmation: string, account: string): Promise<void> {
      await records.put(`PasskeyChallenge:${sha(nonce)}`, { model: "PasskeyChallenge", payload: { confirmation, account }, expiresAt: Date.now() + CHALLENGE_TTL_MS });
    },
    async challenge(nonce: string): Promise<{ confirmation: string; account: string } | undefined> {
      const r = await records.get(`PasskeyChallenge:${sha(nonce)}`);
      return r && !r.consumed ? { confirmation: String(r.payload.confirmation), account: String(r.payload.account) } : undefined;
    },
    consumeChallenge: (nonce: string) => records.consume(`PasskeyChallenge:${sha(nonce)}`),
    /** The account page's pending "add a passkey": its registration challenge, per browser session. */
    async saveRegistration(session: string, challenge: string): Promise<void> {
      await records.put(`AccountRegistration:${sha(session)}`, { model: "AccountRegistration", payload: { challenge }, expiresAt: Date.now() + CHALLENGE_TTL_MS });
    },
    async takeRegistration(session: string): Promise<string | undefined> {
      const key = `AccountRegistration:${sha(session)}`;
      const r = await records.get(key);
      if (!r || !(await records.consume(key))) return undefined;
      return String(r.payload.challenge);
    },
    /** Marks a call (by its gate digest) as confirmable only with the account's session and passkey. */
    async bind(digest: string, account: string, ttlMs: number): Promise<void> {
      await records.put(`PasskeyBound:${digest}`, { model: "PasskeyBound", payload: { account }, expiresAt: Date.now() + 2 * ttlMs });
    },
    async boundAccount(digest: string): Promise<string | undefined> {
      const r = await records.get(`PasskeyBound:${digest}`);
      return typeof r?.payload.account === "string" ? r.payload.account : undefined;
    },
  };
}

export type PasskeyRecords = ReturnType<typeof createPasskeyRecords>;
