// OAuth with two replicas on one PostgreSQL (--auth oauth, --store postgres://…): both behind one public
// URL (the issuer), each on its own loopback port. A token issued by replica A works on replica B; a
// refresh token rotated on one is spent for the other; one refresh token sent to both at once is
// redeemed exactly once (the store's atomic consume). Runs under npm run test:pg, on Node 22 or later.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { chromium, type Browser } from "playwright-core";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startPostgres, type PgCluster, startReplica } from "./helpers/postgres.js";
import { raw, mcpHeaders, INITIALIZE, type HttpServerProcess } from "./helpers/http.js";
import { freePort, startCallback, oauthConnect } from "./helpers/oauth.js";
import { skipped, NO_POSTGRES } from "./helpers/skip.js";

const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const NODE22 = Number(process.versions.node.split(".")[0]) >= 22;
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const ok = PG && NODE22 && (CHROMIUM !== undefined || process.env.CI !== undefined);
const why = !PG ? NO_POSTGRES : !NODE22 ? `oidc-provider 9 needs Node 22 or later (this is ${process.versions.node}); CI runs this on Node 22 and 24` : "no Chromium at /usr/bin/chromium";

const KEK = `k1:${randomBytes(32).toString("base64")}`;
const KEY = `gpra_replica_person_${randomBytes(8).toString("hex")}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe.skipIf(!ok)(skipped("OAuth on two replicas sharing one PostgreSQL", !ok, why), () => {
  let api: SandboxApi;
  let pg: PgCluster;
  let a: HttpServerProcess;
  let b: HttpServerProcess;
  let browser: Browser;
  let callback: Awaited<ReturnType<typeof startCallback>>;
  let issuer: string;
  let db: string;
  const tokensSeen: string[] = [];

  const replica = (port: number, db: string) =>
    startReplica({ apiUrl: api.url, store: db, port, publicUrl: issuer, args: ["--auth", "oauth"], env: { GEOPERA_OAUTH_KEK: KEK } });

  beforeAll(async () => {
    api = await startSandboxApi();
    pg = await startPostgres();
    db = await pg.createDatabase();
    callback = await startCallback();
    const [portA, portB] = [await freePort(), await freePort()];
    // The public URL (the issuer) is replica A's address; B answers to the same issuer, as behind a balancer.
    issuer = `http://127.0.0.1:${portA}`;
    [a, b] = await Promise.all([replica(portA, db), replica(portB, db)]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await callback?.close();
    await api?.close();
    await pg?.stop();
  });

  const refresh = (on: HttpServerProcess, token: string, clientId: string) =>
    raw(on.url, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ grant_type: "refresh_token", refresh_token: token, client_id: clientId }) });

  it("a token issued by replica A is accepted by replica B, which reads with the person's key", async () => {
    const { client, provider } = await oauthConnect({ mcpUrl: new URL("/mcp", a.url), browser, callback, callbackUrl: callback.url, key: KEY, tier: "read" });
    await client.close();
    const onB = new Client({ name: "b", version: "1" });
    const access = provider.tokens().access_token as string;
    tokensSeen.push(access, provider.tokens().refresh_token as string);
    await onB.connect(new StreamableHTTPClientTransport(new URL("/mcp", b.url), { requestInit: { headers: { Authorization: `Bearer ${access}` } } }));
    const mark = api.requests.length;
    expect((await onB.callTool({ name: "billing_credits_balance", arguments: {} })).isError).toBeFalsy();
    expect(api.requests.slice(mark).some((r) => r.operationId === "billing.credits.balance" && r.authorization === `Bearer ${KEY}`)).toBe(true);
    await onB.close();
    // Rotated on B, the old refresh token is spent on A too, and its reuse there revokes the grant everywhere.
    const clientId = provider.clientInformation()!.client_id as string;
    const r1 = provider.tokens().refresh_token as string;
    const rotated = await refresh(b, r1, clientId);
    expect(rotated.status, rotated.body).toBe(200);
    expect((await raw(a.url, { headers: mcpHeaders(rotated.json().access_token), body: INITIALIZE })).status).toBe(200);
    expect((await refresh(a, r1, clientId)).json().error).toBe("invalid_grant");
    expect((await raw(b.url, { headers: mcpHeaders(rotated.json().access_token), body: INITIALIZE })).status).toBe(401);
  }, 90_000);

  // The loser is refused: by the store's atomic consume, or by the library's reuse check (which also revokes the grant).
  it("one refresh token sent to both replicas at once is redeemed exactly once", async () => {
    // Signed in through the public URL (A's address; B's metadata names the same issuer and resource).
    const { client, provider } = await oauthConnect({ mcpUrl: new URL("/mcp", a.url), browser, callback, callbackUrl: callback.url, key: KEY, tier: "read" });
    await client.close();
    const clientId = provider.clientInformation()!.client_id as string;
    const token = provider.tokens().refresh_token as string;
    const answers = await Promise.all([refresh(a, token, clientId), refresh(b, token, clientId)]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 400]);
    expect(answers.find((r) => r.status === 400)!.json().error).toBe("invalid_grant");
  }, 90_000);

  it("the database holds no key and no token value: hashes, and the key sealed", async () => {
    // A live grant (the race above may have revoked its grant: a refresh token presented twice).
    const { client, provider } = await oauthConnect({ mcpUrl: new URL("/mcp", a.url), browser, callback, callbackUrl: callback.url, key: KEY, tier: "read" });
    await client.close();
    tokensSeen.push(provider.tokens().access_token as string, provider.tokens().refresh_token as string);
    const rows = await pg.query<{ key: string; payload: string; grant_id: string | null }>(db, "SELECT key, payload::text AS payload, grant_id FROM gate_oauth");
    expect(rows.some((r) => r.key.startsWith("GeoperaGrant:"))).toBe(true);
    const all = JSON.stringify(rows);
    expect(all).not.toContain(KEY);
    for (const t of tokensSeen) expect(all).not.toContain(t);
  }, 90_000);
});
