// The gate's store interface, exercised directly against both implementations: the file store always,
// PostgreSQL (a throwaway server started here) when GEOPERA_TEST_STORE=postgres (npm run test:pg).
// With PostgreSQL, "two replicas" are two store instances — two pools and two presence locks — on one
// database, so every race below crosses connections the way replicas do.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileStore } from "../src/store/file.js";
import { PostgresStore } from "../src/store/postgres.js";
import { SCHEMA_VERSION } from "../src/store/schema.js";
import type { GateStore, NewConfirmation, NewSpend } from "../src/store/types.js";
import { createLogger } from "../src/log.js";
import { systemClock } from "../src/gate/clock.js";
import { startPostgres, type PgCluster } from "./helpers/postgres.js";
import { tempDir } from "./helpers/stdio.js";
import fc from "fast-check";
import { redact, redactValue } from "../src/redact.js";
import { hostile } from "./helpers/hostile.js";
import { skipped, NO_POSTGRES } from "./helpers/skip.js";

const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const AUDIT_RUNS = 40;
const log = createLogger("silent");

interface Kind {
  name: string;
  /** Two handles on one state: two replicas for PostgreSQL; the same process for files. */
  pair(ttlMs?: number): Promise<[GateStore, GateStore]>;
  /** Edits audit line `n` (1-based) in place. */
  tamper(a: GateStore, n: number, edit: (line: string) => string): Promise<void>;
  /** The audit lines as stored. */
  lines(a: GateStore): Promise<string[]>;
}

let cluster: PgCluster | undefined;
const opened: GateStore[] = [];
const dbOf = new Map<GateStore, string>();
const dirOf = new Map<GateStore, string>();

const fileKind: Kind = {
  name: "file",
  async pair(ttlMs = 60_000) {
    const dir = tempDir();
    const s = new FileStore(dir, systemClock, ttlMs);
    dirOf.set(s, dir);
    opened.push(s);
    return [s, s];
  },
  async tamper(a, n, edit) {
    const file = join(dirOf.get(a)!, "audit.jsonl");
    const lines = readFileSync(file, "utf8").trim().split("\n");
    lines[n - 1] = edit(lines[n - 1]!);
    writeFileSync(file, lines.join("\n") + "\n");
  },
  async lines(a) {
    return readFileSync(join(dirOf.get(a)!, "audit.jsonl"), "utf8").trim().split("\n");
  },
};

const pgKind: Kind = {
  name: "postgres",
  async pair(ttlMs = 60_000) {
    const url = await cluster!.createDatabase();
    const [a, b] = await Promise.all([0, 1].map(() => PostgresStore.open({ url, confirmTtlMs: ttlMs, log, pollMs: 50 })));
    opened.push(a!, b!);
    dbOf.set(a!, url);
    return [a!, b!];
  },
  async tamper(a, n, edit) {
    const url = dbOf.get(a)!;
    const [row] = await cluster!.query<{ line: string }>(url, "SELECT line FROM gate_audit WHERE seq = $1", [n]);
    await cluster!.query(url, "UPDATE gate_audit SET line = $2 WHERE seq = $1", [n, edit(row!.line)]);
  },
  async lines(a) {
    return (await cluster!.query<{ line: string }>(dbOf.get(a)!, "SELECT line FROM gate_audit ORDER BY seq")).map((r) => r.line);
  },
};

beforeAll(async () => {
  if (PG) cluster = await startPostgres();
}, 60_000);
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => {});
  await cluster?.stop();
});

