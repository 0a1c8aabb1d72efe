// The gate's store interface, exercised directly against both implementations: the file store always,
// PostgreSQL (a throwaway server started here) when GEOPERA_TEST_STORE=postgres (npm run test:pg).
// With PostgreSQL, "two replicas" are two store instances — two pools and two presence locks — on one
// database, so every race below crosses connections the way replicas do.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createHash, randomUUID } from "node:crypto";
import { appendFileSync, closeSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { FileStore } from "../src/store/file.js";
import { PostgresStore } from "../src/store/postgres.js";
import { SCHEMA_VERSION } from "../src/store/schema.js";
import { REQUEST_STATE_GRACE_MS, type GateStore, type NewConfirmation, type NewSpend } from "../src/store/types.js";
import { REQUEST_STATE_KEY_FILE, REQUEST_STATES_FILE } from "../src/store/fileRequestState.js";
import { createLogger } from "../src/log.js";
import { systemClock } from "../src/gate/clock.js";
import { startPostgres, type PgCluster } from "./helpers/postgres.js";
import { CLI, tempDir } from "./helpers/stdio.js";
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
  /** A new handle on a's state after a's process is gone (file: a closed, a new FileStore on its directory). */
  reopen(a: GateStore): Promise<GateStore>;
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
  async reopen(a) {
    const dir = dirOf.get(a)!;
    await a.close();
    const s = new FileStore(dir, systemClock, 60_000);
    dirOf.set(s, dir);
    opened.push(s);
    return s;
  },
};

