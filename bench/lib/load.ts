// Load generation. A LoadTarget is N ready "loops" (one per session or connection) that each make one call
// when asked; runFor() drives all N back to back for a time and counts calls, errors and latencies. Targets:
//   - rawMcpTarget: N Streamable HTTP sessions with the lean driver (rawhttp.ts) — the default;
//   - sdkMcpTarget: N sessions with the SDK's Client + StreamableHTTPClientTransport (--http-client sdk);
//   - floorTarget:  N undici loops calling the upstream directly (no MCP).
// Plus the floor's sequential latency and the floor's pass over the whole ledger.
import { setMaxListeners } from "node:events";
import { Agent } from "undici";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { BENCH_KEY } from "./targets.js";
import { RawHttpSession } from "./rawhttp.js";

// The SDK client hands one AbortSignal per transport to every fetch; thousands of calls per session trip
// Node's listener-leak warning. Client-side and harmless here.
setMaxListeners(0);

export interface LoadTarget {
  loops: Array<() => Promise<boolean>>;
  close(): Promise<void>;
}

export interface LoadResult {
  sessions: number;
  calls: number;
  errors: number;
  seconds: number;
  callsPerSec: number;
  latenciesMs: number[];
  firstError?: string;
}

export function emptyResult(sessions: number): LoadResult {
  return { sessions, calls: 0, errors: 0, seconds: 0, callsPerSec: 0, latenciesMs: [] };
}

/** Adds one slice's counts to a running total (calls/s = all calls ÷ all measured seconds). */
export function merge(into: LoadResult, slice: LoadResult): LoadResult {
  into.calls += slice.calls;
  into.errors += slice.errors;
  into.seconds += slice.seconds;
  into.callsPerSec = into.seconds > 0 ? into.calls / into.seconds : 0;
  for (const ms of slice.latenciesMs) into.latenciesMs.push(ms);
  into.firstError ??= slice.firstError;
  return into;
}

/** Runs every loop of the target back to back for `seconds`. */
export async function runFor(target: LoadTarget, seconds: number): Promise<LoadResult> {
  let errors = 0;
  let firstError: string | undefined;
  const lat: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    target.loops.map(async (once) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          if (await once()) lat.push(performance.now() - t0);
          else {
            errors++;
            firstError ??= "tool answered isError";
          }
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { sessions: target.loops.length, calls: lat.length, errors, seconds: elapsed, callsPerSec: lat.length / elapsed, latenciesMs: lat, firstError };
}

/**
 * N sessions with the lean driver. Connections: one per session, plus one per session for the GET stream
 * where answers arrive there (the peer). Each session gets its own JSON-RPC id range: the peer routes
 * answers by id across all sessions of its listener, so equal ids in two sessions would cross.
 */
export async function rawMcpTarget(mcpUrl: string, tool: string, sessions: number, getStream: boolean): Promise<LoadTarget> {
  const agent = new Agent({ connections: sessions * (getStream ? 2 : 1), keepAliveTimeout: 60_000 });
  const all = Array.from({ length: sessions }, (_, i) => new RawHttpSession(mcpUrl, agent, `Bearer ${BENCH_KEY}_${String(i).padStart(3, "0")}`, i * 100_000_000, getStream));
  await openInBatches(all.map((s) => () => s.open()));
  return {
    loops: all.map((s) => () => s.call(tool)),
    async close() {
      await Promise.all(all.map((s) => s.close()));
      await agent.close();
    },
  };
}

/**
 * Sessions open OPEN_BATCH at a time: ours checks each new credential with the API before a session opens
 * and runs at most 4 such checks per client address at once (src/transport/http.ts, maxPendingPerAddress),
 * answering 503 "try again shortly" past that; every bench session has its own bearer and one loopback
 * address, so opening 64 at once was refused. Opening happens before any measurement.
 */
const OPEN_BATCH = 4;
async function openInBatches<T>(opens: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < opens.length; i += OPEN_BATCH) out.push(...(await Promise.all(opens.slice(i, i + OPEN_BATCH).map((open) => open()))));
  return out;
}

/** N sessions with the SDK's own client. */
export async function sdkMcpTarget(mcpUrl: string, tool: string, sessions: number): Promise<LoadTarget> {
  const clients = await openInBatches(
    Array.from({ length: sessions }, (_, i) => async () => {
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${BENCH_KEY}_${String(i).padStart(3, "0")}` } },
      });
      const client = new Client({ name: "geopera-bench", version: "1.0.0" });
      // Disjoint id ranges per session, as above (the SDK client numbers from 0).
      (client as unknown as { _requestMessageId: number })._requestMessageId = i * 100_000_000;
      await client.connect(transport);
      return client;
    }),
  );
  return {
    loops: clients.map((client) => async () => (await client.callTool({ name: tool, arguments: {} })).isError !== true),
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
    },
  };
}

function balanceRequest(agent: Agent, origin: string) {
  return agent.request({
    origin,
    path: "/v1/op/billing.credits.balance",
    method: "POST",
    headers: { authorization: `Bearer ${BENCH_KEY}`, "content-type": "application/json" },
    body: "{}",
  });
}

/** The floor: N concurrent undici loops straight to the upstream's balance operation on N connections. */
export async function floorTarget(apiUrl: string, sessions: number): Promise<LoadTarget> {
  const agent = new Agent({ connections: sessions, keepAliveTimeout: 60_000 });
  const origin = new URL(apiUrl).origin;
  return {
    loops: Array.from({ length: sessions }, () => async () => {
      const res = await balanceRequest(agent, origin);
      await res.body.text();
      return res.statusCode === 200;
    }),
    close: () => agent.close(),
  };
}

/** One floor connection for the sequential latency row: the same request as above, one at a time. */
export function floorCaller(apiUrl: string): { call(): Promise<boolean>; close(): Promise<void> } {
  const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  const origin = new URL(apiUrl).origin;
  return {
    async call() {
      const res = await balanceRequest(agent, origin);
      await res.body.text();
      return res.statusCode === 200;
    },
    close: () => agent.close(),
  };
}

/** The whole ledger straight from the upstream, read and thrown away: how long the stream itself takes. */
export async function floorLedger(apiUrl: string): Promise<{ seconds: number; bytes: number; status: number }> {
  const agent = new Agent({ connections: 1, bodyTimeout: 120_000, headersTimeout: 120_000 });
  const t0 = performance.now();
  try {
    const res = await agent.request({
      origin: new URL(apiUrl).origin,
      path: "/v1/op/billing.credits.transactions",
      method: "POST",
      headers: { authorization: `Bearer ${BENCH_KEY}`, "content-type": "application/json" },
      body: "{}",
    });
    let bytes = 0;
    for await (const chunk of res.body) bytes += (chunk as Buffer).length;
    return { seconds: (performance.now() - t0) / 1000, bytes, status: res.statusCode };
  } finally {
    await agent.close();
  }
}
