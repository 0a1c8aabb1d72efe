// The pieces of an OAuth connector test: the v2 SDK client's OAuthClientProvider kept in memory (as a
// hosted agent keeps it), a loopback callback endpoint that records where the browser was sent, and the
// person at the sign-in page, driven in Chromium.
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import type { OAuthClientProvider } from "@modelcontextprotocol/client";

/** A free loopback port (the server's --public-url must name its port before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Records each request to /callback and answers a short page. */
export async function startCallback(): Promise<{ url: string; next(): Promise<URL>; close(): Promise<void> }> {
  const waiting: ((u: URL) => void)[] = [];
  const seen: URL[] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    res.writeHead(200, { "content-type": "text/plain" }).end("connected; you can close this tab");
    if (u.pathname !== "/callback") return; // the browser's /favicon.ico
    const w = waiting.shift();
    if (w) w(u);
    else seen.push(u);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  return {
    url,
    next: () => (seen.length ? Promise.resolve(seen.shift()!) : new Promise<URL>((r) => waiting.push(r))),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * A client's Client ID Metadata Document on a loopback https server (a throwaway self-signed certificate
 * from openssl): the server under test fetches it only with GEOPERA_OAUTH_TEST_LOOPBACK_CIMD=true.
 */
export async function startClientDocument(redirectUri: string): Promise<{ url: string; evilUrl: string; fetches(): number; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "gbm-cimd-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  let fetches = 0;
  let url = "";
  const server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (req, res) => {
    fetches++;
    // /oauth/evil.json: a document whose redirect URI is not on the server's allow-list.
    const evil = req.url === "/oauth/evil.json";
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" }).end(
      JSON.stringify({ client_id: evil ? url.replace("client.json", "evil.json") : url, client_name: "CIMD Test App", redirect_uris: [evil ? "https://evil.example/cb" : redirectUri], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/client.json`;
  return { url, evilUrl: url.replace("client.json", "evil.json"), fetches: () => fetches, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The SDK's OAuthClientProvider, in memory. `authUrl` is where it sent the person. */
export class MemoryProvider implements OAuthClientProvider {
  creds = new Map<string, any>();
  storedTokens?: any;
  verifier?: string;
  discovery?: any;
  lastState?: string;
  authUrl?: URL;
  constructor(
    readonly redirectUrl: string,
    readonly clientMetadataUrl?: string,
  ) {}
  get clientMetadata() {
    return { client_name: "Test <Connector>", redirect_uris: [this.redirectUrl], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" } as any;
  }
  clientInformation(ctx?: { issuer: string }) {
    return ctx ? this.creds.get(ctx.issuer) : [...this.creds.values()][0];
  }
  saveClientInformation(info: any, ctx?: { issuer: string }) {
    if (ctx) this.creds.set(ctx.issuer, info);
  }
  tokens() {
    return this.storedTokens;
  }
  saveTokens(t: any) {
    this.storedTokens = t;
  }
  state() {
    this.lastState = crypto.randomUUID();
    return this.lastState;
  }
  saveDiscoveryState(s: any) {
    this.discovery = s;
  }
  discoveryState() {
    return this.discovery;
  }
  redirectToAuthorization(url: URL) {
    this.authUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier");
    return this.verifier;
  }
}

/**
 * The person: opens the authorization URL, pastes the key, picks the access, reads the organization
 * and allows. Returns every page's HTML (to check the key is in none of them).
 */
export async function signInInBrowser(browser: Browser, authUrl: URL, key: string, tier: "read" | "draft" | "spend", expectOrganization?: string, cap?: number): Promise<{ pages: string[]; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const pages: string[] = [];
  await page.goto(authUrl.href);
  await page.waitForSelector("input[name=key]");
  pages.push(await page.content());
  await page.fill("input[name=key]", key);
  await page.check(`input[name=tier][value=${tier}]`);
  if (cap !== undefined) await page.fill("input[name=cap]", String(cap));
  await page.click("button[value=check]");
  await page.waitForSelector("button[value=allow]");
  pages.push(await page.content());
  if (expectOrganization !== undefined && !(await page.textContent(".what"))!.includes(expectOrganization)) throw new Error(`organization not shown: ${await page.textContent(".what")}`);
  await Promise.all([page.waitForURL(/\/callback\?/), page.click("button[value=allow]")]);
  pages.push(await page.content());
  return { pages, page };
}

/** The whole connector flow against one MCP URL: 401, discovery, registration, the person, token, connected. */
export async function oauthConnect(opts: { mcpUrl: URL; browser: Browser; callback: { next(): Promise<URL> }; callbackUrl: string; key: string; tier: "read" | "draft" | "spend" }) {
  const { Client, StreamableHTTPClientTransport } = await import("@modelcontextprotocol/client");
  const provider = new MemoryProvider(opts.callbackUrl);
  await new Client({ name: "oauth-test", version: "1.0.0" }).connect(new StreamableHTTPClientTransport(opts.mcpUrl, { authProvider: provider })).catch(() => {});
  if (!provider.authUrl) throw new Error("the client was not sent to sign in");
  const { pages } = await signInInBrowser(opts.browser, provider.authUrl, opts.key, opts.tier);
  const back = await opts.callback.next();
  await new StreamableHTTPClientTransport(opts.mcpUrl, { authProvider: provider }).finishAuth(back.searchParams);
  const client = new Client({ name: "oauth-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(opts.mcpUrl, { authProvider: provider }));
  return { client, provider, pages };
}
