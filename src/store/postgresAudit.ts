// The PostgreSQL store's audit chain beyond the plain append (gate_audit_append in schema.ts):
//  - keyed appends (GEOPERA_AUDIT_KEY): the line must carry an HMAC, and the key must never leave this
//    process (a database that saw it could forge lines). So the line is built here, by the same code as
//    the file store's, inside one transaction that takes the same advisory audit lock as
//    gate_audit_append, reads the last line (a fresh snapshot, after the lock), and inserts seq + 1. Unlike
//    the unkeyed path this holds the lock across three client round trips: keyed appends are slower.
//  - `audit verify`: the chain in seq order (keyset pages) through the chain check, then the
//    completeness cross-check against gate_journal (read before the chain for the journal → audit rule,
//    and after it for the audit → journal rule, so spends in progress on live replicas are not reported).
import type pg from "pg";
import { auditLine } from "../gate/audit.js";
import { ChainCheck, GENESIS, sha256, type CheckOptions } from "../gate/auditCheck.js";
import { sealLine } from "../gate/auditKey.js";
import { crossCheck, type JournaledSpend } from "../gate/completeness.js";
import { AUDIT_LOCK, LOCK } from "./schema.js";
import type { AuditEvent, VerifyResult } from "./types.js";

export async function appendSealedAudit(pool: pg.Pool, e: AuditEvent, key: string): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    await c.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK.gate, AUDIT_LOCK]);
    const last = await c.query<{ seq: string | null; line: string | null; now: Date }>(
      "SELECT a.seq, a.line, clock_timestamp() AS now FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, line FROM gate_audit ORDER BY seq DESC LIMIT 1) AS a ON true",
    );
    const r = last.rows[0]!;
    const seq = r.seq === null ? 1 : Number(r.seq) + 1;
    const line = sealLine(auditLine(seq, r.now, e, r.line === null ? GENESIS : sha256(r.line)), key);
    await c.query("INSERT INTO gate_audit (seq, line) VALUES ($1, $2)", [seq, line]);
    await c.query("COMMIT");
  } catch (err) {
    await c.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

type Db = pg.Pool | pg.Client;

/** Every spend of gate_journal (undefined: the table does not exist). */
async function journalSpends(db: Db): Promise<Map<string, JournaledSpend> | undefined> {
  const exists = (await db.query<{ t: string | null }>("SELECT to_regclass('gate_journal')::text AS t")).rows[0]!.t;
  if (!exists) return undefined;
  const rows = await db.query<{ key: string; tool: string; state: JournaledSpend["state"]; status: number | null }>("SELECT key, tool, state, status FROM gate_journal");
  return new Map(rows.rows.map((r) => [r.key, { key: r.key, tool: r.tool, state: r.state, ...(r.status !== null ? { status: r.status } : {}) }]));
}

/** Streams gate_audit in seq order through the chain check. */
async function checkRows(db: Db, opts: CheckOptions): Promise<ChainCheck> {
  const check = new ChainCheck(opts);
  let after = 0;
  for (;;) {
    const page = await db.query<{ seq: string; line: string }>("SELECT seq, line FROM gate_audit WHERE seq > $1 ORDER BY seq LIMIT 1000", [after]);
    for (const r of page.rows) check.push(r.line);
    if (page.rows.length < 1000) return check;
    after = Number(page.rows.at(-1)!.seq);
  }
}

/**
 * The chain and the cross-check. `snapshot` runs the chain read (one snapshot for the verify command);
 * the journal is read before and after it.
 */
async function verifyWith(db: Db, opts: CheckOptions, snapshot: (read: () => Promise<ChainCheck>) => Promise<ChainCheck>): Promise<VerifyResult> {
  const before = await journalSpends(db);
  const check = await snapshot(() => checkRows(db, opts));
  const after = before ? new Set((await journalSpends(db))?.keys()) : undefined;
  if (!before || !after) return check.result([], ["no gate_journal table: nothing to cross-check"]);
  return check.result(crossCheck(before, check.spends, after), [`${before.size} spend(s) in gate_journal cross-checked against the audit`]);
}

/** The store's own check (a pool; pages are read as they come). */
export function verifyAuditRows(pool: pg.Pool, opts: CheckOptions): Promise<VerifyResult> {
  return verifyWith(pool, opts, (read) => read());
}

/**
 * `audit verify --store postgres://…`: reads the chain straight from the table in one read-only
 * snapshot, changing nothing (no migration, no presence). undefined when there is no gate_audit table.
 */
export async function verifyPostgresAudit(url: string, opts: CheckOptions = {}): Promise<VerifyResult | undefined> {
  const { default: pgModule } = await import("pg");
  const client = new pgModule.Client({ connectionString: url, application_name: "geopera-billing-mcp audit verify", connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const exists = (await client.query<{ t: string | null }>("SELECT to_regclass('gate_audit')::text AS t")).rows[0]!.t;
    if (!exists) return undefined;
    return await verifyWith(client, opts, async (read) => {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      try {
        return await read();
      } finally {
        await client.query("COMMIT").catch(() => {});
      }
    });
  } finally {
    await client.end().catch(() => {});
  }
}
