// Several replicas, one truth: two (and for the crash test three) built servers in HTTP mode on their own
// loopback ports, one throwaway PostgreSQL, the sandbox API in this process, the SDK's Streamable HTTP
// client. A person's decision is POSTed to the OTHER replica's page. Runs under npm run test:pg only.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, type ClientCapabilities, type ElicitRequest, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import type { SandboxApi } from "../src/sandbox/index.js";
import { startReplica, startReplicaPair, stopReplicaPair, type PgCluster, type Replica } from "./helpers/postgres.js";
import { CLI, decideOnPage, textOf } from "./helpers/stdio.js";
import { until } from "./helpers/http.js";
import { spendsAfter, chargesAfter } from "./helpers/spends.js";
import { skipped, NO_POSTGRES } from "./helpers/skip.js";

const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const key = (name: string) => `gpra_replica_${name}_0123456789`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!PG)(skipped("two replicas on one PostgreSQL", !PG, NO_POSTGRES), () => {
  let api: SandboxApi;
  let pg: PgCluster;
  let db: string;
  let a: Replica;
  let b: Replica;
  const clients: Client[] = [];
  const spendsSince = (mark: number) => spendsAfter(api, mark);
  const chargesSince = (mark: number) => chargesAfter(api, mark);
  const replicaArgs = ["--confirm-wait", "2", "--max-credits-per-day", "150"];

  beforeAll(async () => {
    ({ api, pg, db, a, b } = await startReplicaPair(replicaArgs));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await stopReplicaPair({ a, b, api, pg });
  });

  async function connect(r: Replica, credential: string, opts: { capabilities?: ClientCapabilities; onElicit?: (req: ElicitRequest) => ElicitResult | Promise<ElicitResult> } = {}) {
    const transport = new StreamableHTTPClientTransport(new URL("/mcp", r.url), { requestInit: { headers: { Authorization: `Bearer ${credential}` } } });
    const client = new Client({ name: "replica-test", version: "1.0.0" }, { capabilities: opts.capabilities ?? {} });
    if (opts.onElicit) client.setRequestHandler(ElicitRequestSchema, (req) => opts.onElicit!(req));
    await client.connect(transport);
    clients.push(client);
    return client;
  }
  /** A person opening the link on another replica: same path, that replica's origin (its page origin). */
  const decideOn = (r: Replica, link: string, decision: "confirm" | "decline") => decideOnPage(new URL(new URL(link).pathname, r.url).toString(), decision);
  const formClient = (r: Replica, credential: string, asked: string[] = []) =>
    connect(r, credential, { capabilities: { elicitation: { form: {} } }, onElicit: (req) => (asked.push(req.params.message), { action: "accept", content: { confirm: true } }) });
  const verify = (...args: string[]) => spawnSync(process.execPath, [CLI, "audit", "verify", ...args], { encoding: "utf8" });

  it("a confirmation asked by replica A and confirmed on replica B's page releases the spend exactly once", async () => {
    const opened: string[] = [];
    const posts: Promise<Response>[] = [];
    let answer: "confirm" | "ignore" = "confirm";
    const client = await connect(a, key("page"), {
      capabilities: { elicitation: { url: {} } },
      onElicit: (req) => {
        const url = (req.params as { url: string }).url;
        opened.push(url);
        if (answer === "confirm") posts.push(sleep(50).then(() => decideOn(b, url, "confirm")));
        return { action: "accept" };
      },
    });
    const mark = api.requests.length;
    const r = await client.callTool({ name: "billing_topup", arguments: { credits: 21 } });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(opened).toHaveLength(1);
    expect(opened[0]!.startsWith(`${a.url}/confirm/`)).toBe(true);
    expect((await posts[0]!).status).toBe(200);
    expect(spendsSince(mark)).toHaveLength(1);
    expect(chargesSince(mark)).toHaveLength(1);

    // Used: the same call again is a new question, and nothing more is sent without a new yes.
    answer = "ignore";
    const again = await client.callTool({ name: "billing_topup", arguments: { credits: 21 } });
    expect(again.isError).toBe(true);
    expect(opened).toHaveLength(2);
    expect(opened[1]).not.toBe(opened[0]);
    expect(spendsSince(mark)).toHaveLength(1);
  });

  it("50 parallel uses of one confirmation, spread over both replicas → one spend", async () => {
    const credential = key("fifty");
    let link = "";
    const asker = await connect(a, credential, { capabilities: { elicitation: { url: {} } }, onElicit: (req) => ((link = (req.params as { url: string }).url), { action: "accept" }) });
    const mark = api.requests.length;
    const waiting = await asker.callTool({ name: "billing_topup", arguments: { credits: 5 } });
    expect(textOf(waiting)).toMatch(/waiting for a person to confirm/);
    expect((await decideOn(b, link, "confirm")).status).toBe(200);

    // Ten sessions (five per replica), five calls each; a session that gets asked again says no.
    const users = await Promise.all(
      Array.from({ length: 10 }, (_, i) => connect(i % 2 ? a : b, credential, { capabilities: { elicitation: { url: {} } }, onElicit: () => ({ action: "decline" }) })),
    );
    const results = await Promise.all(users.flatMap((c) => Array.from({ length: 5 }, () => c.callTool({ name: "billing_topup", arguments: { credits: 5 } }))));
    expect(results).toHaveLength(50);
    expect(results.filter((r) => !r.isError)).toHaveLength(1);
    expect(spendsSince(mark)).toHaveLength(1);
    expect(chargesSince(mark)).toHaveLength(1);
  });

  it("a daily cap reached through A refuses on B, nobody asked, also for another credential of the organization; concurrent spends on both cannot pass it together", async () => {
    // A database of its own: the cap counts per organization, and every sandbox token acts for org_demo,
    // so the other tests' spends on the shared database would count here too.
    const capDb = await pg.createDatabase();
    const [ca, cb] = await Promise.all([0, 1].map(() => startReplica({ apiUrl: api.url, store: capDb, args: replicaArgs })));
    try {
      const credential = key("cap");
      const askedA: string[] = [];
      const askedB: string[] = [];
      const onA = await formClient(ca!, credential, askedA);
      const onB = await formClient(cb!, credential, askedB);
      const mark = api.requests.length;
      const first = await onA.callTool({ name: "billing_topup", arguments: { credits: 100 } });
      expect(first.isError, textOf(first)).toBeFalsy();
      const second = await onB.callTool({ name: "billing_topup", arguments: { credits: 60 } });
      expect(textOf(second)).toMatch(/over this server's limit of 150 credits per day/);
      expect(askedB).toHaveLength(0);
      // A second key and a session token of the same organization: no fresh budget, on either replica.
      const otherKey = await formClient(cb!, key("cap_second"));
      const session = await formClient(ca!, "gpst_replica_cap_session_0123456789");
      for (const other of [otherKey, session]) {
        const r = await other.callTool({ name: "billing_topup", arguments: { credits: 60 } });
        expect(textOf(r)).toMatch(/by organization org_demo to 160, over this server's limit of 150 credits per day[\s\S]*Nothing was charged/);
      }
      expect(chargesSince(mark)).toHaveLength(1);

      // Two more credentials of the organization race on the two replicas with 50 credits left: each 40
      // fits alone, both together do not; the organization lock lets exactly one through.
      const [x, y] = await Promise.all([formClient(ca!, key("cap_race_x")), formClient(cb!, key("cap_race_y"))]);
      const mark2 = api.requests.length;
      const both = await Promise.all([x.callTool({ name: "billing_topup", arguments: { credits: 40 } }), y.callTool({ name: "billing_topup", arguments: { credits: 40, description: "other call" } })]);
      expect(both.filter((r) => !r.isError)).toHaveLength(1);
      expect(textOf(both.find((r) => r.isError))).toMatch(/by organization org_demo to 180, over this server's limit of 150 credits per day/);
      expect(chargesSince(mark2)).toHaveLength(1);
      const rows = await pg.query<{ organization: string | null; n: string; credits: number }>(capDb, "SELECT organization, count(*) AS n, sum(credits) AS credits FROM gate_journal GROUP BY organization");
      expect(rows).toEqual([{ organization: "org_demo", n: "2", credits: 140 }]);
    } finally {
      await ca?.stop();
      await cb?.stop();
    }
  });

  it("a replica killed between journal and answer leaves a journal row the other replica reports, re-sending only with its key", async () => {
    const c = await startReplica({ apiUrl: api.url, store: db, args: [...replicaArgs, "--timeout-headers", "60"] });
    const credential = key("crash");
    try {
      const onC = await formClient(c, credential);
      const mark = api.requests.length;
      api.inject("billing.topup", { kind: "hang" });
      void onC.callTool({ name: "billing_topup", arguments: { credits: 55 } }).catch(() => {});
      for (let i = 0; i < 250 && spendsSince(mark).length === 0; i++) await sleep(20);
      expect(spendsSince(mark)).toHaveLength(1);
      const sentKey = spendsSince(mark)[0]!.idempotencyKey;
      c.proc.kill("SIGKILL");
      await c.exited;

      // The row is there, and once the dead replica's connection is gone it reads as in doubt.
      const row = async () => (await pg.query<{ state: string; alive: boolean }>(db, "SELECT state, gate_owner_alive(owner) AS alive FROM gate_journal WHERE key = $1", [sentKey]))[0];
      expect(await row()).toMatchObject({ state: "sending" });
      for (let i = 0; i < 100 && (await row())!.alive; i++) await sleep(50);
      expect(await row()).toMatchObject({ state: "sending", alive: false });

      const asked: string[] = [];
      const onB = await formClient(b, credential, asked);
      const r = await onB.callTool({ name: "billing_topup", arguments: { credits: 55 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(textOf(r)).toMatch(/re-sent the earlier unanswered request with its own Idempotency-Key/);
      expect(asked).toHaveLength(1);
      expect(asked[0]).toMatch(/never answered/);
      expect(asked[0]).toContain(sentKey);
      await until(() => /spend in doubt from an earlier run or another replica/.test(b.stderr()));
      const sent = spendsSince(mark);
      expect(sent).toHaveLength(2);
      expect(sent[1]!.idempotencyKey).toBe(sentKey);
      expect(sent[1]!.rawBody).toBe(sent[0]!.rawBody);
      expect(chargesSince(mark)).toHaveLength(1);
      expect(await row()).toMatchObject({ state: "answered" });
    } finally {
      api.clearFaults();
      await c.stop("SIGKILL");
    }
  });

  it("both replicas' audit lines form one chain that verifies from the table; an edited row is named", async () => {
    // More appends from both replicas at once: agents without elicitation are refused (and audited).
    const sessions = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(i % 2 ? a : b, key("audit"))));
    await Promise.all(Array.from({ length: 40 }, (_, i) => sessions[i % 8]!.callTool({ name: "billing_topup", arguments: { credits: 1 + i } })));

    const rows = await pg.query<{ seq: string; line: string }>(db, "SELECT seq, line FROM gate_audit ORDER BY seq");
    const events = rows.map((r) => JSON.parse(r.line) as { event: string; channel?: string; seq: number });
    expect(events.map((e) => e.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(events.filter((e) => e.event === "refused" && e.channel === "none").length).toBeGreaterThanOrEqual(40);
    // The page decision was written by B, the spend it released by A: one chain.
    expect(events.some((e) => e.event === "confirmed" && e.channel === "page")).toBe(true);
    expect(events.some((e) => e.event === "sent" && e.channel === "url")).toBe(true);

    const ok = verify("--store", db);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(new RegExp(`OK, ${rows.length} line\\(s\\)`));
    expect(verify(db).status).toBe(0); // the URL as the [file] argument works too
    const withPassword = db.replace("postgres@", "postgres:s3cret-pw@"); // trust auth ignores it
    const masked = verify("--store", withPassword);
    expect(masked.status).toBe(0);
    expect(masked.stderr).not.toContain("s3cret-pw");

    const n = 7;
    await pg.query(db, `UPDATE gate_audit SET line = replace(line, '"event":"', '"event": "') WHERE seq = $1`, [n]);
    const bad = verify("--store", db);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`BROKEN at line ${n + 1} `));
  });
});
