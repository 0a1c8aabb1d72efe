// The person with a passkey, for the passkey tests: a Chromium page with its own virtual platform
// authenticator (the DevTools WebAuthn domain, user verification on), and the connector flow in which
// that person grants Spend on the consent page (which enrols the passkey and sets the session cookie).
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { MemoryProvider } from "./oauth.js";

export interface Person {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
  client: Client;
  provider: MemoryProvider;
}

/** A browser page with its own virtual platform authenticator (user verification on). */
export async function browserWithAuthenticator(browser: Browser, context?: BrowserContext) {
  context ??= await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { context, page, cdp, authenticatorId };
}

/**
 * The connector flow (401, registration, the person, token) with the person choosing Spend; returns the
 * connected client, which declares no elicitation (as claude.ai and ChatGPT). `screenshot`: a path for
 * the consent step.
 */
export async function connectWithSpend(browser: Browser, base: string, callback: { url: string; next(): Promise<URL> }, key: string, screenshot?: string): Promise<Person> {
  const b = await browserWithAuthenticator(browser);
  const provider = new MemoryProvider(callback.url);
  const first = new Client({ name: "hosted-agent", version: "1.0.0" });
  const refused = await first.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider })).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(refused instanceof UnauthorizedError) || !provider.authUrl) throw new Error(`the client was not sent to sign in: ${String(refused)}`);
  await b.page.goto(provider.authUrl.href);
  await b.page.fill("input[name=key]", key);
  await b.page.check("input[name=tier][value=spend]");
  await b.page.click("button[value=check]");
  await b.page.waitForSelector("button[value=allow]", { timeout: 10_000 }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await b.page.textContent("body"))?.slice(0, 500)}`);
  });
  if (!(await b.page.content()).includes("passkey")) throw new Error("the spend consent step does not mention the passkey");
  if (screenshot) await b.page.screenshot({ path: screenshot });
  await Promise.all([b.page.waitForURL(/\/callback\?/), b.page.click("button[value=allow]")]);
  const back = await callback.next();
  await new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider }).finishAuth(back.searchParams);
  const client = new Client({ name: "hosted-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider }));
  return { ...b, client, provider };
}