const pgKind: Kind = {
  name: "postgres",
  async pair(ttlMs = 60_000) {
    const url = await cluster!.createDatabase();
    const [a, b] = await Promise.all([0, 1].map(() => PostgresStore.open({ url, confirmTtlMs: ttlMs, log, pollMs: 50 })));
    opened.push(a!, b!);
    dbOf.set(a!, url);
    dbOf.set(b!, url);
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
  async reopen(a) {
    const url = dbOf.get(a)!;
    await a.close();
    const s = await PostgresStore.open({ url, confirmTtlMs: 60_000, log, pollMs: 50 });
    opened.push(s);
    dbOf.set(s, url);
    return s;
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
  it("OAuth records: consumed exactly once across handles, one putIfAbsent winner, per-model grant removal, expiry, kept on reopen", async () => {
    const [a, b] = await kind.pair();
    await a.oauth.put("RefreshToken:h1", { model: "RefreshToken", payload: { grantId: "g" }, grantId: "gh", expiresAt: Date.now() + 60_000 });
    const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).oauth.consume("RefreshToken:h1")));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect((await b.oauth.get("RefreshToken:h1"))?.consumed).toBeGreaterThan(0);
    expect(await a.oauth.consume("RefreshToken:missing")).toBe(false);
    const kept = await Promise.all([a, b].map((s, i) => s.oauth.putIfAbsent("ServerKey:k", { model: "ServerKey", payload: { n: i } })));
    expect(kept[0]!.payload).toEqual(kept[1]!.payload);
    await a.oauth.put("AccessToken:h2", { model: "AccessToken", payload: {}, grantId: "gh", uid: "u1", expiresAt: Date.now() + 60_000 });
    expect((await b.oauth.getByUid("u1"))?.model).toBe("AccessToken");
    await b.oauth.removeByGrant("gh", "AccessToken");
    expect(await a.oauth.get("AccessToken:h2")).toBeUndefined();
    expect(await a.oauth.get("RefreshToken:h1")).toBeDefined();
    await a.oauth.put("Session:old", { model: "Session", payload: {}, expiresAt: Date.now() - 1 });
    expect(await b.oauth.get("Session:old")).toBeUndefined();
    const again = await kind.reopen(a);
    expect((await again.oauth.get("RefreshToken:h1"))?.consumed).toBeGreaterThan(0);
    expect((await again.oauth.get("ServerKey:k"))?.payload).toEqual(kept[0]!.payload);
  });

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

  it("the request-state secret is 32 bytes, made once: the same on both handles, when they race, and after a reopen", async () => {
    const [a, b] = await kind.pair();
    const first = await Promise.all([a.requestStateSecret(), b.requestStateSecret(), a.requestStateSecret(), b.requestStateSecret()]);
    expect(first[0]).toHaveLength(32);
    for (const k of first) expect(k.equals(first[0]!)).toBe(true);
    first[0]!.fill(0); // a caller's copy: changing it changes nothing in the store
    expect((await a.requestStateSecret()).equals(first[1]!)).toBe(true);
    const c = await kind.reopen(a);
    expect((await c.requestStateSecret()).equals(first[1]!)).toBe(true);
    // Another store's secret is another one.
    const [other] = await kind.pair();
    expect((await other.requestStateSecret()).equals(first[1]!)).toBe(false);
  });

  it("a request state is used once: true, then false on either handle, for 20 racing uses, and after a reopen", async () => {
    const [a, b] = await kind.pair();
    const expiresAt = Date.now() + 60_000;
    expect(await a.useRequestState("st-1", expiresAt)).toBe(true);
    expect(await a.useRequestState("st-1", expiresAt)).toBe(false);
    expect(await b.useRequestState("st-1", expiresAt)).toBe(false);
    expect(await b.useRequestState("st-2", expiresAt)).toBe(true);
    const raced = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).useRequestState("st-race", expiresAt)));
    expect(raced.filter(Boolean)).toHaveLength(1);
    const c = await kind.reopen(a);
    for (const id of ["st-1", "st-2", "st-race"]) expect(await c.useRequestState(id, expiresAt), id).toBe(false);
    expect(await c.useRequestState("st-3", expiresAt)).toBe(true);
    // Any string is an id (as stored in JSON or text): no two collide.
    const odd = ['a"b', "a\\b", "\u2028", "ünï", "st-1 "];
    expect(await Promise.all(odd.map((id) => c.useRequestState(id, expiresAt)))).toEqual(odd.map(() => true));
    expect(await Promise.all(odd.map((id) => c.useRequestState(id, expiresAt)))).toEqual(odd.map(() => false));
  });

  it("a request state past its expiry by more than the grace is refused and not recorded; one within it still counts", async () => {
    const [a, b] = await kind.pair();
    const now = Date.now();
    // Too old to be remembered: refused every time (the gate refuses it by its HMAC expiry anyway).
    expect(await a.useRequestState("st-old", now - REQUEST_STATE_GRACE_MS - 60_000)).toBe(false);
    expect(await b.useRequestState("st-old", now - REQUEST_STATE_GRACE_MS - 60_000)).toBe(false);
    // Just expired (clocks of replicas and database may differ by less than the grace): still once only.
    expect(await a.useRequestState("st-just", now - 1_000)).toBe(true);
    expect(await b.useRequestState("st-just", now - 1_000)).toBe(false);
    // An id used once stays used even if a later call names a later expiry.
    expect(await b.useRequestState("st-just", now + 60_000)).toBe(false);
  });

  it("each request state id yields exactly one true, whatever the order and handle of the uses (generated call orders)", async () => {
    const [a, b] = await kind.pair();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.boolean(), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 30 }), async (calls) => {
        const prefix = `run${run++}-`;
        const expiresAt = Date.now() + 60_000;
        // Calls go out in concurrent batches of the generated sizes, on the generated handles.
        const results: Array<[number, boolean]> = [];
        for (let i = 0; i < calls.length; ) {
          const batch = calls.slice(i, i + calls[i]![2]);
          i += batch.length;
          const got = await Promise.all(batch.map(([id, onA]) => (onA ? a : b).useRequestState(prefix + id, expiresAt)));
          batch.forEach(([id], j) => results.push([id, got[j]!]));
        }
        for (const id of new Set(calls.map(([id]) => id))) {
          expect(results.filter(([x, ok]) => x === id && ok), `id ${id} of ${JSON.stringify(calls)}`).toHaveLength(1);
        }
      }),
      { numRuns: PG ? 15 : 60, seed: SEED },
    );
  });
});

