// The PostgreSQL schema of the gate's store, created or migrated when a server starts. Migrations are
// numbered and run in order inside one transaction that first takes an advisory lock, so replicas
// starting together never race: the first applies what is missing, the others then find it applied.
// Applied versions are rows of `schema_version`; a database newer than this server stops start-up.
import type pg from "pg";

/** Advisory-lock namespaces (the first key of pg_advisory_*lock(int, int)); "gate" in ASCII and neighbours. */
export const LOCK = {
  /** objid 1: migrations; objid 2: audit appends. */
  gate: 1734439013,
  /** objid = a replica's instance number, held (session lock) for the replica's life. */
  presence: 1734439014,
  /** objid = hashtext(caller): a caller's cap check + journal row. */
  caller: 1734439015,
  /** objid = hashtext(organization): an organization's cap check + journal row; taken BEFORE the caller lock. */
  organization: 1734439016,
} as const;
export const MIGRATE_LOCK = 1;
export const AUDIT_LOCK = 2;

interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "gate state: confirmations, idempotency journal, audit chain, replica presence",
    sql: `
CREATE SEQUENCE gate_instance_seq AS integer;

CREATE TABLE gate_confirmations (
  id          text PRIMARY KEY,
  token       text NOT NULL,
  digest      text NOT NULL,
  tool        text NOT NULL,
  args        text NOT NULL,
  caller      text NOT NULL,
  view        text NOT NULL,
  credits     double precision,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  state       text NOT NULL CHECK (state IN ('pending', 'confirmed', 'declined', 'used', 'expired')),
  decided_at  timestamptz,
  used_at     timestamptz
);
-- One open question per exact call, whichever replica asks.
CREATE UNIQUE INDEX gate_confirmations_one_pending ON gate_confirmations (digest) WHERE state = 'pending';
CREATE INDEX gate_confirmations_confirmed ON gate_confirmations (digest) WHERE state = 'confirmed';
CREATE INDEX gate_confirmations_open ON gate_confirmations (expires_at) WHERE state IN ('pending', 'confirmed');

CREATE TABLE gate_journal (
  key           text PRIMARY KEY,
  digest        text NOT NULL,
  tool          text NOT NULL,
  operation_id  text NOT NULL,
  body          text NOT NULL,
  credits       double precision,
  caller        text NOT NULL,
  sent_at       timestamptz NOT NULL DEFAULT now(),
  state         text NOT NULL CHECK (state IN ('sending', 'answered', 'unknown')),
  status        integer,
  settled_at    timestamptz,
  -- The instance number of the replica sending it (see gate_owner_alive).
  owner         integer NOT NULL
);
CREATE INDEX gate_journal_unsettled ON gate_journal (digest) WHERE state <> 'answered';
CREATE INDEX gate_journal_caller_day ON gate_journal (caller, sent_at);

CREATE TABLE gate_audit (
  seq   bigint PRIMARY KEY CHECK (seq > 0),
  line  text NOT NULL
);

-- Appends one audit line in one round trip, serialised by an advisory transaction lock: under the lock a
-- fresh snapshot reads the last line, the new line is seq + 1 chained to its SHA-256 (same format as the
-- file store's lines: {"seq":…,"at":…,<event fields>,"prev":…}), and the lock is released at commit.
-- The lock is never held across a client round trip. seq is the primary key: no fork even without it.
CREATE FUNCTION gate_audit_append(event_json text) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_seq bigint;
  last_line text;
  next_seq bigint;
BEGIN
  IF left(event_json, 1) <> '{' OR right(event_json, 1) <> '}' OR length(event_json) < 3 THEN
    RAISE EXCEPTION 'gate_audit_append: not a JSON object with fields';
  END IF;
  PERFORM pg_advisory_xact_lock(${LOCK.gate}, ${AUDIT_LOCK});
  SELECT a.seq, a.line INTO last_seq, last_line FROM gate_audit AS a ORDER BY a.seq DESC LIMIT 1;
  next_seq := coalesce(last_seq, 0) + 1;
  INSERT INTO gate_audit (seq, line) VALUES (next_seq,
    '{"seq":' || next_seq
    || ',"at":"' || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '",'
    || substr(event_json, 2, length(event_json) - 2)
    || ',"prev":"' || coalesce(encode(sha256(convert_to(last_line, 'UTF8')), 'hex'), repeat('0', 64)) || '"}');
  RETURN next_seq;
END
$$;

-- A replica holds a session advisory lock (presence, its instance number) on a connection of its own
-- for as long as it runs; when the process dies its connection closes and the lock goes with it. A
-- "sending" journal row whose owner holds no such lock was sent by a replica that is gone: in doubt.
CREATE FUNCTION gate_owner_alive(instance integer) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND classid = ${LOCK.presence}::oid AND objid = instance::oid
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;
`,
  },
  {
    version: 2,
    description: "journal: the organization a spend is charged to, for the per-organization daily cap",
    sql: `
-- NULL for rows written before (counted for their caller only) and when the organization was not needed.
ALTER TABLE gate_journal ADD COLUMN organization text;
CREATE INDEX gate_journal_organization_day ON gate_journal (organization, sent_at) WHERE organization IS NOT NULL;
`,
  },
  {
    version: 3,
    description: "gate_audit_append refuses text that is not a JSON object with fields",
    // Migration 1 only looked at the first and last characters, so a line of broken JSON (made by redacting
    // serialised text) entered the chain and broke it for good. Now the text must parse as a JSON object
    // with at least one field before anything is locked or written: a bad row never enters the chain. The
    // cast to json raises "invalid input syntax for type json" for text that is not JSON at all. Only the
    // cast and json_typeof look at it: they check the syntax without decoding strings, so every escape
    // JSON.stringify writes passes, \u0000 and lone surrogates included (jsonb, or json_object_keys, which
    // decode, would refuse those). A valid object whose inside is not blank has at least one field.
    sql: `
CREATE OR REPLACE FUNCTION gate_audit_append(event_json text) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_seq bigint;
  last_line text;
  next_seq bigint;
BEGIN
  IF left(event_json, 1) <> '{' OR right(event_json, 1) <> '}'
     OR json_typeof(event_json::json) <> 'object'
     OR btrim(substr(event_json, 2, length(event_json) - 2), E' \\t\\n\\r') = '' THEN
    RAISE EXCEPTION 'gate_audit_append: not a JSON object with fields';
  END IF;
  PERFORM pg_advisory_xact_lock(${LOCK.gate}, ${AUDIT_LOCK});
  SELECT a.seq, a.line INTO last_seq, last_line FROM gate_audit AS a ORDER BY a.seq DESC LIMIT 1;
  next_seq := coalesce(last_seq, 0) + 1;
  INSERT INTO gate_audit (seq, line) VALUES (next_seq,
    '{"seq":' || next_seq
    || ',"at":"' || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '",'
    || substr(event_json, 2, length(event_json) - 2)
    || ',"prev":"' || coalesce(encode(sha256(convert_to(last_line, 'UTF8')), 'hex'), repeat('0', 64)) || '"}');
  RETURN next_seq;
END
$$;
`,
  },
  {
    version: 4,
    description: "server secrets (the request-state HMAC key) and used request states",
    // gate_secret: secrets the replicas share with no configuration, made by the first replica that needs
    // one (INSERT … ON CONFLICT DO NOTHING, then read). gate_request_state: each request state id that was
    // accepted once; the primary key makes "first use" one INSERT on any replica. Rows are deleted some
    // time after expires_at (postgres.ts), so the expires_at index serves that deletion.
    sql: `
CREATE TABLE gate_secret (
  name        text PRIMARY KEY,
  value       bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gate_request_state (
  id          text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX gate_request_state_expires ON gate_request_state (expires_at);
`,
  },
  {
    version: 5,
    description: "OAuth authorization server records (--auth oauth|both)",
    // One row per record of src/oauth/adapter.ts: key, grant_id and uid are SHA-256 hashes of the
    // library's ids, so no token value is stored; a grant's Geopera key is in payload sealed under the KEK.
    sql: `
CREATE TABLE gate_oauth (
  key          text PRIMARY KEY,
  model        text NOT NULL,
  payload      jsonb NOT NULL,
  expires_at   timestamptz,
  grant_id     text,
  uid          text,
  consumed_at  timestamptz
);
CREATE INDEX gate_oauth_grant ON gate_oauth (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX gate_oauth_uid ON gate_oauth (uid) WHERE uid IS NOT NULL;
CREATE INDEX gate_oauth_expires ON gate_oauth (expires_at) WHERE expires_at IS NOT NULL;
`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Brings the database to SCHEMA_VERSION. Returns the version found and the version left. */
export async function migrate(pool: pg.Pool): Promise<{ from: number; to: number }> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    await c.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK.gate, MIGRATE_LOCK]);
    await c.query(
      "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const from = Number((await c.query<{ v: number }>("SELECT coalesce(max(version), 0) AS v FROM schema_version")).rows[0]!.v);
    if (from > SCHEMA_VERSION) {
      throw new Error(`the database's gate schema is version ${from}, newer than this server's ${SCHEMA_VERSION}: upgrade the server`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await c.query(m.sql);
      await c.query("INSERT INTO schema_version (version, description) VALUES ($1, $2)", [m.version, m.description]);
    }
    await c.query("COMMIT");
    return { from, to: SCHEMA_VERSION };
  } catch (err) {
    await c.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}
