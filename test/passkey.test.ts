// Spends from hosted agents without elicitation (claude.ai, ChatGPT), through the real thing: the built
// server in HTTP mode with OAuth (--auth both) at http://localhost:<port>, the v2 SDK client as the
// connector (no elicitation capability), and the person in Chromium with a virtual authenticator (the
// DevTools WebAuthn domain: a platform authenticator with user verification). Consent with the spend
// scope enrols a passkey and sets the __Host- session cookie; a spend answers with the confirmation
// link; the page confirms only with that account's cookie and a UV assertion over this confirmation and
// charge; the agent's repeated call then charges once (the sandbox's record of requests).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startHttpServer, connectStreamable, type HttpServerProcess } from "./helpers/http.js";
import { textOf } from "./helpers/stdio.js";
import { chargesAfter, spendsAfter } from "./helpers/spends.js";
import { freePort, startCallback } from "./helpers/oauth.js";
import { browserWithAuthenticator as withAuthenticator, connectWithSpend as connectAs, type Person } from "./helpers/passkey.js";
import { skipped } from "./helpers/skip.js";

const NODE_MAJOR = Number(process.versions.node.split(".")[0]);
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const tooOld = NODE_MAJOR < 22;
const skip = tooOld || !(CHROMIUM || process.env.CI);
const why = tooOld ? `oidc-provider 9 needs Node 22 or later (this is ${process.versions.node})` : "no Chromium at /usr/bin/chromium (CI installs it)";
/** Where the README's screenshots of the person's pages are written (test artifacts, not committed). */
export const SHOTS = process.env.PASSKEY_SCREENSHOT_DIR ?? join(import.meta.dirname, "..", "test-results", "passkey");

const KEK = `k1:${randomBytes(32).toString("base64")}`;
const KEY = `gpra_person_${randomBytes(12).toString("hex")}`;
const OTHER_KEY = `gpra_other_${randomBytes(12).toString("hex")}`;
const META_CONFIRMATION = "com.geopera/confirmation";