describe("file store: request states on disk", () => {
  const KEY_HEX = /^[0-9a-f]{64}\n$/;
  const open = (dir: string, clock = systemClock) => {
    const s = new FileStore(dir, clock, 60_000, { log });
    opened.push(s);
    return s;
  };

  it("the key file is 64 hex digits and a newline, mode 0600, and holds the secret", async () => {
    const dir = tempDir();
    const key = await open(dir).requestStateSecret();
    const file = join(dir, REQUEST_STATE_KEY_FILE);
    expect(readFileSync(file, "latin1")).toMatch(KEY_HEX);
    expect(readFileSync(file, "latin1").trim()).toBe(key.toString("hex"));
    if (process.platform !== "win32") expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("processes racing on one new directory end with one key", async () => {
    // Real processes (the built store, dist/), released together: each prints the SHA-256 of the key it got.
    const dir = tempDir();
    const store = join(CLI, "..", "store", "file.js");
    const script = `const { FileStore } = await import(${JSON.stringify(store)}); const { createHash } = await import("node:crypto");
      const s = new FileStore(${JSON.stringify(dir)}, Date.now, 60000); while (Date.now() < ${Date.now() + 1_500});
      process.stdout.write(createHash("sha256").update(await s.requestStateSecret()).digest("hex")); await s.close();`;
    const outs = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Promise<string>((resolve, reject) => {
          const p = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
          let out = "";
          let err = "";
          p.stdout.on("data", (d) => (out += d));
          p.stderr.on("data", (d) => (err += d));
          p.on("error", reject);
          p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
        }),
      ),
    );
    expect(new Set(outs).size, `keys seen (SHA-256), one per process: ${JSON.stringify(outs)}`).toBe(1);
    const key = await open(dir).requestStateSecret();
    expect(createHash("sha256").update(key).digest("hex")).toBe(outs[0]);
  }, 30_000);

  it("a key file still being written is waited for; a damaged one is an error naming the file, never the key", async () => {
    const dir = tempDir();
    const file = join(dir, REQUEST_STATE_KEY_FILE);
    const s = open(dir);
    // Created by another process that has not written yet.
    writeFileSync(file, "", { mode: 0o600 });
    const hex = "ab".repeat(32);
    setTimeout(() => writeFileSync(file, hex + "\n"), 100);
    expect((await s.requestStateSecret()).toString("hex")).toBe(hex);

    for (const damaged of ["cd".repeat(16) + "\n", "ef".repeat(33) + "\n", "zz".repeat(32), Buffer.alloc(32, 7).toString("latin1")]) {
      const d = tempDir();
      writeFileSync(join(d, REQUEST_STATE_KEY_FILE), damaged, "latin1");
      const err = await open(d).requestStateSecret().then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toContain(join(d, REQUEST_STATE_KEY_FILE));
      expect(err?.message).toMatch(/damaged/);
      expect(err?.message).not.toContain(damaged.trim().slice(0, 8));
    }
  });

  it("used states survive a restart until their grace has passed; a torn last line is skipped, the rest kept", async () => {
    const dir = tempDir();
    let now = Date.UTC(2026, 6, 28, 12);
    const clock = () => now;
    const a = open(dir, clock);
    expect(await a.useRequestState("st-a", now + 60_000)).toBe(true);
    expect(await a.useRequestState("st-b", now + 600_000)).toBe(true);
    await a.close();
    const file = join(dir, REQUEST_STATES_FILE);
    expect(readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { id: "st-a", expiresAt: now + 60_000 },
      { id: "st-b", expiresAt: now + 600_000 },
    ]);
    appendFileSync(file, '{"id":"st-torn","expi'); // a crash mid-append: that use was never granted

    const b = open(dir, clock);
    expect(await b.useRequestState("st-a", now + 60_000)).toBe(false);
    expect(await b.useRequestState("st-b", now + 600_000)).toBe(false);
    expect(await b.useRequestState("st-torn", now + 60_000)).toBe(true);
    await b.close();
    // The torn bytes stay; the next line starts on a line of its own.
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines.slice(2)).toEqual(['{"id":"st-torn","expi', JSON.stringify({ id: "st-torn", expiresAt: now + 60_000 }), ""]);

    // Past st-a's grace: forgotten at open, and refused if it comes again; st-b is still remembered.
    now += 60_000 + REQUEST_STATE_GRACE_MS;
    const c = open(dir, clock);
    expect(await c.useRequestState("st-a", now - REQUEST_STATE_GRACE_MS)).toBe(false);
    expect(await c.useRequestState("st-b", now + 1)).toBe(false);
    // In memory too: an entry past its grace is dropped while running, and its id stays refused.
    expect(await c.useRequestState("st-c", now + 1_000)).toBe(true);
    now += 1_000 + REQUEST_STATE_GRACE_MS + 60_000;
    expect(await c.useRequestState("st-d", now + 1_000)).toBe(true);
    expect(await c.useRequestState("st-c", now - REQUEST_STATE_GRACE_MS - 60_000)).toBe(false);
  });

  it("a file mostly of forgotten states is rewritten at open with the live ones", async () => {
    const dir = tempDir();
    const now = Date.UTC(2026, 6, 28, 12);
    const file = join(dir, REQUEST_STATES_FILE);
    const old = Array.from({ length: 1_200 }, (_, i) => JSON.stringify({ id: `old-${i}`, expiresAt: now - REQUEST_STATE_GRACE_MS - 1 }) + "\n");
    writeFileSync(file, old.join("") + JSON.stringify({ id: "live", expiresAt: now + 60_000 }) + "\n");
    const s = open(dir, () => now);
    expect(readFileSync(file, "utf8")).toBe(JSON.stringify({ id: "live", expiresAt: now + 60_000 }) + "\n");
    if (process.platform !== "win32") expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await s.useRequestState("live", now + 60_000)).toBe(false);
    expect(await s.useRequestState("new", now + 60_000)).toBe(true);
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(2);
  });

  it("a use that cannot be written throws and grants nothing; the next one, once it can, is whole", async () => {
    const dir = tempDir();
    const s = open(dir);
    // The descriptor closed under the store: the append fails as a full or vanished disk would.
    const inner = (s as unknown as { requestStates: { fd: number } }).requestStates;
    const fd = inner.fd;
    closeSync(fd);
    await expect(s.useRequestState("st-x", Date.now() + 60_000)).rejects.toThrow(/cannot record a used request state/);
    inner.fd = openSync(join(dir, REQUEST_STATES_FILE), "a");
    expect(await s.useRequestState("st-x", Date.now() + 60_000)).toBe(true);
    expect(await s.useRequestState("st-x", Date.now() + 60_000)).toBe(false);
    const lines = readFileSync(join(dir, REQUEST_STATES_FILE), "utf8").split("\n").filter(Boolean);
    expect(lines.map((l) => JSON.parse(l).id)).toEqual(["st-x"]);
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

  it("used request states past their grace are deleted by later uses, a few rows each; live ones stay", async () => {
    const [a, b] = await pgKind.pair();
    const url = dbOf.get(a)!;
    const grace = `${REQUEST_STATE_GRACE_MS / 1000} seconds`;
    await cluster!.query(url, `INSERT INTO gate_request_state (id, expires_at) SELECT 'old-' || n, now() - interval '${grace}' - interval '1 hour' FROM generate_series(1, 40) AS n`);
    await cluster!.query(url, `INSERT INTO gate_request_state (id, expires_at) VALUES ('within-grace', now() - interval '1 minute'), ('live', now() + interval '1 hour')`);
    const count = async (like: string) => Number((await cluster!.query<{ n: string }>(url, "SELECT count(*) AS n FROM gate_request_state WHERE id LIKE $1", [like]))[0]!.n);
    expect(await a.useRequestState("new-1", Date.now() + 60_000)).toBe(true);
    expect(await count("old-%")).toBeLessThan(40);
    expect(await count("old-%")).toBeGreaterThan(0); // bounded: not all at once
    await Promise.all(["new-2", "new-3", "new-4"].map((id, i) => (i % 2 ? a : b).useRequestState(id, Date.now() + 60_000)));
    expect(await count("old-%")).toBe(0);
    expect(await count("new-%")).toBe(4);
    expect(await b.useRequestState("within-grace", Date.now())).toBe(false);
    expect(await b.useRequestState("live", Date.now() + 60_000)).toBe(false);
  });

  it("a damaged request-state secret row is an error naming the row, never its value", async () => {
    const [a] = await pgKind.pair();
    const url = dbOf.get(a)!;
    await cluster!.query(url, "INSERT INTO gate_secret (name, value) VALUES ('request-state', '\\x0123456789abcdef'::bytea)");
    const err = await a.requestStateSecret().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/row 'request-state' of gate_secret\) is damaged: it must be 32 bytes and is 8/);
    expect(err?.message).not.toMatch(/0123456789|abcdef/);
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
