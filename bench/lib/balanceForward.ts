// The one upstream call both thin baselines make (bench/baseline-server.ts on SDK 1.x, baseline-v2-server.ts
// on the v2 SDK): billing.credits.balance through an undici keep-alive pool, the upstream's text handed back.
import { Agent } from "undici";

const api = new URL(process.env.GEOPERA_API_URL ?? "http://127.0.0.1:1");
const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });

/** A tool result, structurally the same type in both SDKs. */
export interface TextResult {
  [key: string]: unknown;
  content: { type: "text"; text: string }[];
  isError?: boolean;
}

export async function balance(credential: string): Promise<TextResult> {
  const res = await agent.request({
    origin: api.origin,
    path: "/v1/op/billing.credits.balance",
    method: "POST",
    headers: { authorization: `Bearer ${credential}`, "content-type": "application/json" },
    body: "{}",
  });
  const text = (await res.body.text()).trim();
  return res.statusCode < 400 ? { content: [{ type: "text", text }] } : { content: [{ type: "text", text: `HTTP ${res.statusCode}: ${text}` }], isError: true };
}
