// The least an MCP proxy can cost: the SDK's McpServer with one tool that forwards billing.credits.balance
// through an undici keep-alive pool and hands back the upstream's text. No gate, no shaping, no logging.
//   stdio: GEOPERA_API_URL=… GEOPERA_API_KEY=… node dist/bench/baseline-server.js
//   HTTP:  GEOPERA_API_URL=… node dist/bench/baseline-server.js --http [port]   (bearer per session, as ours)
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { balance } from "./lib/balanceForward.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

function newServer(credentialOf: (auth: string | undefined) => string): McpServer {
  const server = new McpServer({ name: "baseline-proxy", version: "1.0.0" });
  server.registerTool("billing_credits_balance", { description: "Credit balance and organization id. Read-only.", inputSchema: {} }, (_args, extra) =>
    balance(credentialOf(extra.requestInfo?.headers.authorization as string | undefined)),
  );
  return server;
}

if (process.argv[2] !== "--http") {
  const key = process.env.GEOPERA_API_KEY ?? "";
  await newServer(() => key).connect(new StdioServerTransport());
  process.stdin.on("end", () => process.exit(0));
} else {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const bearer = (auth: string | undefined) => /^Bearer\s+(\S+)$/i.exec(auth ?? "")?.[1] ?? "";
  const http = createServer(async (req, res) => {
    const id = req.headers["mcp-session-id"] as string | undefined;
    let transport = id ? sessions.get(id) : undefined;
    if (!transport) {
      if (id || req.method !== "POST") return void res.writeHead(404).end();
      transport = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (sid) => void sessions.set(sid, transport!) });
      transport.onclose = () => void sessions.delete(transport!.sessionId ?? "");
      await newServer(bearer).connect(transport);
    }
    await transport.handleRequest(req, res);
  });
  http.listen(Number(process.argv[3] ?? 0), "127.0.0.1", () => {
    const { port } = http.address() as { port: number };
    process.stderr.write(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${port}` }) + "\n");
  });
  process.on("SIGTERM", () => process.exit(0));
}