describe.skipIf(skip)(skipped("passkey-bound confirmation page for OAuth spend grants", skip, why), () => {
  let api: SandboxApi;
  let server: HttpServerProcess;
  let browser: Browser;
  let callback: Awaited<ReturnType<typeof startCallback>>;
  let base: string;
  let stateDir: string;
  let person: Person;
  let other: Person;

  beforeAll(async () => {
    api = await startSandboxApi();
    callback = await startCallback();
    const port = await freePort();
    // A host name, not 127.0.0.1: WebAuthn refuses IP addresses as relying party. The listener binds 127.0.0.1.
    base = `http://localhost:${port}`;
    server = await startHttpServer({ apiUrl: api.url, args: ["--port", String(port), "--public-url", base, "--auth", "both", "--log-level", "debug"], env: { GEOPERA_OAUTH_KEK: KEK } });
    stateDir = server.proc.spawnargs[server.proc.spawnargs.indexOf("--state-dir") + 1]!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    mkdirSync(SHOTS, { recursive: true });
  }, 30_000);
  afterAll(async () => {
    await person?.client.close().catch(() => {});
    await other?.client.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    await callback?.close();
    await api?.close();
  });

  const browserWithAuthenticator = (context?: BrowserContext) => withAuthenticator(browser, context);
  const connectWithSpend = (key: string, shots?: string) => connectAs(browser, base, callback, key, shots ? join(SHOTS, `${shots}-1-consent.png`) : undefined);

  const linkIn = (r: unknown) => {
    const m = new RegExp(`(${base.replace(/[.:/]/g, "\\$&")}/confirm/[A-Za-z0-9_-]+)`).exec(textOf(r));
    if (!m) throw new Error(`no confirmation link in: ${textOf(r)}`);
    return m[1]!;
  };

  async function askToSpend(p: Person, credits: number) {
    const r = await p.client.callTool({ name: "billing_topup", arguments: { credits } });
    expect(r.isError, textOf(r)).toBe(true);
    expect(textOf(r)).toMatch(/Nothing was charged/);
    return { result: r, link: linkIn(r) };
  }

  /** In the page: an assertion over the page's own options (optionally changed), and the form token. */
  const signInPage = (page: Page, change?: { userVerification?: string; allowCredentials?: unknown[] }) =>
    page.evaluate(async (change) => {
      const options = JSON.parse(document.getElementById("passkey-assertion")!.textContent!);
      const w = window as unknown as { GeoperaPasskey: { startAuthentication(o: unknown): Promise<unknown> } };
      const assertion = await w.GeoperaPasskey.startAuthentication({ optionsJSON: { ...options, ...change } });
      return { assertion, token: (document.querySelector("input[name=token]") as HTMLInputElement).value };
    }, change);

  /** A POST of the page's JSON from inside a page (its cookies and Origin). */
  const postFrom = (page: Page, link: string, body: unknown) =>
    page.evaluate(
      async ({ link, body }) => {
        const r = await fetch(link, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        return { status: r.status, text: await r.text() };
      },
      { link, body },
    );

  const auditLines = () => readFileSync(join(stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

  it("consent with the spend scope enrols a passkey and sets the __Host- session cookie (kept on http://localhost)", async () => {
    person = await connectWithSpend(KEY, "passkey");
    const { credentials } = (await person.cdp.send("WebAuthn.getCredentials", { authenticatorId: person.authenticatorId })) as { credentials: { rpId: string }[] };
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.rpId).toBe("localhost");
    const cookies = await person.context.cookies(base);
    const session = cookies.find((c) => c.name === "__Host-geopera_session");
    expect(session, JSON.stringify(cookies)).toBeDefined();
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax", path: "/" });
    expect(session!.domain).toBe("localhost");
  }, 60_000);

  it("a spend from the client without elicitation returns the page link and the card meta, not a refusal", async () => {
    const mark = api.requests.length;
    const { result, link } = await askToSpend(person, 5);
    expect(textOf(result)).not.toMatch(/billing_approvals_request/);
    expect((result._meta as Record<string, { page?: string }>)[META_CONFIRMATION]?.page).toBe(link);
    expect(spendsAfter(api, mark)).toEqual([]);
  });

  it("the link fetched with only the MCP access token shows no charge form and confirms nothing", async () => {
    const mark = api.requests.length;
    const { link } = await askToSpend(person, 5);
    const bearer = { authorization: `Bearer ${person.provider.tokens().access_token}` };
    const got = await fetch(link, { headers: bearer });
    expect(got.status).toBe(401);
    const html = await got.text();
    expect(html).toContain("Sign in to confirm");
    expect(html).not.toContain('name="token"');
    const posted = await fetch(link, { method: "POST", headers: { ...bearer, origin: base, "content-type": "application/json" }, body: JSON.stringify({ decision: "confirm", token: "x" }) });
    expect(posted.status).toBe(401);
    // The Geopera key itself confirms nothing either (it can only sign the browser in, as at consent).
    const withKey = await fetch(link, { method: "POST", headers: { authorization: `Bearer ${KEY}`, origin: base, "content-type": "application/json" }, body: JSON.stringify({ decision: "confirm", token: "x" }) });
    expect(withKey.status).toBe(401);
    expect(spendsAfter(api, mark)).toEqual([]);
    const again = await person.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
    expect(textOf(again)).toMatch(/Nothing was charged/);
    expect(chargesAfter(api, mark)).toEqual([]);
  });

  it("nothing is charged for a POST without the cookie, with another account's cookie, or from an unregistered authenticator", async () => {
    const mark = api.requests.length;
    const { link } = await askToSpend(person, 5);
    await person.page.goto(link);
    const { assertion, token } = await signInPage(person.page);
    // Without the cookie (the same valid assertion, from outside the browser).
    const bare = await fetch(link, { method: "POST", headers: { origin: base, "content-type": "application/json" }, body: JSON.stringify({ decision: "confirm", token, assertion }) });
    expect(bare.status).toBe(401);
    // With another account's cookie (another person who connected with their own key).
    other = await connectWithSpend(OTHER_KEY);
    const otherCookie = (await other.context.cookies(base)).find((c) => c.name === "__Host-geopera_session")!;
    const foreign = await fetch(link, { method: "POST", headers: { origin: base, cookie: `${otherCookie.name}=${otherCookie.value}`, "content-type": "application/json" }, body: JSON.stringify({ decision: "confirm", token, assertion }) });
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain("another account");
    // The other person's own page for it: not theirs, so they are asked to sign in.
    expect((await other.page.goto(link))!.status()).toBe(401);
    // An authenticator whose passkey was never registered here (same browser session, own key pair).
    const stranger = await browserWithAuthenticator(person.context);
    const pkcs8 = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ format: "der", type: "pkcs8" }).toString("base64");
    await stranger.cdp.send("WebAuthn.addCredential", {
      authenticatorId: stranger.authenticatorId,
      credential: { credentialId: randomBytes(16).toString("base64"), isResidentCredential: true, rpId: "localhost", privateKey: pkcs8, userHandle: randomBytes(16).toString("base64"), signCount: 0 },
    });
    await stranger.page.goto(link);
    const forged = await signInPage(stranger.page, { allowCredentials: [] });
    const r = await postFrom(stranger.page, link, { decision: "confirm", token: forged.token, assertion: forged.assertion });
    expect(r.status).toBe(403);
    expect(r.text).toContain("not registered");
    await stranger.page.close();
    const again = await person.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
    expect(textOf(again)).toMatch(/Nothing was charged/);
    expect(chargesAfter(api, mark)).toEqual([]);
  }, 60_000);

  it("nothing is charged for an assertion made for another confirmation and amount, or without user verification", async () => {
    const mark = api.requests.length;
    const a = await askToSpend(person, 6);
    const b = await askToSpend(person, 7);
    await person.page.goto(b.link);
    const tokenB = await person.page.inputValue("input[name=token]");
    await person.page.goto(a.link);
    const forA = await signInPage(person.page);
    const crossed = await postFrom(person.page, b.link, { decision: "confirm", token: tokenB, assertion: forA.assertion });
    expect(crossed.status).toBe(403);
    expect(crossed.text).toContain("another confirmation or charge");
    // User verification off (the authenticator only tests presence).
    await person.cdp.send("WebAuthn.setUserVerified", { authenticatorId: person.authenticatorId, isUserVerified: false });
    try {
      await person.page.goto(a.link);
      const noUv = await signInPage(person.page, { userVerification: "discouraged" });
      const r = await postFrom(person.page, a.link, { decision: "confirm", token: noUv.token, assertion: noUv.assertion });
      expect(r.status).toBe(403);
      expect(r.text).toMatch(/[Uu]ser verification/);
    } finally {
      await person.cdp.send("WebAuthn.setUserVerified", { authenticatorId: person.authenticatorId, isUserVerified: true });
    }
    for (const credits of [6, 7]) expect(textOf(await person.client.callTool({ name: "billing_topup", arguments: { credits } }))).toMatch(/Nothing was charged/);
    expect(chargesAfter(api, mark)).toEqual([]);
  }, 60_000);

  it("the person opens the link, confirms with the passkey, and the agent's repeated call charges once", async () => {
    const mark = api.requests.length;
    const { link } = await askToSpend(person, 9);
    await person.page.goto(link);
    await person.page.waitForSelector("#confirm-button");
    await person.page.screenshot({ path: join(SHOTS, "passkey-2-confirm.png") });
    await person.page.click("#confirm-button");
    await person.page.waitForSelector("text=Confirmed");
    await person.page.screenshot({ path: join(SHOTS, "passkey-3-confirmed.png") });
    const r = await person.client.callTool({ name: "billing_topup", arguments: { credits: 9 } });
    expect(r.isError, textOf(r)).toBeFalsy();
    const charged = chargesAfter(api, mark);
    expect(charged).toHaveLength(1);
    expect(charged[0]!.authorization).toBe(`Bearer ${KEY}`);
    // Once: the next identical call asks again.
    expect(textOf(await person.client.callTool({ name: "billing_topup", arguments: { credits: 9 } }))).toMatch(/Nothing was charged/);
    expect(chargesAfter(api, mark)).toHaveLength(1);
    // The audit names the account, the passkey's credential id and the UV flag (no key material).
    const confirmed = auditLines().filter((l) => l.event === "confirmed" && l.channel === "page");
    expect(confirmed).toHaveLength(1);
    const { credentials } = (await person.cdp.send("WebAuthn.getCredentials", { authenticatorId: person.authenticatorId })) as { credentials: { credentialId: string }[] };
    const credentialId = Buffer.from(credentials[0]!.credentialId, "base64").toString("base64url");
    expect(confirmed[0]!.detail).toBe(`passkey account=${confirmed[0]!.caller} credential=${credentialId} uv=true`);
  }, 60_000);

  it("without the cookie the page asks to sign in with the same key, which sets the session again", async () => {
    const fresh = await browserWithAuthenticator();
    const { link } = await askToSpend(person, 4);
    expect((await fresh.page.goto(link))!.status()).toBe(401);
    await fresh.page.fill("input[name=key]", OTHER_KEY);
    await fresh.page.click("button[value=signin]");
    expect(await fresh.page.content()).toContain("not the key this app was connected with");
    await fresh.page.fill("input[name=key]", KEY);
    await fresh.page.click("button[value=signin]");
    await fresh.page.waitForSelector("#confirm-button");
    expect((await fresh.context.cookies(base)).some((c) => c.name === "__Host-geopera_session")).toBe(true);
    await fresh.context.close();
  }, 60_000);

  it("the account page lists, adds and removes passkeys behind the same sign-in", async () => {
    // Without the cookie: the sign-in form (the same key as at consent).
    const fresh = await browserWithAuthenticator();
    await fresh.page.goto(`${base}/oauth/account`);
    await fresh.page.fill("input[name=key]", KEY);
    await fresh.page.click("button[value=signin]");
    await fresh.page.waitForSelector("text=Add a passkey on this device");
    const listed = async (p: Page) => (await p.locator("button[value=remove]").count());
    expect(await listed(fresh.page)).toBe(1);
    // Add one on this device (its own authenticator), then it confirms like the first one would.
    await fresh.page.click("button[value=allow]");
    await expect.poll(() => listed(fresh.page).catch(() => 0), { timeout: 10_000 }).toBe(2);
    await fresh.page.screenshot({ path: join(SHOTS, "passkey-4-account.png") });
    const { credentials } = (await fresh.cdp.send("WebAuthn.getCredentials", { authenticatorId: fresh.authenticatorId })) as { credentials: { credentialId: string }[] };
    expect(credentials).toHaveLength(1);
    const added = Buffer.from(credentials[0]!.credentialId, "base64").toString("base64url");
    // Remove it: gone from the list.
    await fresh.page.locator(`form:has(input[value="${added}"]) button[value=remove]`).click();
    await expect.poll(() => listed(fresh.page).catch(() => 0), { timeout: 10_000 }).toBe(1);
    expect(await fresh.page.content()).not.toContain(added);
    // A POST from elsewhere (no Origin of the page) changes nothing.
    const cookie = (await fresh.context.cookies(base)).find((c) => c.name === "__Host-geopera_session")!;
    const foreign = await fetch(`${base}/oauth/account`, { method: "POST", headers: { origin: "https://evil.example", cookie: `${cookie.name}=${cookie.value}`, "content-type": "application/x-www-form-urlencoded" }, body: "step=remove&id=x" });
    expect(foreign.status).toBe(403);
    await fresh.context.close();
  }, 60_000);

  it("a 2026-07-28 client without elicitation gets the same link; after the passkey confirmation its repeated call charges once", async () => {
    const modern = new Client({ name: "hosted-agent-modern", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await modern.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: person.provider }));
    try {
      expect(modern.getNegotiatedProtocolVersion()).toBe("2026-07-28");
      const mark = api.requests.length;
      const asked = await modern.callTool({ name: "billing_topup", arguments: { credits: 3 } });
      expect(textOf(asked)).toMatch(/Nothing was charged/);
      await person.page.goto(linkIn(asked));
      await person.page.click("#confirm-button");
      await person.page.waitForSelector("text=Confirmed");
      const done = await modern.callTool({ name: "billing_topup", arguments: { credits: 3 } });
      expect(done.isError, textOf(done)).toBeFalsy();
      expect(chargesAfter(api, mark)).toHaveLength(1);
    } finally {
      await modern.close();
    }
  }, 60_000);

  it("on the same server a hosted client with a Geopera key and no elicitation is still refused, with no link", async () => {
    const { client } = await connectStreamable(base, KEY);
    try {
      const mark = api.requests.length;
      const r = await client.callTool({ name: "billing_topup", arguments: { credits: 2 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/billing_approvals_request/);
      expect(textOf(r)).not.toMatch(/\/confirm\//);
      expect(spendsAfter(api, mark)).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
