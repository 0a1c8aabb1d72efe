// OAuth 2.1 for hosted agents (--auth oauth|both), through the real thing: the built server spawned in
// HTTP mode against the in-process sandbox API, the v2 SDK client's own OAuth support as the connector
// (discovery from a 401, dynamic registration, PKCE, resource indicator, token exchange), and a person at
// the sign-in page in Chromium. oidc-provider 9 needs Node 22: on older Node the suite is skipped (and
// one test checks that the server refuses --auth oauth there with a clear message).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chromium, type Browser } from "playwright-core";
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { startHttpServer, whenListening, connectStreamable, raw, mcpHeaders, INITIALIZE, type HttpServerProcess } from "./helpers/http.js";
import { CLI, textOf } from "./helpers/stdio.js";
import { freePort, startCallback, startClientDocument, MemoryProvider, signInInBrowser } from "./helpers/oauth.js";
import { skipped } from "./helpers/skip.js";
import fc from "fast-check";
import { hostile } from "./helpers/hostile.js";
import { escapeHtml } from "../src/gate/page.js";

const NODE_MAJOR = Number(process.versions.node.split(".")[0]);
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const tooOld = NODE_MAJOR < 22;
const skip = tooOld || !(CHROMIUM || process.env.CI);
const why = tooOld ? `oidc-provider 9 needs Node 22 or later (this is ${process.versions.node}); CI runs this file on Node 22 and 24` : "no Chromium at /usr/bin/chromium (CI installs it)";

const KEK = `k1:${randomBytes(32).toString("base64")}`;
/** The person's own key (the sandbox accepts any well-formed key and says which organization it acts for). */
const KEY = `gpra_person_${randomBytes(12).toString("hex")}`;
const READ_TOOLS = ["billing_credits_balance", "billing_plans_list"];
const OPERATOR_SECRET = `secret-${randomBytes(12).toString("hex")}`;

/** Files under dir, recursively, with their text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [{ path: p, text: readFileSync(p, "utf8") }];
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
/** Markup an app might put in its name to forge a part of our page. */
const MARKUP = fc.constantFrom("<script>alert(1)</script>", "<b>", "</form>", '"><input name="key">', "&amp;", "'onmouseover='x", "<!--", "]]>", "");

