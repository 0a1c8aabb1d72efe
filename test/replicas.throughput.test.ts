// Confirmed spends per second through the whole path, loopback only, bounded in count and time. Not a
// test of correctness and skipped unless asked for:
//
//   npm run build && GEOPERA_TEST_STORE=postgres GEOPERA_PG_THROUGHPUT=1 npx vitest run test/replicas.throughput --testTimeout 300000 --hookTimeout 120000
//
// Each "spend" is one billing_topup over Streamable HTTP that a form elicitation confirms at once: the
// gate reads the balance (preview), checks the daily cap, asks, journals (cap check + row in one
// transaction), appends four audit lines, sends to the sandbox API and records the answer. The sandbox
// runs in its own process; PostgreSQL runs durable (fsync and synchronous_commit on). Sessions are
// distinct tenants (callers), each with one call in flight at a time. Env knobs: GEOPERA_PG_SESSIONS
// (default 16), GEOPERA_PG_SECONDS (10), GEOPERA_PG_MAX_SPENDS (3000). A fourth row drives only the
// store's calls for one such spend (two store instances, no MCP, no HTTP, no upstream): the ceiling the
// database and its locks put on the whole.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { randomUUID } from "node:crypto";
import { startPostgres, startReplica, type PgCluster, type Replica } from "./helpers/postgres.js";
import { tempDir } from "./helpers/stdio.js";
import { PostgresStore } from "../src/store/postgres.js";
import type { GateStore } from "../src/store/types.js";
import { createLogger } from "../src/log.js";
import { skipped } from "./helpers/skip.js";

const RUN = process.env.GEOPERA_TEST_STORE === "postgres" && process.env.GEOPERA_PG_THROUGHPUT === "1";
const SESSIONS = Number(process.env.GEOPERA_PG_SESSIONS ?? 16);
const SECONDS = Number(process.env.GEOPERA_PG_SECONDS ?? 10);
const MAX_SPENDS = Number(process.env.GEOPERA_PG_MAX_SPENDS ?? 3000);
const SANDBOX = join(import.meta.dirname, "..", "dist", "src", "sandbox", "index.js");

/** The sandbox API in a child process, so it does not share an event loop with the clients. */
async function startSandboxProcess(): Promise<{ url: string; proc: ChildProcess }> {
  const code = `const { startSandboxApi } = await import(${JSON.stringify(SANDBOX)}); const api = await startSandboxApi(); process.stdout.write(api.url + "\\n");`;
  const proc = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    proc.once("exit", (code) => reject(new Error(`sandbox exited with ${code}`)));
  });
  return { url, proc };
}

