// The v2 client (@modelcontextprotocol/client), which speaks 2026-07-28: over a spawned stdio process (as
// stdio.ts does for the v1 client) or over HTTP. Pinned by default, with automatic fulfilment off, so a
// test sees the raw input_required round and answers it itself.
import { Client, StreamableHTTPClientTransport, type ClientCapabilities, type ElicitRequest, type ElicitResult } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { CLI, TEST_KEY, tempDir } from "./stdio.js";

export const MODERN = "2026-07-28";

export interface V2Setup {
  /** Sent in every request's envelope on 2026-07-28. Default: form elicitation. */
  capabilities?: ClientCapabilities;
  /** "pin" (default): 2026-07-28 only. "auto": probe, fall back to 2025. */
  negotiation?: "pin" | "auto";
  /** Answers embedded elicitations itself and retries (the SDK's default); off by default here. */
  autoFulfill?: boolean;
  onElicit?: (req: ElicitRequest) => Promise<ElicitResult> | ElicitResult;
}

export function v2Client(setup: V2Setup = {}): Client {
  const client = new Client(
    { name: "v2-test", version: "1.0.0" },
    {
      // `{ pin }` without `mode` is silently ignored by the SDK (FACTS §1): always go through `mode`.
      versionNegotiation: { mode: setup.negotiation === "auto" ? "auto" : { pin: MODERN } },
      inputRequired: { autoFulfill: setup.autoFulfill ?? false },
      capabilities: setup.capabilities ?? { elicitation: { form: {} } },
    },
  );
  if (setup.onElicit) client.setRequestHandler("elicitation/create", (req) => setup.onElicit!(req as ElicitRequest));
  return client;
}

export interface V2Stdio {
  client: Client;
  stderr(): string;
  close(): Promise<void>;
}

/** `node dist/src/cli.js` with GEOPERA_API_URL/GEOPERA_API_KEY, driven by a v2 client. */
export async function startStdioV2(opts: V2Setup & { apiUrl: string; apiKey?: string; stateDir?: string; args?: string[]; env?: Record<string, string> }): Promise<V2Stdio> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "--state-dir", opts.stateDir ?? tempDir(), ...(opts.args ?? [])],
    env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: opts.apiUrl, GEOPERA_API_KEY: opts.apiKey ?? TEST_KEY, ...opts.env },
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const client = v2Client(opts);
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

/** A v2 client on a running HTTP server's /mcp, with the bearer on every request. */
export async function connectHttpV2(url: string, token: string, setup: V2Setup = {}): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  const client = v2Client(setup);
  await client.connect(transport);
  return client;
}

/** What a retried call carries besides its arguments. */
export interface Retry {
  inputResponses?: Record<string, unknown>;
  requestState?: string;
}

/** The result a tools/call came back with, whatever its type (input_required included). */
// `any`: the three result shapes (complete, input_required, error result) are read field by field.
export type RawResult = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * tools/call through `client.request`, which returns the raw result: `callTool` throws once listTools has
 * cached an outputSchema and the result is input_required (FACTS §1).
 */
export function callRaw(client: Client, name: string, args: Record<string, unknown>, retry: Retry = {}): Promise<RawResult> {
  return client.request({ method: "tools/call", params: { name, arguments: args, ...retry } }, { allowInputRequired: true });
}

/** The person's answers to the `confirm` question, as a client sends them back. */
export const answer = {
  yes: { confirm: { action: "accept", content: { confirm: true } } },
  unticked: { confirm: { action: "accept", content: { confirm: false } } },
  decline: { confirm: { action: "decline" } },
  cancel: { confirm: { action: "cancel" } },
  /** URL mode: the client opened the page; the person decides there. */
  opened: { confirm: { action: "accept" } },
} as const;