describe.skipIf(!tooOld)("OAuth on Node < 22", () => {
  it("--auth oauth refuses to start with a clear message; --auth key is unaffected", () => {
    const r = spawnSync(process.execPath, [CLI, "--sandbox", "--transport", "http", "--auth", "oauth", "--public-url", "http://127.0.0.1:1"], { env: { PATH: process.env.PATH ?? "", GEOPERA_OAUTH_KEK: KEK }, encoding: "utf8", timeout: 10_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--auth oauth needs Node 22 or later .*--auth key/);
  });
});

describe.skipIf(skip)(skipped("OAuth sign-in for hosted agents (--auth both)", skip, why), () => {
  let api: SandboxApi;
  let server: HttpServerProcess;
  let browser: Browser;
  let callback: Awaited<ReturnType<typeof startCallback>>;
  let base: string;
  let stateDir: string;
  let document: Awaited<ReturnType<typeof startClientDocument>>;
  let serverArgs: string[];
  const seen: string[] = []; // every page, token and answer the connector saw, to check for the key
  let lastPages: string[] = [];

  beforeAll(async () => {
    api = await startSandboxApi();
    callback = await startCallback();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    document = await startClientDocument(callback.url);
    serverArgs = ["--port", String(port), "--public-url", base, "--auth", "both", "--log-level", "debug"];
    // The test flag lets the library fetch the client's metadata document from this loopback https server.
    // An operator's client too (for apps that take a client id and secret), redirecting to our callback.
    const clients = JSON.stringify([{ client_id: "operator-app", client_secret: OPERATOR_SECRET, client_name: "Operator App", redirect_uris: [callback.url] }]);
    server = await startHttpServer({ apiUrl: api.url, args: serverArgs, env: { GEOPERA_OAUTH_KEK: KEK, GEOPERA_OAUTH_TEST_LOOPBACK_CIMD: "true", GEOPERA_OAUTH_CLIENTS: clients } });
    stateDir = server.proc.spawnargs[server.proc.spawnargs.indexOf("--state-dir") + 1]!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await callback?.close();
    await document?.close();
    await api?.close();
  });

  /** The whole connector flow for one access level: returns the connected client and its provider. */
  async function connect(tier: "read" | "draft" | "spend", clientMetadataUrl?: string, cap?: number, preRegistered?: { client_id: string; client_secret: string }) {
    const provider = new MemoryProvider(callback.url, clientMetadataUrl);
    if (preRegistered) provider.creds.set(base, preRegistered);
    const first = new Client({ name: "oauth-test", version: "1.0.0" });
    await expect(first.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.authUrl, "the SDK sent the person to the authorization endpoint").toBeDefined();
    const auth = provider.authUrl!;
    expect(auth.origin + auth.pathname).toBe(`${base}/oauth/authorize`);
    expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
    expect(auth.searchParams.get("resource")).toBe(`${base}/mcp`);
    const { pages } = await signInInBrowser(browser, auth, KEY, tier, "org_demo", cap);
    seen.push(...pages);
    lastPages = pages;
    const back = await callback.next();
    expect(back.searchParams.get("iss")).toBe(base);
    const transport = new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider });
    await transport.finishAuth(back.searchParams);
    seen.push(JSON.stringify(provider.tokens()));
    const client = new Client({ name: "oauth-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider }));
    return { client, provider };
  }

  it("a client with no token learns where to sign in from the 401 and the metadata", async () => {
    const r = await raw(base, { headers: mcpHeaders(), body: INITIALIZE });
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toBe(`Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp", scope="read draft spend"`);
    const bad = await raw(base, { headers: mcpHeaders("not-a-token-we-issued"), body: INITIALIZE });
    expect(bad.status).toBe(401);
    expect(bad.headers["www-authenticate"]).toContain('error="invalid_token"');
    const sse = await raw(base, { method: "GET", path: "/sse" });
    expect(sse.status).toBe(401);
    expect(sse.headers["www-authenticate"]).toContain(`${base}/.well-known/oauth-protected-resource/sse`);
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/sse", "/.well-known/oauth-protected-resource"]) {
      const prm = (await raw(base, { method: "GET", path })).json();
      expect(prm).toMatchObject({ resource: `${base}/mcp`, authorization_servers: [base], scopes_supported: ["read", "draft", "spend"] });
    }
    const as = (await raw(base, { method: "GET", path: "/.well-known/oauth-authorization-server" })).json();
    expect(as).toMatchObject({
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      registration_endpoint: `${base}/oauth/register`,
      revocation_endpoint: `${base}/oauth/revoke`,
      code_challenge_methods_supported: ["S256"],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });
    expect(as.token_endpoint_auth_methods_supported).toContain("none");
    expect((await raw(base, { method: "GET", path: "/.well-known/openid-configuration" })).json().issuer).toBe(base);
  });

  it("dynamic registration refuses redirect URIs outside the allow-list", async () => {
    const reg = (redirect: string) => raw(base, { path: "/oauth/register", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: [redirect], token_endpoint_auth_method: "none", client_name: "x" }) });
    const evil = await reg("https://evil.example/callback");
    expect(evil.status).toBe(400);
    expect(evil.json().error).toBe("invalid_redirect_uri");
    expect((await reg("https://claude.ai/api/mcp/auth_callback")).status).toBe(201);
    const chatgpt = await reg("https://chatgpt.com/connector_platform_oauth_redirect");
    expect(chatgpt.status).toBe(201);
    // Registered clients are kept 90 days; an unknown (or expired) client gets 401 invalid_client, which
    // tells Claude to register again.
    const stored = JSON.parse(readFileSync(join(stateDir, "oauth.json"), "utf8"));
    const record = stored[`Client:${createHash("sha256").update(chatgpt.json().client_id).digest("base64url")}`];
    expect(Math.round((record.expiresAt - Date.now()) / 86_400_000)).toBe(90);
    const unknown = await raw(base, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ grant_type: "refresh_token", refresh_token: "x", client_id: "no-such-client" }) });
    expect(unknown.status).toBe(401);
    expect(unknown.json().error).toBe("invalid_client");
  });

  it("dynamic registration is rate-limited per client address", async () => {
    // Another loopback source address (all of 127/8 is loopback on Linux), so the other tests keep theirs.
    const reg = () => raw(base, { path: "/oauth/register", localAddress: "127.0.0.9", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: ["http://127.0.0.1:1/cb"], token_endpoint_auth_method: "none" }) });
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await reg()).status);
    expect(statuses.slice(0, 20).every((s) => s === 201)).toBe(true);
    expect(statuses[20]).toBe(429);
  });

  it("read grant: the person signs in in the browser; the client lists only read tools, and reads with the person's own key", async () => {
    const { client, provider } = await connect("read");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(READ_TOOLS));
    expect(names).not.toContain("billing_approvals_request"); // compute
    expect(names).not.toContain("billing_topup"); // spend
    const mark = api.requests.length;
    const balance = await client.callTool({ name: "billing_credits_balance", arguments: {} });
    seen.push(JSON.stringify(balance));
    expect(balance.isError, textOf(balance)).toBeFalsy();
    const upstream = api.requests.slice(mark).filter((r) => r.operationId === "billing.credits.balance");
    expect(upstream.length).toBeGreaterThan(0);
    expect(upstream.every((r) => r.authorization === `Bearer ${KEY}`)).toBe(true);
    // Not listed, and not callable either: nothing reaches the API.
    const mark2 = api.requests.length;
    for (const name of ["billing_approvals_request", "billing_topup"]) {
      const r = await client.callTool({ name, arguments: { credits: 10 } }).catch((e: Error) => ({ isError: true, content: [{ type: "text", text: e.message }] }));
      expect(r.isError).toBe(true);
    }
    expect(api.requests.slice(mark2)).toHaveLength(0);
    await client.close();
    // The same grant on 2026-07-28 (no session: each request carries the token) sees the same tools.
    const modern = new Client({ name: "oauth-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await modern.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider }));
    expect(modern.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    expect((await modern.listTools()).tools.map((t) => t.name).sort()).toEqual([...names].sort());
    expect((await modern.callTool({ name: "billing_credits_balance", arguments: {} })).isError).toBeFalsy();
    // A request's server registers only the tool it names, from the grant's tools: a spend is not there.
    const markModern = api.requests.length;
    const refused = await modern.callTool({ name: "billing_topup", arguments: { credits: 10 } }).catch((e: Error) => ({ isError: true, content: [{ type: "text", text: e.message }] }));
    expect(refused.isError).toBe(true);
    expect(api.requests.slice(markModern)).toHaveLength(0);
    await modern.close();
    // And on the legacy SSE transport: the stream opens with the token.
    const sse = new AbortController();
    const stream = await fetch(new URL("/sse", base), { headers: { authorization: `Bearer ${provider.tokens().access_token}`, accept: "text/event-stream" }, signal: sse.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    sse.abort();
  }, 60_000);

  it("draft grant adds the compute tools; spend grant reaches the gate", async () => {
    const draft = await connect("draft");
    const draftNames = (await draft.client.listTools()).tools.map((t) => t.name);
    expect(draftNames).toContain("billing_approvals_request");
    expect(draftNames).not.toContain("billing_topup");
    await draft.client.close();
    // Spend, with a daily limit of the person's own: 30 credits.
    const spend = await connect("spend", undefined, 30);
    expect(lastPages[1]).toContain("30 credits per day");
    expect((await spend.client.listTools()).tools.map((t) => t.name)).toContain("billing_topup");
    const before = api.charges().length;
    const asked = await spend.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
    seen.push(JSON.stringify(asked));
    // The gate asks a person first (this client has no elicitation: it gets the confirmation link); nothing charged.
    expect(textOf(asked)).toMatch(/confirm/i);
    expect(api.charges().length).toBe(before);
    const over = await spend.client.callTool({ name: "billing_topup", arguments: { credits: 50 } });
    expect(over.isError).toBe(true);
    expect(textOf(over)).toContain("over the limit of 30 credits per day (UTC) the person set when they connected this app");
    await spend.client.close();
  }, 90_000);

  it("refresh tokens rotate; reusing an old one revokes the whole grant", async () => {
    const { client, provider } = await connect("read");
    await client.close();
    const clientId = provider.clientInformation()!.client_id as string;
    const r1 = provider.tokens().refresh_token as string;
    const a1 = provider.tokens().access_token as string;
    const refresh = (token: string) => raw(base, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ grant_type: "refresh_token", refresh_token: token, client_id: clientId, resource: `${base}/mcp` }) });
    const rotated = await refresh(r1);
    expect(rotated.status, rotated.body).toBe(200);
    const { access_token: a2, refresh_token: r2 } = rotated.json();
    seen.push(rotated.body);
    expect(r2).toBeTruthy();
    expect(r2).not.toBe(r1);
    expect((await raw(base, { headers: mcpHeaders(a2), body: INITIALIZE })).status).toBe(200);
    // The old refresh token again: refused, and the grant is gone with every token of it.
    const reuse = await refresh(r1);
    expect(reuse.status).toBe(400);
    expect(reuse.json().error).toBe("invalid_grant");
    expect((await refresh(r2)).json().error).toBe("invalid_grant");
    for (const token of [a1, a2]) expect((await raw(base, { headers: mcpHeaders(token), body: INITIALIZE })).status).toBe(401);
  }, 60_000);

  it("revocation (RFC 7009) ends the token; a token for another resource is refused", async () => {
    const { client, provider } = await connect("read");
    await client.close();
    const clientId = provider.clientInformation()!.client_id as string;
    const access = provider.tokens().access_token as string;
    const elsewhere = await raw(base, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ grant_type: "refresh_token", refresh_token: provider.tokens().refresh_token, client_id: clientId, resource: "https://other.example/mcp" }) });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.json().error).toBe("invalid_target");
    expect((await raw(base, { headers: mcpHeaders(access), body: INITIALIZE })).status).toBe(200);
    const revoked = await raw(base, { path: "/oauth/revoke", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ token: access, client_id: clientId }) });
    expect(revoked.status).toBe(200);
    expect((await raw(base, { headers: mcpHeaders(access), body: INITIALIZE })).status).toBe(401);
  }, 60_000);

  it("existing clients that send their own gpra_ key keep working in --auth both", async () => {
    const { client } = await connectStreamable(base, "gpra_existing_client_key");
    const r = await client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(r.isError).toBeFalsy();
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("billing_topup");
    await client.close();
  });


  it("the sign-in page marks a self-registered client unverified, escapes its name, and forbids framing", async () => {
    const { client } = await connect("read");
    await client.close();
    expect(lastPages[0]).toContain("registered itself (unverified");
    expect(lastPages[0]).toContain("Test &lt;Connector&gt;");
    expect(lastPages[0]).not.toContain("Test <Connector>");
    const provider = new MemoryProvider(callback.url);
    await new Client({ name: "t", version: "1" }).connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider })).catch(() => {});
    const page = await raw(base, { method: "GET", path: provider.authUrl!.pathname + provider.authUrl!.search });
    // The authorization endpoint sends the browser on to the interaction page, with its cookie.
    expect(page.status).toBe(303);
    const cookie = ([] as string[]).concat(page.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]).join("; ");
    const signIn = await raw(base, { method: "GET", path: page.headers.location as string, headers: { cookie } });
    expect(signIn.status).toBe(200);
    expect(signIn.headers["x-frame-options"]).toBe("DENY");
    expect(signIn.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(signIn.headers["content-security-policy"]).toContain("default-src 'none'");
    // A POST from another origin, or without the page's CSRF token, is refused.
    const post = (headers: Record<string, string>, body: string) => raw(base, { path: page.headers.location as string, headers: { cookie, "content-type": "application/x-www-form-urlencoded", ...headers }, body });
    expect((await post({ origin: "https://evil.example" }, form({ step: "check", tier: "read", key: "gpra_whatever_123" }))).status).toBe(403);
    expect((await post({ origin: base }, form({ step: "check", tier: "read", key: "gpra_whatever_123", csrf: "forged" }))).status).toBe(403);
  }, 60_000);

  it("property: any client_name a self-registered app gives (generated hostile text) is shown escaped, inside the page's own structure", async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 1_000_000);
    console.log(`oauth.test.ts client_name property: fast-check seed ${seed} (FC_SEED=${seed} replays it)`);
    const verifier = "v".repeat(43);
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    let run = 0;
    let shown = 0;
    /** The sign-in page a freshly registered app with this name gets (undefined: the library refused the name). */
    const signInPageFor = async (name: string) => {
      // Each registration from its own loopback address: registrations are rate-limited per client address.
      const localAddress = `127.0.9.${(run++ % 250) + 1}`;
      const metadata = { client_name: name, redirect_uris: [callback.url], grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "none" };
      const reg = await raw(base, { path: "/oauth/register", headers: { "content-type": "application/json" }, body: JSON.stringify(metadata), localAddress });
      // The library may refuse a name outright (invalid_client_metadata); then nobody is shown anything.
      if (reg.status !== 201) {
        expect(reg.status).toBe(400);
        return undefined;
      }
      const clientId = (JSON.parse(reg.body) as { client_id: string }).client_id;
      const query = form({ client_id: clientId, response_type: "code", redirect_uri: callback.url, code_challenge: challenge, code_challenge_method: "S256", scope: "read", resource: `${base}/mcp`, state: "s" });
      const auth = await raw(base, { method: "GET", path: `/oauth/authorize?${query}`, localAddress });
      expect(auth.status).toBe(303);
      const cookie = ([] as string[]).concat(auth.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]).join("; ");
      const page = await raw(base, { method: "GET", path: auth.headers.location as string, headers: { cookie }, localAddress });
      expect(page.status).toBe(200);
      return { html: page.body, stored: (JSON.parse(reg.body) as { client_name?: string }).client_name ?? name };
    };
    const tags = (html: string) => html.match(/<[A-Za-z/!]/g)?.length ?? 0;
    const plain = (await signInPageFor("Plain App"))!;
    await fc.assert(
      fc.asyncProperty(fc.tuple(hostile(80), MARKUP, hostile(40)).map(([a, m, b]) => a.text + m + b.text), async (name) => {
        const shownPage = await signInPageFor(name);
        if (!shownPage) return;
        const { html, stored } = shownPage;
        // The name as data: shown escaped, adding no element of its own (the same tags as a plain name's
        // page), and the page's own parts there once each.
        // (As UTF-8 carries it: a lone surrogate in the name arrives as U+FFFD, as in any UTF-8 page.)
        expect(html).toContain(Buffer.from(escapeHtml(stored), "utf8").toString("utf8"));
        expect(tags(html)).toBe(tags(plain.html));
        expect(html.match(/name="key"/g)).toHaveLength(1);
        expect(html.match(/name="csrf"/g)).toHaveLength(1);
        expect(html).toContain("registered itself (unverified");
        shown++;
      }),
      { numRuns: 12, seed },
    );
    console.log(`oauth.test.ts client_name property: ${shown} of 12 names shown on the sign-in page`);
  }, 60_000);

  it("Client ID Metadata Document: the library fetches the client's https document; the page names where it came from", async () => {
    const { client } = await connect("read", document.url);
    expect(lastPages[0]).toContain("described by its own metadata document at " + document.url);
    expect(lastPages[0]).toContain("CIMD Test App");
    expect(document.fetches()).toBeGreaterThan(0);
    expect((await client.callTool({ name: "billing_credits_balance", arguments: {} })).isError).toBeFalsy();
    await client.close();
    // A document naming a redirect URI off the allow-list is refused before anyone is asked anything.
    const evil = await raw(base, { method: "GET", path: `/oauth/authorize?${form({ client_id: document.evilUrl, response_type: "code", redirect_uri: "https://evil.example/cb", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256", scope: "read" })}` });
    expect(evil.status).toBe(400);
    expect(evil.body).not.toContain('name="key"');
    expect(evil.body).toMatch(/invalid_client: client is not allowed|invalid_redirect_uri/);
    expect(evil.headers.location).toBeUndefined();
  }, 60_000);

  it("a client the operator registered (id and secret) signs in the same way; the page says who registered it", async () => {
    const { client, provider } = await connect("read", undefined, undefined, { client_id: "operator-app", client_secret: OPERATOR_SECRET });
    expect(lastPages[0]).toContain("registered by this server");
    expect(lastPages[0]).toContain("Operator App");
    expect(provider.tokens().refresh_token).toBeTruthy();
    expect((await client.callTool({ name: "billing_credits_balance", arguments: {} })).isError).toBeFalsy();
    await client.close();
    // Its secret is checked at the token endpoint.
    const wrong = await raw(base, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from("operator-app:wrong").toString("base64")}` }, body: form({ grant_type: "refresh_token", refresh_token: provider.tokens().refresh_token }) });
    expect(wrong.status).toBe(401);
    expect(server.stderr()).not.toContain(OPERATOR_SECRET);
  }, 60_000);

  it("a key the billing API refuses is not accepted on the sign-in page", async () => {
    const provider = new MemoryProvider(callback.url);
    await new Client({ name: "t", version: "1" }).connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider })).catch(() => {});
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(provider.authUrl!.href);
    const revokedKey = "gpra_person_revoked_0123456789";
    await page.fill("input[name=key]", revokedKey);
    await page.click("button[value=check]");
    await page.waitForSelector(".what");
    expect(await page.textContent(".what")).toContain("does not accept this key");
    const html = await page.content();
    expect(html).not.toContain(revokedKey);
    expect(await page.$("button[value=allow]")).toBeNull();
    await context.close();
  }, 60_000);

  it("Cancel on the sign-in page sends the app access_denied and creates no grant", async () => {
    const provider = new MemoryProvider(callback.url);
    await new Client({ name: "t", version: "1" }).connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider })).catch(() => {});
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(provider.authUrl!.href);
    await Promise.all([page.waitForURL(/\/callback\?/), page.click("button[value=deny]")]);
    const back = await callback.next();
    expect(back.searchParams.get("error")).toBe("access_denied");
    expect(back.searchParams.get("code")).toBeNull();
    await context.close();
  }, 60_000);

  it("an upstream 401 for a grant's key revokes the grant", async () => {
    const { client, provider } = await connect("read");
    api.inject("billing.credits.balance", { kind: "status", status: 401, body: JSON.stringify({ error: "revoked" }) });
    const r = await client.callTool({ name: "billing_credits_balance", arguments: {} });
    expect(r.isError).toBe(true);
    await client.close().catch(() => {});
    // The grant is gone: its access token is refused, its refresh token too.
    await expect.poll(async () => (await raw(base, { headers: mcpHeaders(provider.tokens().access_token), body: INITIALIZE })).status, { timeout: 5_000 }).toBe(401);
    const clientId = provider.clientInformation()!.client_id as string;
    const refreshed = await raw(base, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ grant_type: "refresh_token", refresh_token: provider.tokens().refresh_token, client_id: clientId }) });
    expect(refreshed.json().error).toBe("invalid_grant");
    expect(server.stderr()).toContain("oauth grant revoked: the billing API refused its key");
  }, 60_000);

  it("the key is in no log line, state file, token or page", async () => {
    expect(seen.length).toBeGreaterThan(5);
    for (const text of seen) expect(text).not.toContain(KEY);
    expect(server.stderr()).not.toContain(KEY);
    // Every line is our JSON log (the library's notices would go to stdout/stderr as plain text).
    expect(server.stderr().trim().split("\n").every((l) => l.startsWith("{"))).toBe(true);
    expect(server.stdout()).toBe("");
    expect(server.stderr()).toContain("oauth grant created");
    const files = filesUnder(stateDir);
    expect(files.some((f) => f.path.endsWith("oauth.json"))).toBe(true);
    for (const f of files) expect(f.text, f.path).not.toContain(KEY);
    // Nor any token value: the store keeps hashes.
    const oauthFile = files.find((f) => f.path.endsWith("oauth.json"))!.text;
    for (const text of seen) for (const m of text.matchAll(/"(?:access|refresh)_token":"([^"]+)"/g)) expect(oauthFile).not.toContain(m[1]!);
  });

  it("after a restart (KEK rotated, old one still listed) grants still work, and an expired access token is refused", async () => {
    const { client, provider } = await connect("read");
    await client.close();
    const access = provider.tokens().access_token as string;
    await server.stop();
    // Its stored record, found by the hash of the token (the file has no token in it), made an hour old.
    const file = join(stateDir, "oauth.json");
    const records = JSON.parse(readFileSync(file, "utf8"));
    const record = records[`AccessToken:${createHash("sha256").update(access).digest("base64url")}`];
    expect(record).toBeDefined();
    record.payload.exp = Math.floor(Date.now() / 1000) - 60;
    writeFileSync(file, JSON.stringify(records));
    // Restarted with a rotated KEK list (a new key first, the old one still listed): grants sealed under the old one still open.
    const rotated = `k2:${randomBytes(32).toString("base64")},${KEK}`;
    const proc = spawn(process.execPath, [CLI, "--transport", "http", "--state-dir", stateDir, ...serverArgs], { env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: api.url, GEOPERA_OAUTH_KEK: rotated }, stdio: ["ignore", "pipe", "pipe"] });
    server = await whenListening(proc, "restarted server", 10_000);
    expect((await raw(base, { headers: mcpHeaders(access), body: INITIALIZE })).status).toBe(401);
    // The refresh token (kept across the restart) still gets a fresh one.
    const clientId = provider.clientInformation()!.client_id as string;
    const refreshed = await raw(base, { path: "/oauth/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form({ grant_type: "refresh_token", refresh_token: provider.tokens().refresh_token, client_id: clientId }) });
    expect(refreshed.status, refreshed.body).toBe(200);
    expect((await raw(base, { headers: mcpHeaders(refreshed.json().access_token), body: INITIALIZE })).status).toBe(200);
  }, 60_000);

  it("--auth oauth refuses Geopera keys as bearers (only our tokens)", async () => {
    const only = await startHttpServer({ apiUrl: api.url, args: ["--auth", "oauth", "--public-url", "http://127.0.0.1:9"], env: { GEOPERA_OAUTH_KEK: KEK } });
    try {
      const r = await raw(only.url, { headers: mcpHeaders("gpra_existing_client_key"), body: INITIALIZE });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toContain('resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"');
      // Without the test flag, a loopback metadata document is not fetched at all.
      const before = document.fetches();
      const cimd = await raw(only.url, { method: "GET", path: `/oauth/authorize?${form({ client_id: document.url, response_type: "code", redirect_uri: callback.url, code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256" })}` });
      expect(cimd.status).toBe(400);
      expect(document.fetches()).toBe(before);
    } finally {
      await only.stop();
    }
  });

  it("behind a TLS proxy (https --public-url): metadata and challenges name the https origin; nothing but JSON logs", async () => {
    const proxied = await startHttpServer({ apiUrl: api.url, args: ["--auth", "oauth", "--public-url", "https://billing.example.com"], env: { GEOPERA_OAUTH_KEK: KEK } });
    try {
      const via = { host: "billing.example.com", "x-forwarded-proto": "https" };
      const as = await raw(proxied.url, { method: "GET", path: "/.well-known/oauth-authorization-server", headers: via });
      expect(as.status).toBe(200);
      expect(as.json()).toMatchObject({ issuer: "https://billing.example.com", token_endpoint: "https://billing.example.com/oauth/token" });
      const r = await raw(proxied.url, { headers: { ...mcpHeaders(), ...via }, body: INITIALIZE });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toContain('resource_metadata="https://billing.example.com/.well-known/oauth-protected-resource/mcp"');
      const reg = await raw(proxied.url, { path: "/oauth/register", headers: { "content-type": "application/json", ...via }, body: JSON.stringify({ redirect_uris: ["https://claude.ai/api/mcp/auth_callback"], token_endpoint_auth_method: "none" }) });
      expect(reg.status).toBe(201);
    } finally {
      await proxied.stop();
    }
    expect(proxied.stderr().trim().split("\n").every((l) => l.startsWith("{"))).toBe(true);
    expect(proxied.stdout()).toBe("");
  });
});
