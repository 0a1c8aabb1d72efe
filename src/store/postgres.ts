// The shared store for several replicas: PostgreSQL, through `pg`. Every rule that the file store keeps
// with a synchronous span is kept here by the database:
//  - consuming a confirmation is one UPDATE whose subquery locks the row (FOR UPDATE SKIP LOCKED) and
//    re-checks state = 'confirmed': of any number of concurrent uses, on any replicas, one gets it;
//  - one open question per call: a partial unique index on digest WHERE state = 'pending';
//  - the cap check and the spend's journal row are one transaction under a per-organization advisory
//    lock (when the spend names its organization) and then a per-caller one, always in that order so two
//    transactions never wait on each other crosswise (pg_advisory_xact_lock(namespace, hashtext(…))),
//    committed before the request leaves;
//  - audit appends are serialised by one advisory transaction lock inside one server-side function call
//    (gate_audit_append): take the lock, read the last line, insert seq + 1 chained to its hash, commit;
//    the lock is released only after the commit is visible, and never held across a client round trip.
//    seq is the primary key, so even a writer that skipped the lock could not fork the chain; with
//    GEOPERA_AUDIT_KEY the line (and its mac) is built in this process under that same lock instead
//    (postgresAudit.ts), so the key never reaches the database;
//  - a replica holds a presence lock for its life; a "sending" row of a replica that is gone reads as
//    in doubt, and is re-sent only with its own key. The first replica to start when none is alive
//    expires every open confirmation (a restart of the service forgets them, like the file store);
//  - the request-state secret is one row of gate_secret, made by whichever replica asks first (INSERT …
//    ON CONFLICT DO NOTHING, then a SELECT in a new snapshot, so a racing loser reads the winner's row);
//    a used request state is one INSERT … ON CONFLICT DO NOTHING RETURNING into gate_request_state.
// Times that decide something (expiry, the UTC day of a cap) are the database's, one clock for all.
import { secretOnce } from "./secretOnce.js";
import { PostgresOAuthRecords } from "./oauthPostgres.js";
import pg from "pg";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../log.js";
import { appendSealedAudit, verifyAuditRows } from "./postgresAudit.js";
import { redactedJson } from "../redact.js";
import { capViolation } from "../gate/caps.js";
import { MAX_OPEN, sameSecret } from "../gate/confirmations.js";
import { LOCK, migrate } from "./schema.js";
import { REQUEST_STATE_GRACE_MS, REQUEST_STATE_SECRET_BYTES } from "./types.js";
import type {
  AuditEvent,
  Caps,
  Confirmation,
  ConfirmationState,
  DecideOutcome,
  GateStore,
  NewConfirmation,
  NewSpend,
  Reservation,
  SpendEntry,
  SpendState,
  VerifyResult,
} from "./types.js";

export interface PostgresStoreOptions {
  url: string;
  confirmTtlMs: number;
  log: Logger;
  /** Connections per replica (default 10). */
  poolSize?: number;
  /** How often a URL-elicitation waiter looks for the person's decision (default 250 ms). */
  pollMs?: number;
  /** GEOPERA_AUDIT_KEY's keys, newest first: audit lines carry a mac under the first (see postgresAudit.ts). */
  auditKeys?: readonly string[];
}

/** The URL without its password, for logs and messages. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    u.search = "";
    return u.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

const CONFIRMATION = `id, token, digest, tool, args, caller, view, credits, created_at, expires_at,
  CASE WHEN state IN ('pending', 'confirmed') AND expires_at <= now() THEN 'expired' ELSE state END AS state`;

const JOURNAL = `key, digest, tool, operation_id, body, credits, caller, organization, sent_at, status, owner,
  CASE WHEN state = 'sending' AND NOT gate_owner_alive(owner) THEN 'unknown' ELSE state END AS state`;

/** gate_secret's row of the request-state HMAC key. */
const REQUEST_STATE_SECRET = "request-state";
/** Rows past their grace that one useRequestState deletes, at most. */
const PRUNE_ROWS = 16;

/** Credits since midnight UTC where `column` = $1: in flight and in doubt count, spends the API refused (answered ≥ 400) do not. */
const creditsToday = (column: "caller" | "organization") => `SELECT coalesce(sum(credits), 0) AS total FROM gate_journal
  WHERE ${column} = $1 AND credits IS NOT NULL
    AND sent_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    AND NOT (state = 'answered' AND coalesce(status, 0) >= 400)`;
