// Protocol 2026-07-28 across replicas: the confirmation round is stateless on the server (the sealed
// requestState carries it, the nonce is spent in the store), so round one on replica A and the retry on
// replica B must charge once, and a state's single use and its binding to one call must hold across
// replicas too. The seal's secret comes from the shared PostgreSQL store (gate_secret) unless
// GEOPERA_REQUEST_STATE_SECRET is set: replicas that share that secret interoperate, replicas with different
// ones must not. The v2 client is pinned to 2026-07-28 and takes the raw input_required result (no
// auto-fulfilment), so the test decides which replica gets which round. Runs under npm run test:pg only.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { SandboxApi } from "../src/sandbox/index.js";
import { startReplica, startReplicaPair, stopReplicaPair, type PgCluster, type Replica } from "./helpers/postgres.js";
import { textOf } from "./helpers/stdio.js";
import { spendsAfter, chargesAfter } from "./helpers/spends.js";
import { skipped, NO_POSTGRES } from "./helpers/skip.js";

const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const key = (name: string) => `gpra_replica_era_${name}_0123456789`;
const GATE_REASON = "com.geopera/gate_reason";
const ACCEPT = { confirm: { action: "accept", content: { confirm: true } } };
// Two distinct 32+-byte secrets (the codec's minimum); test values, never a real deployment's.
const SECRET_1 = "replica-era-test-secret-one-0123456789abcdef";
const SECRET_2 = "replica-era-test-secret-two-0123456789abcdef";

type Raw = { resultType?: string; isError?: boolean; content?: unknown[]; requestState?: string; inputRequests?: Record<string, any>; _meta?: Record<string, unknown> };