async function connect(r: Replica, i: number): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", r.url), { requestInit: { headers: { Authorization: `Bearer gpra_tenant_${i}_0123456789` } } });
  const client = new Client({ name: "throughput", version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler(ElicitRequestSchema, () => ({ action: "accept", content: { confirm: true } }));
  await client.connect(transport);
  return client;
}

interface Result {
  label: string;
  spends: number;
  failed: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p95: number;
}

/** Runs sessions spread round-robin over the replicas until the count or the time bound is reached. */
async function measure(label: string, replicas: Replica[]): Promise<Result> {
  const clients = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => connect(replicas[i % replicas.length]!, i)));
  // Warm-up: one spend per session (connections, JIT, pools).
  await Promise.all(clients.map((c, i) => c.callTool({ name: "billing_topup", arguments: { credits: 1, description: `warm ${i}` } })));
  let done = 0;
  let failed = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    clients.map(async (c, i) => {
      for (let n = 0; performance.now() < deadline && done + failed < MAX_SPENDS; n++) {
        const t = performance.now();
        const r = await c.callTool({ name: "billing_topup", arguments: { credits: 1, description: `s${i} n${n}` } });
        latencies.push(performance.now() - t);
        if (r.isError) failed++;
        else done++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((x, y) => x - y);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10;
  return { label, spends: done, failed, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(done / seconds), p50: at(0.5), p95: at(0.95) };
}

describe.skipIf(!RUN)(skipped("confirmed spends per second", !RUN, "a measurement, not a check: runs with GEOPERA_TEST_STORE=postgres GEOPERA_PG_THROUGHPUT=1"), () => {
  let pg: PgCluster;
  let sandbox: { url: string; proc: ChildProcess };
  const started: Replica[] = [];
  const results: Result[] = [];
  const args = ["--max-credits-per-day", "1000000000"];

  beforeAll(async () => {
    pg = await startPostgres({ durable: true });
    sandbox = await startSandboxProcess();
  });
  afterAll(async () => {
    for (const r of started) await r.stop();
    sandbox?.proc.kill();
    await pg?.stop();
    if (results.length) {
      process.stdout.write(`\n| store | spends | failed | seconds | spends/s | p50 ms | p95 ms |\n|---|---|---|---|---|---|---|\n`);
      for (const r of results) process.stdout.write(`| ${r.label} | ${r.spends} | ${r.failed} | ${r.seconds} | ${r.perSecond} | ${r.p50} | ${r.p95} |\n`);
      process.stdout.write(`(${SESSIONS} sessions, one call in flight each, ≤ ${SECONDS} s or ≤ ${MAX_SPENDS} spends per row)\n`);
    }
  });

  it("two replicas, one PostgreSQL", async () => {
    const db = await pg.createDatabase();
    const pair = await Promise.all([0, 1].map(() => startReplica({ apiUrl: sandbox.url, store: db, args })));
    started.push(...pair);
    const r = await measure("postgres, 2 replicas", pair);
    results.push(r);
    expect(r.failed).toBe(0);
    const [{ n }] = await pg.query<{ n: string }>(db, "SELECT count(*) AS n FROM gate_journal WHERE state = 'answered'");
    expect(Number(n)).toBe(r.spends + SESSIONS);
  });

  it("one replica, one PostgreSQL (for comparison)", async () => {
    const db = await pg.createDatabase();
    const one = await startReplica({ apiUrl: sandbox.url, store: db, args });
    started.push(one);
    results.push(await measure("postgres, 1 replica", [one]));
  });

  it("the store's own ceiling: the gate's store calls for one form-confirmed spend, two store instances, no MCP and no upstream", async () => {
    const db = await pg.createDatabase();
    const stores: GateStore[] = await Promise.all([0, 1].map(() => PostgresStore.open({ url: db, confirmTtlMs: 600_000, log: createLogger("silent") })));
    const caps = { maxCreditsPerDay: 1_000_000_000 };
    let done = 0;
    const latencies: number[] = [];
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: SESSIONS }, async (_, i) => {
        const store = stores[i % 2]!;
        const caller = `fp_tenant${String(i).padStart(8, "0")}`;
        for (let n = 0; performance.now() < deadline && done < MAX_SPENDS * 4; n++) {
          const t = performance.now();
          const digest = randomUUID();
          const base = { tool: "billing_topup", digest, caller, args: { credits: 1 } };
          await store.unsettledSpend(digest);
          await store.consumeConfirmation(digest);
          await store.creditsToday(caller);
          await store.appendAudit({ ...base, event: "asked", channel: "form" });
          await store.appendAudit({ ...base, event: "confirmed", channel: "form" });
          const r = await store.reserveSpend({ key: randomUUID(), digest, tool: "billing_topup", operationId: "billing.topup", body: "{}", credits: 1, caller }, caps);
          if (!("entry" in r)) throw new Error("not reserved");
          await store.appendAudit({ ...base, event: "sent", key: r.entry.key, channel: "form" });
          await store.recordAnswer(r.entry.key, 200);
          await store.appendAudit({ ...base, event: "answered", key: r.entry.key, status: 200 });
          latencies.push(performance.now() - t);
          done++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    expect(await stores[0]!.verifyAudit()).toMatchObject({ ok: true, lines: done * 4 });
    await Promise.all(stores.map((s) => s.close()));
    latencies.sort((x, y) => x - y);
    const at = (q: number) => Math.round(latencies[Math.floor(q * latencies.length)]! * 10) / 10;
    results.push({ label: "postgres store calls only, 2 instances", spends: done, failed: 0, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(done / seconds), p50: at(0.5), p95: at(0.95) });
  });

  it("one process, file store (for comparison)", async () => {
    const one = await startReplica({ apiUrl: sandbox.url, store: `file:${tempDir()}`, args });
    started.push(one);
    results.push(await measure("file, 1 process", [one]));
  });
});