/** A caller's credits today. */
const CREDITS_TODAY = creditsToday("caller");
/** An organization's credits today, by any caller. */
const ORGANIZATION_CREDITS_TODAY = creditsToday("organization");

interface ConfirmationRow {
  id: string;
  token: string;
  digest: string;
  tool: string;
  args: string;
  caller: string;
  view: string;
  credits: number | null;
  created_at: Date;
  expires_at: Date;
  state: ConfirmationState;
}

interface JournalRow {
  key: string;
  digest: string;
  tool: string;
  operation_id: string;
  body: string;
  credits: number | null;
  caller: string;
  organization: string | null;
  sent_at: Date;
  status: number | null;
  owner: number;
  state: SpendState;
}

const toConfirmation = (r: ConfirmationRow): Confirmation => ({
  id: r.id,
  token: r.token,
  digest: r.digest,
  tool: r.tool,
  args: JSON.parse(r.args) as Record<string, unknown>,
  caller: r.caller,
  view: JSON.parse(r.view) as Confirmation["view"],
  credits: r.credits ?? undefined,
  createdAt: r.created_at.getTime(),
  expiresAt: r.expires_at.getTime(),
  state: r.state,
});

export class PostgresStore implements GateStore {
  readonly where: string;
  readonly oauth: PostgresOAuthRecords;
  private lastSweep = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly presence: pg.Client,
    /** This replica's instance number (the presence lock it holds). */
    private readonly instance: number,
    private readonly opts: PostgresStoreOptions,
  ) {
    this.where = describePostgresUrl(opts.url);
    this.oauth = new PostgresOAuthRecords(pool);
  }

  /** Connects, migrates the schema, and takes this replica's presence lock. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const config = { connectionString: opts.url, application_name: "geopera-billing-mcp", connectionTimeoutMillis: 10_000 };
    const pool = new pg.Pool({ ...config, max: opts.poolSize ?? 10, statement_timeout: 30_000 });
    pool.on("error", (err) => opts.log.warn("postgres: idle connection failed", { error: err.message }));
    const presence = new pg.Client(config);
    try {
      const { from, to } = await migrate(pool);
      if (from !== to) opts.log.info("postgres: gate schema migrated", { from, to, store: describePostgresUrl(opts.url) });
      await presence.connect();
      presence.on("error", (err) =>
        opts.log.error("postgres: presence connection lost; other replicas may now treat this replica's unanswered spends as in doubt (they re-send only with the same key)", { error: err.message }),
      );
      let instance = 0;
      for (let tries = 0; tries < 5 && !instance; tries++) {
        const n = Number((await presence.query<{ n: number }>("SELECT nextval('gate_instance_seq')::int AS n")).rows[0]!.n);
        const got = (await presence.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [LOCK.presence, n])).rows[0]!.ok;
        if (got) instance = n;
      }
      if (!instance) throw new Error("could not take a presence lock");
      // A cold start of the whole service (no other replica alive) forgets every open confirmation, as a
      // restart of the single-process server does: nothing confirmed before it can release a spend after.
      // A replica joining live ones (a rolling restart, scaling out) keeps them: they are the others' too.
      const forgot = await presence.query(
        `UPDATE gate_confirmations SET state = 'expired' WHERE state IN ('pending', 'confirmed') AND NOT EXISTS (
           SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::oid AND pid <> pg_backend_pid()
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`,
        [LOCK.presence],
      );
      if (forgot.rowCount) opts.log.info("postgres: first replica up; open confirmations from before were expired", { count: forgot.rowCount });
      return new PostgresStore(pool, presence, instance, opts);
    } catch (err) {
      await presence.end().catch(() => {});
      await pool.end().catch(() => {});
      throw err;
    }
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private toEntry = (r: JournalRow): SpendEntry => ({
    key: r.key,
    digest: r.digest,
    tool: r.tool,
    operationId: r.operation_id,
    body: r.body,
    credits: r.credits ?? undefined,
    caller: r.caller,
    ...(r.organization !== null ? { organization: r.organization } : {}),
    sentAt: r.sent_at.getTime(),
    state: r.state,
    ...(r.status !== null ? { status: r.status } : {}),
    mine: r.owner === this.instance,
  });

  // ── Confirmations ──────────────────────────────────────────────────────────────────────────────

  async openConfirmation(n: NewConfirmation): Promise<{ confirmation: Confirmation; created: boolean }> {
    await this.sweep();
    for (let attempt = 0; attempt < 3; attempt++) {
      // A pending question past its time no longer counts as "the" question for this call.
      await this.pool.query("UPDATE gate_confirmations SET state = 'expired' WHERE digest = $1 AND state = 'pending' AND expires_at <= now()", [n.digest]);
      const open = await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM gate_confirmations WHERE state IN ('pending', 'confirmed') AND expires_at > now()");
      if (Number(open.rows[0]!.n) >= MAX_OPEN) throw new Error("too many open confirmations; try again later");
      const inserted = await this.pool.query<ConfirmationRow>(
        `INSERT INTO gate_confirmations (id, token, digest, tool, args, caller, view, credits, expires_at, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9::double precision / 1000), 'pending')
         ON CONFLICT (digest) WHERE state = 'pending' DO NOTHING
         RETURNING ${CONFIRMATION}`,
        [randomBytes(16).toString("base64url"), randomBytes(24).toString("base64url"), n.digest, n.tool, JSON.stringify(n.args), n.caller, JSON.stringify(n.view), n.credits ?? null, this.opts.confirmTtlMs],
      );
      if (inserted.rows[0]) return { confirmation: toConfirmation(inserted.rows[0]), created: true };
      const found = await this.pool.query<ConfirmationRow>(`SELECT ${CONFIRMATION} FROM gate_confirmations WHERE digest = $1 AND state = 'pending' AND expires_at > now()`, [n.digest]);
      if (found.rows[0]) return { confirmation: toConfirmation(found.rows[0]), created: false };
      // The pending one was decided or lapsed between the two statements: try again.
    }
    throw new Error("could not open a confirmation (concurrent changes); try again");
  }

  /** Forgets confirmations a day past their time (the audit chain keeps their story). At most every 10 min. */
  private async sweep(): Promise<void> {
    if (Date.now() - this.lastSweep < 600_000) return;
    this.lastSweep = Date.now();
    await this.pool.query("DELETE FROM gate_confirmations WHERE expires_at < now() - interval '1 day'");
  }

  async getConfirmation(id: string): Promise<Confirmation | undefined> {
    const r = await this.pool.query<ConfirmationRow>(`SELECT ${CONFIRMATION} FROM gate_confirmations WHERE id = $1`, [id]);
    return r.rows[0] ? toConfirmation(r.rows[0]) : undefined;
  }

  async decideConfirmation(id: string, token: string, yes: boolean): Promise<DecideOutcome> {
    const c = await this.getConfirmation(id);
    if (!c) return "unknown";
    if (!sameSecret(token, c.token)) return "bad-token";
    if (c.state === "expired") return "expired";
    if (c.state !== "pending") return "already-decided";
    const moved = await this.pool.query(
      "UPDATE gate_confirmations SET state = $3, decided_at = now() WHERE id = $1 AND token = $2 AND state = 'pending' AND expires_at > now()",
      [id, token, yes ? "confirmed" : "declined"],
    );
    if (moved.rowCount === 1) return yes ? "confirmed" : "declined";
    return (await this.getConfirmation(id))?.state === "expired" ? "expired" : "already-decided";
  }

  async consumeConfirmation(digest: string): Promise<Confirmation | undefined> {
    const r = await this.pool.query<ConfirmationRow>(
      `UPDATE gate_confirmations SET state = 'used', used_at = now()
       WHERE id = (SELECT id FROM gate_confirmations
                   WHERE digest = $1 AND state = 'confirmed' AND expires_at > now()
                   ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         AND state = 'confirmed' AND expires_at > now()
       RETURNING ${CONFIRMATION}`,
      [digest],
    );
    return r.rows[0] ? toConfirmation(r.rows[0]) : undefined;
  }

  async closeConfirmation(which: { id: string } | { digest: string }): Promise<number> {
    // Guarded: only an open, unexpired row moves; a used, declined or lapsed one keeps its state.
    const moved = await this.pool.query(
      `UPDATE gate_confirmations SET state = 'declined', decided_at = now()
       WHERE ${"id" in which ? "id" : "digest"} = $1 AND state IN ('pending', 'confirmed') AND expires_at > now()`,
      ["id" in which ? which.id : which.digest],
    );
    return moved.rowCount ?? 0;
  }

  /** Polls the row: the decision may be made on any replica's page. */
  async waitForDecision(id: string, waitMs: number, signal?: AbortSignal): Promise<ConfirmationState> {
    const deadline = Date.now() + waitMs;
    const pollMs = this.opts.pollMs ?? 250;
    for (;;) {
      let state: ConfirmationState | undefined;
      try {
        state = (await this.getConfirmation(id))?.state ?? "expired";
      } catch (err) {
        this.opts.log.warn("postgres: could not read a confirmation while waiting", { error: (err as Error).message });
      }
      if (state && state !== "pending") return state;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return "pending";
      // An abort ends the pause early (the rejection is the abort itself); the loop then answers "pending".
      await delay(Math.min(pollMs, left), undefined, { signal }).catch(() => {});
    }
  }

  // ── The idempotency journal ────────────────────────────────────────────────────────────────────

  async unsettledSpend(digest: string): Promise<SpendEntry | undefined> {
    const r = await this.pool.query<JournalRow>(`SELECT ${JOURNAL} FROM gate_journal WHERE digest = $1 AND state <> 'answered' ORDER BY sent_at DESC LIMIT 1`, [digest]);
    return r.rows[0] ? this.toEntry(r.rows[0]) : undefined;
  }

  async reserveSpend(spend: NewSpend, caps: Caps): Promise<Reservation> {
    return this.tx(async (c) => {
      // One organization's, and one caller's, spends are decided one at a time, on whichever replica they
      // arrive. The organization lock first, always: a transaction holding a caller lock never waits for an
      // organization lock, so no two transactions can wait on each other in a cycle.
      if (spend.organization !== undefined) await c.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK.organization, spend.organization]);
      await c.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK.caller, spend.caller]);
      const open = await c.query<JournalRow>(`SELECT ${JOURNAL} FROM gate_journal WHERE digest = $1 AND state <> 'answered' LIMIT 1`, [spend.digest]);
      if (open.rows[0]) return { busy: this.toEntry(open.rows[0]) };
      const daily = caps.maxCreditsPerDay !== undefined && spend.credits !== undefined;
      const callerDaily = daily || (caps.callerMaxCreditsPerDay !== undefined && spend.credits !== undefined);
      const total = async (sql: string, who: string) => Number((await c.query<{ total: number }>(sql, [who])).rows[0]!.total);
      const today = callerDaily ? await total(CREDITS_TODAY, spend.caller) : 0;
      const organization = daily && spend.organization !== undefined ? { id: spend.organization, today: await total(ORGANIZATION_CREDITS_TODAY, spend.organization) } : undefined;
      const over = capViolation(caps, spend.credits, today, organization);
      if (over) return { over };
      const row = await c.query<JournalRow>(
        `INSERT INTO gate_journal (key, digest, tool, operation_id, body, credits, caller, organization, state, owner)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sending', $9) RETURNING ${JOURNAL}`,
        [spend.key, spend.digest, spend.tool, spend.operationId, spend.body, spend.credits ?? null, spend.caller, spend.organization ?? null, this.instance],
      );
      return { entry: this.toEntry(row.rows[0]!) };
    });
  }

  async claimResend(key: string): Promise<SpendEntry | undefined> {
    const r = await this.pool.query<JournalRow>(
      `UPDATE gate_journal SET state = 'sending', owner = $2, settled_at = NULL
       WHERE key = $1 AND (state = 'unknown' OR (state = 'sending' AND owner <> $2 AND NOT gate_owner_alive(owner)))
       RETURNING ${JOURNAL}`,
      [key, this.instance],
    );
    return r.rows[0] ? this.toEntry(r.rows[0]) : undefined;
  }

  async recordAnswer(key: string, status: number): Promise<void> {
    await this.pool.query("UPDATE gate_journal SET state = 'answered', status = $2, settled_at = now() WHERE key = $1", [key, status]);
  }

  async recordUnknown(key: string): Promise<void> {
    await this.pool.query("UPDATE gate_journal SET state = 'unknown', settled_at = now() WHERE key = $1", [key]);
  }

  async spendsInDoubt(): Promise<SpendEntry[]> {
    const r = await this.pool.query<JournalRow>(
      `SELECT ${JOURNAL} FROM gate_journal WHERE state <> 'answered' AND (state = 'unknown' OR NOT gate_owner_alive(owner)) ORDER BY sent_at`,
    );
    return r.rows.map(this.toEntry);
  }

  async creditsToday(caller: string): Promise<number> {
    return Number((await this.pool.query<{ total: number }>(CREDITS_TODAY, [caller])).rows[0]!.total);
  }

  async organizationCreditsToday(organization: string): Promise<number> {
    return Number((await this.pool.query<{ total: number }>(ORGANIZATION_CREDITS_TODAY, [organization])).rows[0]!.total);
  }

  // ── The audit chain ────────────────────────────────────────────────────────────────────────────

  async appendAudit(e: AuditEvent): Promise<void> {
    const key = this.opts.auditKeys?.[0];
    if (key) return appendSealedAudit(this.pool, e, key);
    // The line is built by gate_audit_append (schema.ts) under the audit lock, around this JSON object
    // (redacted as a value, then serialised; the function refuses anything that is not a JSON object).
    await this.pool.query("SELECT gate_audit_append($1)", [redactedJson(e)]);
  }

  async verifyAudit(): Promise<VerifyResult> {
    return verifyAuditRows(this.pool, { keys: this.opts.auditKeys ?? [] });
  }

  // ── Request states ─────────────────────────────────────────────────────────────────────────────

  /** Read (or made) once per instance and kept (secretOnce). */
  readonly requestStateSecret = secretOnce(() => this.readOrCreateSecret());

  private async readOrCreateSecret(): Promise<Buffer> {
    // Two statements, not one: a single INSERT … ON CONFLICT + SELECT would read from the snapshot taken
    // before a racing replica's row committed, and find nothing. The bytes are made here (node:crypto, no
    // pgcrypto needed); a replica that loses the race has its bytes dropped by ON CONFLICT.
    await this.pool.query("INSERT INTO gate_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [REQUEST_STATE_SECRET, randomBytes(REQUEST_STATE_SECRET_BYTES)]);
    const r = await this.pool.query<{ value: Buffer }>("SELECT value FROM gate_secret WHERE name = $1", [REQUEST_STATE_SECRET]);
    const value = r.rows[0]?.value;
    if (!value || value.length !== REQUEST_STATE_SECRET_BYTES) {
      // Never the value.
      throw new Error(
        `the request-state secret (row '${REQUEST_STATE_SECRET}' of gate_secret) is damaged: it must be ${REQUEST_STATE_SECRET_BYTES} bytes and is ${value?.length ?? 0}. ` +
          "Stop every replica, delete that row, and start again (a new secret is made; request states handed out under the old one are refused)",
      );
    }
    return value;
  }

  async useRequestState(id: string, expiresAt: number): Promise<boolean> {
    if (typeof id !== "string" || id === "") throw new TypeError("a request state id is a non-empty string");
    if (!Number.isFinite(expiresAt)) throw new TypeError("a request state's expiresAt is epoch milliseconds");
    // A state so old that its row may already be gone is refused without a row, so an id never gets a
    // second true; the grace is measured on the database's clock, the one that deletes rows.
    const r = await this.pool.query(
      `INSERT INTO gate_request_state (id, expires_at)
       SELECT $1, to_timestamp($2::double precision / 1000)
       WHERE to_timestamp($2::double precision / 1000) > now() - make_interval(secs => $3::double precision / 1000)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [id, expiresAt, REQUEST_STATE_GRACE_MS],
    );
    // Each use takes a few rows past their grace with it: the table stays about as large as the live
    // states, with no timer. SKIP LOCKED: concurrent uses delete different rows, never wait on each other.
    // The use is already recorded: a failed clean-up is only reported, the next use tries again.
    await this.pool
      .query(
        `DELETE FROM gate_request_state WHERE id IN (
           SELECT id FROM gate_request_state WHERE expires_at <= now() - make_interval(secs => $1::double precision / 1000)
           LIMIT ${PRUNE_ROWS} FOR UPDATE SKIP LOCKED)`,
        [REQUEST_STATE_GRACE_MS],
      )
      .catch((err: Error) => this.opts.log.warn("postgres: could not delete old request states", { error: err.message }));
    return r.rowCount === 1;
  }

  async close(): Promise<void> {
    await this.presence.end().catch(() => {});
    await this.pool.end();
  }
}

export { verifyPostgresAudit } from "./postgresAudit.js";
