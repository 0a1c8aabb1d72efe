// The thin v2 baseline: bench/baseline-server.ts's one forwarding tool on the v2 SDK's serving entries, so
// the 2026-07-28 path of ours is measured against the least the v2 SDK itself costs. No gate, no shaping,
// no logging. Both entries run in their default posture (they serve 2026-07-28 and 2025 alike).
//   stdio: GEOPERA_API_URL=… GEOPERA_API_KEY=… node dist/bench/baseline-v2-server.js      (serveStdio)
//   HTTP:  GEOPERA_API_URL=… node dist/bench/baseline-v2-server.js --http [port]           (createMcpHandler,
//          stateless per request; the bearer comes from each request's Authorization, as ours)
import { createServer } from "node:http";
import { balance } from "./lib/balanceForward.js";
import { z } from "zod";
import { McpServer, createMcpHandler } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { toNodeHandler } from "@modelcontextprotocol/node";

function newServer(credentialOf: (auth: string | null | undefined) => string): McpServer {
  const server = new McpServer({ name: "baseline-v2-proxy", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.registerTool("billing_credits_balance", { description: "Credit balance and organization id. Read-only.", inputSchema: z.object({}) }, (_args, ctx) =>
    balance(credentialOf(ctx.http?.req?.headers.get("authorization"))),
  );
  return server;
}

if (process.argv[2] !== "--http") {
  const key = process.env.GEOPERA_API_KEY ?? "";
  serveStdio(() => newServer(() => key));
  process.stdin.on("end", () => process.exit(0));
} else {
  const bearer = (auth: string | null | undefined) => /^Bearer\s+(\S+)$/i.exec(auth ?? "")?.[1] ?? "";
  const http = createServer(toNodeHandler(createMcpHandler(() => newServer(bearer))));
  http.listen(Number(process.argv[3] ?? 0), "127.0.0.1", () => {
    const { port } = http.address() as { port: number };
    process.stderr.write(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${port}` }) + "\n");
  });
  process.on("SIGTERM", () => process.exit(0));
}
