// oidc-provider's storage adapter over the gate store's OAuth records (file or PostgreSQL). Every id the
// library hands us (a token's value, a code, a grant id, an interaction uid) is stored only as its SHA-256,
// and a token's own id (jti, which for opaque tokens IS the token) is dropped from the stored payload and
// put back from the id on lookup: the store holds nothing a bearer could present. Codes and refresh
// tokens are consumed atomically by the store; a second consume of one is refused as invalid_grant.
import { createHash } from "node:crypto";
import { errors } from "oidc-provider";
import type { OAuthRecords } from "../store/types.js";

/** Dynamically registered clients live this long, then the client gets invalid_client. */
export const CLIENT_TTL_S = 90 * 24 * 3600;

export const hashId = (id: string) => createHash("sha256").update(id, "utf8").digest("base64url");
const keyOf = (model: string, id: string) => `${model}:${hashId(id)}`;

/** Our own record beside each oidc-provider Grant: the person's Geopera key, sealed, and what they granted. */
export const GRANT_KEY_MODEL = "GeoperaGrant";
export const grantKeyOf = (grantId: string) => keyOf(GRANT_KEY_MODEL, grantId);

/** The class oidc-provider instantiates once per model name. */
export function adapterFor(records: OAuthRecords) {
  return class GateStoreAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
      const { jti, ...rest } = payload;
      // A session's uid lookup needs its cookie id back (findByUid): the Session model keeps its jti.
      const stored = this.model === "Session" ? payload : rest;
      // A registered client (and its registration access token) lapses after 90 days unless it says sooner.
      const ttl = expiresIn ?? (this.model === "Client" || this.model === "RegistrationAccessToken" ? CLIENT_TTL_S : undefined);
      await records.put(keyOf(this.model, id), {
        model: this.model,
        payload: { ...stored, ...(jti !== undefined ? { __jti: true } : {}) },
        ...(ttl !== undefined ? { expiresAt: Date.now() + ttl * 1000 } : {}),
        ...(typeof payload.grantId === "string" ? { grantId: hashId(payload.grantId) } : {}),
        ...(typeof payload.uid === "string" ? { uid: hashId(payload.uid) } : {}),
      });
    }

    async find(id: string) {
      const r = await records.get(keyOf(this.model, id));
      if (!r || r.model !== this.model) return undefined;
      const { __jti, ...payload } = r.payload;
      return { ...payload, ...(__jti ? { jti: id } : {}), ...(r.consumed !== undefined ? { consumed: r.consumed } : {}) };
    }

    async findByUid(uid: string) {
      const r = await records.getByUid(hashId(uid));
      if (!r || r.model !== this.model) return undefined;
      const { __jti, ...payload } = r.payload;
      return { ...payload, ...(r.consumed !== undefined ? { consumed: r.consumed } : {}) };
    }

    async findByUserCode() {
      return undefined; // the device flow is not enabled
    }

    async consume(id: string) {
      if (!(await records.consume(keyOf(this.model, id)))) throw new errors.InvalidGrant("grant already used");
    }

    async destroy(id: string) {
      await records.remove(keyOf(this.model, id));
      // A grant destroyed (revoked, reuse detected) takes the Geopera key sealed for it along.
      if (this.model === "Grant") await records.remove(keyOf(GRANT_KEY_MODEL, id));
    }

    async revokeByGrantId(grantId: string) {
      await records.removeByGrant(hashId(grantId), this.model);
    }
  };
}