describe.skipIf(!PG)(skipped("2026-07-28 confirmation rounds across two replicas on one PostgreSQL", !PG, NO_POSTGRES), () => {
  let api: SandboxApi;
  let pg: PgCluster;
  let db: string;
  let a: Replica;
  let b: Replica;
  const clients: Client[] = [];
  const replicaArgs = ["--confirm-wait", "2"];

  beforeAll(async () => {
    // No GEOPERA_REQUEST_STATE_SECRET: both seal with the secret the store keeps (created once by whichever migrates).
    ({ api, pg, db, a, b } = await startReplicaPair(replicaArgs));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await stopReplicaPair({ a, b, api, pg });
  });

  /** A v2 client pinned to 2026-07-28 (`mode` is required: a bare `{pin}` is ignored), form elicitation declared, no auto-fulfilment. */
  async function connect(r: Replica, credential: string): Promise<Client> {
    const client = new Client(
      { name: "replica-era-test", version: "1.0.0" },
      { versionNegotiation: { mode: { pin: "2026-07-28" } }, inputRequired: { autoFulfill: false }, capabilities: { elicitation: { form: {} } } },
    );
    await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", r.url), { requestInit: { headers: { Authorization: `Bearer ${credential}` } } }));
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    clients.push(client);
    return client;
  }
  /** tools/call through client.request, so an input_required result comes back as it is on the wire. */
  const topup = (client: Client, credits: number, retry?: { requestState: string }) =>
    client.request(
      { method: "tools/call", params: { name: "billing_topup", arguments: { credits }, ...(retry ? { inputResponses: ACCEPT, requestState: retry.requestState } : {}) } },
      { allowInputRequired: true },
    ) as Promise<Raw>;
  /** Round one: the question, with its state. */
  async function ask(client: Client, credits: number): Promise<string> {
    const ir = await topup(client, credits);
    expect(ir.resultType, JSON.stringify(ir)).toBe("input_required");
    expect(ir.inputRequests?.confirm?.params?.requestedSchema?.properties).toHaveProperty("confirm");
    expect(typeof ir.requestState).toBe("string");
    return ir.requestState!;
  }
  const refusedFor = (r: Raw) => (r.isError ? r._meta?.[GATE_REASON] : undefined);

  it("round one on A, the accepted retry on B: charged exactly once; the same state replayed on A is refused (state_used), nothing more charged", async () => {
    const credential = key("once");
    const [onA, onB] = [await connect(a, credential), await connect(b, credential)];
    const mark = api.requests.length;
    const state = await ask(onA, 12);
    expect(spendsAfter(api, mark)).toHaveLength(0);

    const done = await topup(onB, 12, { requestState: state });
    expect(done.isError, textOf(done)).toBeFalsy();
    expect(spendsAfter(api, mark)).toHaveLength(1);
    expect(chargesAfter(api, mark)).toHaveLength(1);
    expect(spendsAfter(api, mark)[0]!.authorization).toBe(`Bearer ${credential}`);

    const replay = await topup(onA, 12, { requestState: state });
    expect(refusedFor(replay), JSON.stringify(replay)).toBe("state_used");
    expect(textOf(replay)).toMatch(/already answered and used[\s\S]*Nothing was charged/);
    // Nor on B, where it was used.
    expect(refusedFor(await topup(onB, 12, { requestState: state }))).toBe("state_used");
    expect(spendsAfter(api, mark)).toHaveLength(1);
  });

  it("a state from A carried to other arguments on B is refused (state_other_call), and stays good for its own call", async () => {
    const credential = key("other");
    const [onA, onB] = [await connect(a, credential), await connect(b, credential)];
    const mark = api.requests.length;
    const state = await ask(onA, 13);
    const moved = await topup(onB, 14, { requestState: state });
    expect(refusedFor(moved), JSON.stringify(moved)).toBe("state_other_call");
    expect(textOf(moved)).toMatch(/belongs to another call[\s\S]*Nothing was charged/);
    expect(spendsAfter(api, mark)).toHaveLength(0);
    // The refusal did not spend the nonce: the exact call it was asked about still goes through, once.
    const own = await topup(onB, 13, { requestState: state });
    expect(own.isError, textOf(own)).toBeFalsy();
    expect(chargesAfter(api, mark)).toHaveLength(1);
  });

  it("replicas started with the same GEOPERA_REQUEST_STATE_SECRET take each other's rounds", async () => {
    const env = { GEOPERA_REQUEST_STATE_SECRET: SECRET_1 };
    const [c, d] = await Promise.all([0, 1].map(() => startReplica({ apiUrl: api.url, store: db, args: replicaArgs, env })));
    try {
      const credential = key("shared_secret");
      const mark = api.requests.length;
      const state = await ask(await connect(c!, credential), 15);
      const done = await topup(await connect(d!, credential), 15, { requestState: state });
      expect(done.isError, textOf(done)).toBeFalsy();
      expect(chargesAfter(api, mark)).toHaveLength(1);
      // The env secret is really the one sealing: a replica on the same store without it (A) cannot open the state.
      const other = await ask(await connect(c!, credential), 16);
      expect(refusedFor(await topup(await connect(a, credential), 16, { requestState: other }))).toBe("state_altered");
      expect(spendsAfter(api, mark)).toHaveLength(1);
    } finally {
      await c?.stop();
      await d?.stop();
    }
  });

  it("replicas with different GEOPERA_REQUEST_STATE_SECRETs: the retry on B is refused (state_altered), nothing charged", async () => {
    const [c, d] = await Promise.all(
      [SECRET_1, SECRET_2].map((secret) => startReplica({ apiUrl: api.url, store: db, args: replicaArgs, env: { GEOPERA_REQUEST_STATE_SECRET: secret } })),
    );
    try {
      const credential = key("split_secret");
      const onC = await connect(c!, credential);
      const mark = api.requests.length;
      const state = await ask(onC, 17);
      const refused = await topup(await connect(d!, credential), 17, { requestState: state });
      expect(refusedFor(refused), JSON.stringify(refused)).toBe("state_altered");
      expect(textOf(refused)).toMatch(/altered or is not one this server issued[\s\S]*Nothing was charged/);
      expect(spendsAfter(api, mark)).toHaveLength(0);
      // The refusal was about the seal alone: the replica that issued the state still honours it, once.
      const own = await topup(onC, 17, { requestState: state });
      expect(own.isError, textOf(own)).toBeFalsy();
      expect(chargesAfter(api, mark)).toHaveLength(1);
    } finally {
      await c?.stop();
      await d?.stop();
    }
  });
});