const question = (digest = randomUUID()): NewConfirmation => ({
  digest,
  tool: "billing_topup",
  args: { credits: 10 },
  caller: "fp_0123456789abcdef",
  view: { summary: "Buy 10 credits", facts: [["Credits", "10"]] },
  credits: 10,
});
const spend = (over: Partial<NewSpend> = {}): NewSpend => ({
  key: randomUUID(),
  digest: randomUUID(),
  tool: "billing_topup",
  operationId: "billing.topup",
  body: '{"credits":100}',
  credits: 100,
  caller: `fp_${randomUUID().slice(0, 16)}`,
  ...over,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each((PG ? [fileKind, pgKind] : [fileKind]).map((k) => [k.name, k] as const))("%s store", (_name, kind) => {
  it("asks once per call, takes a decision only with the token, and releases it exactly once", async () => {
    const [a, b] = await kind.pair();
    const q = question();
    const first = await a.openConfirmation(q);
    const again = await b.openConfirmation(q);
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.confirmation.id).toBe(first.confirmation.id);
    const { id, token } = first.confirmation;
    expect(await b.decideConfirmation(id, "wrong", true)).toBe("bad-token");
    expect(await b.decideConfirmation("no-such-confirmation", token, true)).toBe("unknown");
    expect(await a.consumeConfirmation(q.digest)).toBeUndefined(); // pending is not confirmed
    expect(await b.decideConfirmation(id, token, true)).toBe("confirmed");
    expect(await a.decideConfirmation(id, token, false)).toBe("already-decided");
    expect((await a.getConfirmation(id))?.state).toBe("confirmed");
    const used = await a.consumeConfirmation(q.digest);
    expect(used?.id).toBe(id);
    expect(used?.args).toEqual({ credits: 10 });
    expect(used?.view.facts).toEqual([["Credits", "10"]]);
    expect(await b.consumeConfirmation(q.digest)).toBeUndefined();
    expect((await b.getConfirmation(id))?.state).toBe("used");
    // Used: the next identical call is a new question.
    expect((await b.openConfirmation(q)).created).toBe(true);
  });

  it("50 parallel uses of one confirmation (spread over both handles) → exactly one", async () => {
    const [a, b] = await kind.pair();
    const q = question();
    const { confirmation: c } = await a.openConfirmation(q);
    await b.decideConfirmation(c.id, c.token, true);
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).consumeConfirmation(q.digest)));
    expect(got.filter(Boolean)).toHaveLength(1);
  });

  it("a confirmation expires: no decision, no use; a waiter on the other handle sees the decision", async () => {
    const [a, b] = await kind.pair(300);
    const q = question();
    const { confirmation: c } = await a.openConfirmation(q);
    await sleep(400);
    expect(await b.decideConfirmation(c.id, c.token, true)).toBe("expired");
    expect((await a.getConfirmation(c.id))?.state).toBe("expired");
    expect(await a.consumeConfirmation(q.digest)).toBeUndefined();

    const q2 = question();
    const { confirmation: c2 } = await a.openConfirmation(q2);
    expect(c2.id).not.toBe(c.id);
    const waiting = a.waitForDecision(c2.id, 5_000);
    setTimeout(() => void b.decideConfirmation(c2.id, c2.token, true), 50);
    expect(await waiting).toBe("confirmed");
    await sleep(400);
    expect(await b.consumeConfirmation(q2.digest)).toBeUndefined(); // confirmed but lapsed
    const q3 = question();
    const { confirmation: c3 } = await b.openConfirmation(q3);
    expect(await a.waitForDecision(c3.id, 100)).toBe("pending");
  });

  it("a 'no' through the client closes the call's open confirmation: no decision, no use, a waiter sees it", async () => {
    const [a, b] = await kind.pair();
    // By id: the pending question of a declined URL elicitation.
    const q = question();
    const { confirmation: c } = await a.openConfirmation(q);
    const waiting = b.waitForDecision(c.id, 5_000);
    expect(await b.closeConfirmation({ id: c.id })).toBe(1);
    expect(await waiting).toBe("declined");
    expect((await a.getConfirmation(c.id))?.state).toBe("declined");
    expect(await a.decideConfirmation(c.id, c.token, true)).toBe("already-decided");
    expect(await b.consumeConfirmation(q.digest)).toBeUndefined();
    expect(await a.closeConfirmation({ id: c.id })).toBe(0); // closed once
    expect((await b.openConfirmation(q)).confirmation.id).not.toBe(c.id); // the next call is a new question

    // By digest: a form "no" closes this call's open questions (a confirmed one too), and no other call's.
    const q2 = question();
    const other = question();
    const { confirmation: c2 } = await a.openConfirmation(q2);
    const { confirmation: o } = await a.openConfirmation(other);
    await b.decideConfirmation(c2.id, c2.token, true);
    expect(await b.closeConfirmation({ digest: q2.digest })).toBe(1);
    expect(await a.consumeConfirmation(q2.digest)).toBeUndefined();
    expect((await a.getConfirmation(c2.id))?.state).toBe("declined");
    expect((await a.getConfirmation(o.id))?.state).toBe("pending");

    // A used confirmation stays used.
    const q3 = question();
    const { confirmation: c3 } = await a.openConfirmation(q3);
    await a.decideConfirmation(c3.id, c3.token, true);
    expect((await b.consumeConfirmation(q3.digest))?.id).toBe(c3.id);
    expect(await a.closeConfirmation({ digest: q3.digest })).toBe(0);
    expect((await a.getConfirmation(c3.id))?.state).toBe("used");
  });

  it("the cap check and the journal row are one step: two 100-credit spends under a 150 cap → one", async () => {
    const [a, b] = await kind.pair();
    const caller = "fp_capcapcapcapcap1";
    const caps = { maxCreditsPerDay: 150 };
    const results = await Promise.all([a.reserveSpend(spend({ caller }), caps), b.reserveSpend(spend({ caller }), caps)]);
    expect(results.filter((r) => "entry" in r)).toHaveLength(1);
    const refused = results.find((r) => "over" in r) as { over: string };
    expect(refused.over).toMatch(/over this server's limit of 150 credits per day/);
    expect(await a.creditsToday(caller)).toBe(100);
    expect(await b.creditsToday("fp_someoneelse000")).toBe(0);
    // A spend the API refused (4xx) does not count.
    const entry = (results.find((r) => "entry" in r) as { entry: { key: string } }).entry;
    await b.recordAnswer(entry.key, 402);
    expect(await a.creditsToday(caller)).toBe(0);
  });

  it("an identical spend in flight is busy; an unanswered one is re-sent once, with its own key", async () => {
    const [a, b] = await kind.pair();
    const s = spend();
    const r = await a.reserveSpend(s, {});
    expect("entry" in r && r.entry.mine && r.entry.state === "sending").toBe(true);
    const again = await b.reserveSpend({ ...s, key: randomUUID() }, {});
    expect("busy" in again && again.busy.key).toBe(s.key);
    expect((await b.unsettledSpend(s.digest))?.state).toBe("sending");
    expect(await b.claimResend(s.key)).toBeUndefined(); // in flight: nobody else takes it
    await a.recordUnknown(s.key);
    expect((await b.spendsInDoubt()).map((e) => e.key)).toContain(s.key);
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claimResend(s.key)));
    const won = claims.filter(Boolean);
    expect(won).toHaveLength(1);
    expect(won[0]!.body).toBe(s.body);
    await a.recordAnswer(s.key, 200);
    expect(await b.unsettledSpend(s.digest)).toBeUndefined();
    expect((await b.spendsInDoubt()).map((e) => e.key)).not.toContain(s.key);
  });

  it("concurrent audit appends form one chain that verifies; an edited line is named", async () => {
    const [a, b] = await kind.pair();
    await Promise.all(Array.from({ length: 120 }, (_, i) => (i % 2 ? a : b).appendAudit({ event: "asked", tool: "billing_topup", digest: `d${i}`, caller: "fp_x", channel: "page" })));
    expect(await a.verifyAudit()).toMatchObject({ ok: true, lines: 120 });
    // One line format for both stores: seq, at (ISO, ms, UTC), the event's fields, prev; secrets redacted.
    await a.appendAudit({ event: "refused", tool: "billing_topup", digest: "d", caller: "fp_x", detail: "echoed gpra_live_secret_123 back", args: { note: 'quote " and ünïcode' } });
    const lines = await kind.lines(a);
    const last = lines.at(-1)!;
    expect(Object.keys(JSON.parse(last))).toEqual(["seq", "at", "event", "tool", "digest", "caller", "detail", "args", "prev"]);
    expect(JSON.parse(last)).toMatchObject({ seq: 121, detail: "echoed [REDACTED] back", args: { note: 'quote " and ünïcode' } });
    expect(JSON.parse(last).at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(JSON.parse(last).prev).toBe(createHash("sha256").update(lines.at(-2)!).digest("hex"));
    expect(JSON.parse(lines[0]!).prev).toBe("0".repeat(64));
    expect(await b.verifyAudit()).toMatchObject({ ok: true, lines: 121 });
    await kind.tamper(a, 40, (line) => line.replace('"asked"', '"confirmed"'));
    expect(await b.verifyAudit()).toMatchObject({ ok: false, line: 41 });
  });

  it(`an audit line is one JSON object whatever strings an event holds (arguments, detail, keys; ${AUDIT_RUNS} generated events)`, async () => {
    const [a] = await kind.pair();
    const events: Array<{ args: Record<string, unknown>; detail: string; needles: string[] }> = [];
    await fc.assert(
      fc.asyncProperty(hostile(200), hostile(24), hostile(80), async (v, k, d) => {
        const args = { description: v.text, [k.text]: [v.text, { [v.text]: d.text }] };
        events.push({ args, detail: d.text, needles: [...v.needles, ...k.needles, ...d.needles] });
        await a.appendAudit({ event: "refused", tool: "billing_topup", digest: "d", caller: "fp_x", args, detail: d.text });
      }),
      { numRuns: AUDIT_RUNS, seed: SEED },
    );
    const lines = await kind.lines(a);
    expect(lines).toHaveLength(AUDIT_RUNS);
    lines.forEach((line, i) => {
      const e = events[i]!;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(parsed).toMatchObject({ seq: i + 1, detail: redact(e.detail), args: JSON.parse(JSON.stringify(redactValue(e.args))) });
      for (const n of e.needles) expect(line).not.toContain(n);
    });
    expect(await a.verifyAudit()).toMatchObject({ ok: true, lines: AUDIT_RUNS });
  });
});

