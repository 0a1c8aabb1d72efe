// The PostgreSQL store's OAuth records (table gate_oauth, migration 5): shared by every replica, so a token
// issued by one is accepted by another. Consuming a code or refresh token is one conditional UPDATE
// (… WHERE consumed_at IS NULL): of two replicas redeeming the same one, exactly one wins. Keys are
// hashes (src/oauth/adapter.ts): the table never holds a token's value.
import type pg from "pg";
import type { OAuthRecord, OAuthRecords } from "./types.js";

interface Row {
  model: string;
  payload: Record<string, unknown>;
  expires_ms: string | null;
  grant_id: string | null;
  uid: string | null;
  consumed: string | null;
}

const COLUMNS = "model, payload, (extract(epoch from expires_at) * 1000)::bigint AS expires_ms, grant_id, uid, extract(epoch from consumed_at)::bigint AS consumed";
const LIVE = "(expires_at IS NULL OR expires_at > now())";

const recordOf = (r: Row | undefined): OAuthRecord | undefined =>
  r && {
    model: r.model,
    payload: r.payload,
    ...(r.expires_ms !== null ? { expiresAt: Number(r.expires_ms) } : {}),
    ...(r.grant_id !== null ? { grantId: r.grant_id } : {}),
    ...(r.uid !== null ? { uid: r.uid } : {}),
    ...(r.consumed !== null ? { consumed: Number(r.consumed) } : {}),
  };

const expiresAt = (r: OAuthRecord) => (r.expiresAt === undefined ? null : new Date(r.expiresAt));

export class PostgresOAuthRecords implements OAuthRecords {
  constructor(private readonly pool: pg.Pool) {}

  async put(key: string, r: OAuthRecord) {
    await this.pool.query(
      `INSERT INTO gate_oauth (key, model, payload, expires_at, grant_id, uid, consumed_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)
       ON CONFLICT (key) DO UPDATE SET model = $2, payload = $3, expires_at = $4, grant_id = $5, uid = $6, consumed_at = NULL`,
      [key, r.model, JSON.stringify(r.payload), expiresAt(r), r.grantId ?? null, r.uid ?? null],
    );
    // Each write takes a few expired rows with it: the table stays about as large as the live records.
    await this.pool.query(`DELETE FROM gate_oauth WHERE key IN (SELECT key FROM gate_oauth WHERE expires_at <= now() LIMIT 20 FOR UPDATE SKIP LOCKED)`);
  }

  async putIfAbsent(key: string, r: OAuthRecord) {
    // Two statements, as for gate_secret: the read must see a racing replica's committed row.
    await this.pool.query(`INSERT INTO gate_oauth (key, model, payload, expires_at, grant_id, uid) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (key) DO UPDATE SET model = $2, payload = $3, expires_at = $4, grant_id = $5, uid = $6, consumed_at = NULL WHERE gate_oauth.expires_at <= now()`, [
      key,
      r.model,
      JSON.stringify(r.payload),
      expiresAt(r),
      r.grantId ?? null,
      r.uid ?? null,
    ]);
    return (await this.get(key))!;
  }

  async get(key: string) {
    return recordOf((await this.pool.query<Row>(`SELECT ${COLUMNS} FROM gate_oauth WHERE key = $1 AND ${LIVE}`, [key])).rows[0]);
  }

  async getByUid(uid: string) {
    return recordOf((await this.pool.query<Row>(`SELECT ${COLUMNS} FROM gate_oauth WHERE uid = $1 AND ${LIVE} LIMIT 1`, [uid])).rows[0]);
  }

  async consume(key: string) {
    const r = await this.pool.query(`UPDATE gate_oauth SET consumed_at = now() WHERE key = $1 AND consumed_at IS NULL AND ${LIVE}`, [key]);
    return r.rowCount === 1;
  }

  async remove(key: string) {
    await this.pool.query("DELETE FROM gate_oauth WHERE key = $1", [key]);
  }

  async removeByGrant(grantId: string, model: string) {
    await this.pool.query("DELETE FROM gate_oauth WHERE grant_id = $1 AND model = $2", [grantId, model]);
  }
}
