// The 2026-07-28 path, driven by the v2 SDK's own Client pinned to that revision (no fallback to 2025): a
// server that does not serve it fails connect(), which the bench reports as "not served" for ours. Both
// contenders on this path (ours and the thin v2 baseline) go through the same client, so its own cost is in
// both figures alike; the 2025 rows keep their bare JSON-RPC drivers (rawstdio.ts, rawhttp.ts).
import { Client, SdkErrorCode, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { Launch } from "./rawstdio.js";
import type { LoadTarget } from "./load.js";
import { BENCH_KEY } from "./targets.js";
import { closeFd, stderrFile, trackPid } from "./children.js";

export const MODERN_VERSION = "2026-07-28";

/**
 * The SDK's base StdioClientTransport runs its connect-time server/discover probe on a disposable sibling
 * process (a second spawn per connect); a subclass probes in place on the one child. The bench wants one
 * spawn per connection, as the 2025 cold start has, so it uses a subclass that changes nothing else.
 */
class InPlaceStdioClientTransport extends StdioClientTransport {}

function pinnedClient(): Client {
  // 10 s probe timeout instead of the SDK's 60 s: a stdio server that ignores server/discover is a 2025-only
  // server, and the bench should say so promptly.
  return new Client({ name: "geopera-bench", version: "1.0.0" }, { versionNegotiation: { mode: { pin: MODERN_VERSION }, probe: { timeoutMs: 10_000 } } });
}

/**
 * A pinned connect() that failed because the server did not offer 2026-07-28 (the SDK's typed
 * EraNegotiationFailed), as opposed to any other failure, which the bench does not excuse.
 */
export function isNotServed(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.code === SdkErrorCode.EraNegotiationFailed) return true;
  return false;
}

const okResult = (r: { isError?: boolean }) => r.isError !== true;

export interface ModernStdio {
  pid: number;
  /** One tools/call of `tool` with no arguments: true when it answered without isError. */
  call(): Promise<boolean>;
  /** The first call's answer as text, to check it is the balance. */
  callText(): Promise<string>;
  stderr(): string;
  close(): Promise<void>;
}

/** Spawns `launch` and connects a pinned client over its stdio (server/discover, in place). */
export async function modernStdio(launch: Launch, tool: string): Promise<ModernStdio> {
  const log = stderrFile("modern-stdio");
  const transport = new InPlaceStdioClientTransport({ command: launch.command, args: launch.args, env: launch.env, stderr: log.fd });
  const client = pinnedClient();
  try {
    await client.connect(transport);
  } catch (err) {
    await client.close().catch(() => {});
    closeFd(log.fd);
    throw new Error(`${(err as Error).message}\n${log.tail()}`, { cause: err });
  }
  closeFd(log.fd);
  const pid = transport.pid!;
  const untrack = trackPid(pid);
  if (client.getNegotiatedProtocolVersion() !== MODERN_VERSION) throw new Error(`negotiated ${client.getNegotiatedProtocolVersion()}, not ${MODERN_VERSION}`);
  return {
    pid,
    call: async () => okResult(await client.callTool({ name: tool, arguments: {} })),
    callText: async () => JSON.stringify(await client.callTool({ name: tool, arguments: {} })),
    stderr: () => log.tail(),
    async close() {
      await client.close();
      untrack();
    },
  };
}

/**
 * N concurrent callers on stateless Streamable HTTP: N pinned clients, each with its own bearer, each
 * connected (one server/discover) before the measurement; every call is then one POST with no session.
 */
export async function modernHttpTarget(mcpUrl: string, tool: string, callers: number): Promise<LoadTarget> {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < callers; i++) {
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${BENCH_KEY}_${String(i).padStart(3, "0")}` } },
      });
      const client = pinnedClient();
      clients.push(client);
      await client.connect(transport);
      if (client.getNegotiatedProtocolVersion() !== MODERN_VERSION) throw new Error(`negotiated ${client.getNegotiatedProtocolVersion()}, not ${MODERN_VERSION}`);
    }
  } catch (err) {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    throw err;
  }
  return {
    loops: clients.map((client) => async () => okResult(await client.callTool({ name: tool, arguments: {} }))),
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
    },
  };
}