describe.skipIf(!PG)(skipped("postgres store: gate_audit_append", !PG, NO_POSTGRES), () => {
  it("refuses text that is not a JSON object with fields, before it can enter the chain", async () => {
    const [a] = await pgKind.pair();
    const url = dbOf.get(a)!;
    await a.appendAudit({ event: "asked", tool: "billing_topup", digest: "d", caller: "fp_x", args: { description: 'Bearer "x' } });
    // What redacting serialised JSON used to hand it, and other text that is not one JSON object with fields.
    const bad = ['{"event":"asked","args":{"description":"Bearer [REDACTED]"x"}}', '{"a":"x', '"text"', "[1]", "{}", "{ }", "null", ' {"a":1}', '{"a":1} ', '{"a":1}{"b":2}', "{"];
    for (const text of bad) {
      await expect(cluster!.query(url, "SELECT gate_audit_append($1)", [text]), text).rejects.toThrow(/not a JSON object|invalid input syntax for type json/);
    }
    const lines = await pgKind.lines(a);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ seq: 1, args: { description: 'Bearer "x' } });
    expect(await a.verifyAudit()).toMatchObject({ ok: true, lines: 1 });
  });
});

describe.skipIf(!PG)(skipped("postgres store: replicas", !PG, NO_POSTGRES), () => {
  it("a replica that is gone leaves its unanswered spend in doubt for the others (never in flight forever)", async () => {
    const [a, b] = await pgKind.pair();
    const s = spend();
    await a.reserveSpend(s, {});
    expect((await b.unsettledSpend(s.digest))?.state).toBe("sending");
    await a.close(); // its presence lock goes with its connection, as when the process dies
    const seen = await b.unsettledSpend(s.digest);
    expect(seen).toMatchObject({ key: s.key, state: "unknown", mine: false });
    expect((await b.spendsInDoubt()).map((e) => e.key)).toEqual([s.key]);
    const claimed = await b.claimResend(s.key);
    expect(claimed).toMatchObject({ key: s.key, state: "sending", mine: true, body: s.body });
  });

  it("a confirmation survives a replica joining or leaving, but not a restart of the whole service", async () => {
    const [a, b] = await pgKind.pair();
    const url = dbOf.get(a)!;
    const q1 = question();
    const { confirmation: c1 } = await a.openConfirmation(q1);
    await a.decideConfirmation(c1.id, c1.token, true);
    await a.close(); // a rolling restart: b is still up
    const c = await PostgresStore.open({ url, confirmTtlMs: 60_000, log });
    opened.push(c);
    expect((await c.consumeConfirmation(q1.digest))?.id).toBe(c1.id);

    const q2 = question();
    const { confirmation: c2 } = await c.openConfirmation(q2);
    await b.decideConfirmation(c2.id, c2.token, true);
    await b.close();
    await c.close(); // nobody left
    const d = await PostgresStore.open({ url, confirmTtlMs: 60_000, log });
    opened.push(d);
    expect(await d.consumeConfirmation(q2.digest)).toBeUndefined();
    expect((await d.getConfirmation(c2.id))?.state).toBe("expired");
  });

  it("creates the schema once when replicas start together, records its version, and leaves it on restart", async () => {
    const url = await cluster!.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url, confirmTtlMs: 60_000, log })));
    opened.push(...stores);
    const versions = await cluster!.query<{ version: number }>(url, "SELECT version FROM schema_version ORDER BY version");
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    await Promise.all(stores.map((s) => s.close()));
    const again = await PostgresStore.open({ url, confirmTtlMs: 60_000, log });
    opened.push(again);
    expect(await cluster!.query(url, "SELECT version FROM schema_version")).toHaveLength(SCHEMA_VERSION);
  });

  it("refuses to start on a database whose schema is newer than it knows", async () => {
    const url = await cluster!.createDatabase();
    const s = await PostgresStore.open({ url, confirmTtlMs: 60_000, log });
    await s.close();
    await cluster!.query(url, "INSERT INTO schema_version (version, description) VALUES (99, 'from the future')");
    await expect(PostgresStore.open({ url, confirmTtlMs: 60_000, log })).rejects.toThrow(/newer than this server/);
  });
});
