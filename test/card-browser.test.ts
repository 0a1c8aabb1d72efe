// The confirmation card in a real browser (Debian's Chromium, driven by playwright-core), rendered by a
// minimal MCP Apps host built on ext-apps' AppBridge (test/helpers/card-host.mjs) in a sandboxed iframe.
// The host's server connection is the SDK Client of a spawned stdio server in this process: what the card
// asks the host for (resources/read, tools/call) goes to the real server; ui/open-link is recorded.
// Outcomes are judged from the sandbox ledger (api.charges()).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page, type FrameLocator } from "playwright-core";
import { build } from "rolldown";
import fc from "fast-check";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, linkOf, decideOnPage, textOf, type StdioHarness } from "./helpers/stdio.js";
import { skipped } from "./helpers/skip.js";
import { CARD_URI } from "../src/card/meta.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const run = CHROMIUM || process.env.CI ? describe : describe.skip;
/** Where the card's screenshots go (a test artifact, not committed). */
const SHOTS = process.env.CARD_SCREENSHOT_DIR ?? join(tmpdir(), "geopera-card-screenshots");

run(skipped("confirmation card (MCP Apps) in Chromium", run === describe.skip, "no Chromium at /usr/bin/chromium or /usr/bin/chromium-browser (CI installs it: apt-get install chromium)"), () => {
  let api: SandboxApi;
  let h: StdioHarness;
  let browser: Browser;
  let hostScript: string;
  let cardHtml: string;
  let cardCsp: unknown;

  beforeAll(async () => {
    api = await startSandboxApi();
    h = await startStdio({ apiUrl: api.url });
    const out = await build({ input: join(import.meta.dirname, "helpers", "card-host.mjs"), write: false, platform: "browser", output: { format: "esm" } });
    hostScript = out.output[0].code;
    const card = (await h.client.readResource({ uri: CARD_URI })).contents[0] as { text: string; _meta?: { ui?: { csp?: unknown } } };
    cardHtml = card.text;
    cardCsp = card._meta?.ui?.csp;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    if (browser) console.log(`card screenshots: ${SHOTS}`);
    await browser?.close();
    await h?.close();
    await api?.close();
  });

  interface HostLog {
    openLinks: string[];
    toolCalls: Array<{ name: string; arguments: Record<string, unknown> }>;
    resourceReads: string[];
    initialized: boolean;
  }

  /** A host page showing the card for one spend call the agent made; returns the page and the card's frame. */
  async function hostFor(name: string, args: Record<string, unknown>, theme: "light" | "dark" = "light", readsResources = true): Promise<{ page: Page; card: FrameLocator; result: Awaited<ReturnType<StdioHarness["client"]["callTool"]>>; close(): Promise<void>; errors: string[] }> {
    const result = await h.client.callTool({ name, arguments: args });
    // The browser's own scheme is always light: a dark card can only come from the host's theme.
    const page = await browser.newPage({ colorScheme: "light" });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // A policy violation (the card's own CSP refusing something it tried) is logged as a console error.
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.exposeFunction("hostCallTool", (params: { name: string; arguments?: Record<string, unknown> }) => h.client.callTool({ name: params.name, arguments: params.arguments ?? {} }));
    await page.exposeFunction("hostReadResource", (params: { uri: string }) => h.client.readResource({ uri: params.uri }));
    await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><title>card host</title></head><body style="margin:16px;background:${theme === "dark" ? "#0f1113" : "#f3f4f6"}"></body></html>`);
    await page.addScriptTag({ content: hostScript, type: "module" });
    await page.waitForFunction(() => typeof (window as unknown as { renderApp?: unknown }).renderApp === "function");
    await page.evaluate((p) => (window as unknown as { renderApp(x: unknown): Promise<void> }).renderApp(p), { html: cardHtml, csp: cardCsp, theme, toolName: name, args, result, readsResources });
    const card = page.frameLocator("iframe");
    await card.locator("#record:not([hidden])").waitFor({ timeout: 10_000 });
    expect(errors).toEqual([]);
    expect(await card.locator("html").getAttribute("data-theme")).toBe(theme);
    const close = async () => {
      await page.close();
      expect(errors, "errors in the host page or the card").toEqual([]);
    };
    return { page, card, result, close, errors };
  }
  const hostLog = (page: Page) => page.evaluate(() => (window as unknown as { hostLog: HostLog }).hostLog);

  it("shows the server's record, asks the host to open the page, and after the page's yes completes the purchase once", async () => {
    const args = { credits: 250, description: "Q4 <b>top-up</b> <img src=x onerror=alert(1)>" };
    const { page, card, result, close, errors } = await hostFor("billing_topup", args);
    const link = linkOf(result);
    try {
      // The record, from the server (resources/read of the confirmation, through the host).
      await expect.poll(() => card.locator("#summary").textContent()).toContain("Buy 250 credits");
      const facts = (await card.locator("#facts").textContent()) ?? "";
      expect(facts).toContain("Current balance (credits)");
      expect(facts).toContain("Organization");
      expect(facts).toContain("Q4 <b>top-up</b> <img src=x onerror=alert(1)>"); // the note, as text
      expect(facts).toContain("Confirmation expires");
      expect(await card.locator("#facts img, #facts b").count()).toBe(0);
      expect((await hostLog(page)).resourceReads[0]).toMatch(/^geopera:\/\/confirmations\//);
      // The page's form token never reaches the card.
      const token = /name="token" value="([^"]+)"/.exec(await (await fetch(link)).text())![1]!;
      expect(await card.locator("html").evaluate((e) => e.outerHTML)).not.toContain(token);
      expect(await card.locator("#complete").isDisabled()).toBe(true);
      // Its policy allows no network at all: not even our own page's address.
      const fetched = await card.locator("body").evaluate((_, url) => fetch(url).then(() => "fetched", () => "refused"), link);
      expect(fetched).toBe("refused");
      await expect.poll(() => errors.join("\n")).toMatch(/violates the document's Content Security Policy/);
      errors.length = 0; // that refusal was the point
      await page.locator("iframe").screenshot({ path: join(SHOTS, "card-pending-light.png") });

      // "Open" asks the host to open our page; the card itself stays where it is.
      await card.locator("#open").click();
      await expect.poll(async () => (await hostLog(page)).openLinks).toEqual([link]);
      expect(await card.locator("body").evaluate(() => location.href)).toBe("about:srcdoc");

      // The person confirms on the page; the card learns it from the server's record.
      expect(api.charges()).toHaveLength(0);
      expect((await decideOnPage(link, "confirm")).status).toBe(200);
      await expect.poll(() => card.locator("#complete").isEnabled(), { timeout: 10_000 }).toBe(true);
      expect(await card.locator("#state").getAttribute("data-state")).toBe("confirmed");
      expect(api.charges()).toHaveLength(0);

      await card.locator("#complete").click();
      await expect.poll(() => card.locator("#outcome h2").textContent(), { timeout: 10_000 }).toBe("Charged");
      expect(api.charges()).toHaveLength(1);
      const outcome = (await card.locator("#outcome").textContent()) ?? "";
      expect(outcome).toContain(api.charges()[0]!.idempotencyKey!);
      expect(outcome).toContain("New balance (credits)");
      const calls = (await hostLog(page)).toolCalls;
      expect(calls).toEqual([{ name: "billing_topup", arguments: args }]);
      // Used: the card offers nothing more, and nothing more is charged.
      await expect.poll(() => card.locator("#state").getAttribute("data-state"), { timeout: 10_000 }).toBe("used");
      expect(await card.locator("#complete").isHidden()).toBe(true);
      await page.locator("iframe").screenshot({ path: join(SHOTS, "card-charged-light.png") });
      expect(api.charges()).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it("without the page's confirmation, 'Complete' charges nothing: forced on in the card, the server still refuses", async () => {
    const args = { credits: 77 };
    const { page, card, result, close } = await hostFor("billing_topup", args, "dark");
    try {
      await expect.poll(() => card.locator("#summary").textContent()).toContain("Buy 77 credits");
      expect(await card.locator("#complete").isDisabled()).toBe(true);
      // Legible in the host's dark theme: light text on a dark background.
      const [bg, fg] = await card.locator("body").evaluate((b) => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]);
      const lum = (c: string) => c.match(/\d+/g)!.slice(0, 3).reduce((a, v) => a + Number(v), 0);
      expect(lum(bg!)).toBeLessThan(150);
      expect(lum(fg!)).toBeGreaterThan(600);
      await page.locator("iframe").screenshot({ path: join(SHOTS, "card-pending-dark.png") });
      const before = api.charges().length;
      // What a tampered card could do: call the tool anyway. The server is the gate, not the card.
      await card.locator("#complete").evaluate((b) => ((b as HTMLButtonElement).disabled = false));
      await card.locator("#complete").click();
      await expect.poll(() => card.locator("#outcome h2").textContent(), { timeout: 10_000 }).toBe("Not charged");
      expect((await hostLog(page)).toolCalls).toHaveLength(1);
      expect(await card.locator("#outcome").textContent()).toContain("Not charged yet: a person must confirm");
      expect(api.charges()).toHaveLength(before);
      // The confirmation is still the one pending: the re-call reused it and used nothing up.
      const id = /\/confirm\/([\w-]+)/.exec(linkOf(result))![1]!;
      const record = JSON.parse((await h.client.readResource({ uri: `geopera://confirmations/${id}` })).contents[0]!.text as string) as { state: string };
      expect(record.state).toBe("pending");
    } finally {
      await close();
    }
  });

  it("a host that cannot read resources: the card shows the record the result carried; 'Complete' before the page's yes charges nothing, after it once", async () => {
    const args = { credits: 79, description: "no resources here" };
    const { page, card, result, close } = await hostFor("billing_topup", args, "light", false);
    try {
      await expect.poll(() => card.locator("#summary").textContent()).toContain("Buy 79 credits");
      expect(await card.locator("#facts").textContent()).toContain("Current balance (credits)");
      expect((await hostLog(page)).resourceReads).toEqual([]);
      expect(await card.locator("#complete").isDisabled()).toBe(true);
      await card.locator("#open").click();
      await expect.poll(() => card.locator("#complete").isEnabled()).toBe(true);
      const before = api.charges().length;
      await card.locator("#complete").click();
      await expect.poll(() => card.locator("#outcome h2").textContent(), { timeout: 10_000 }).toBe("Not charged");
      expect(api.charges()).toHaveLength(before);
      expect((await decideOnPage(linkOf(result), "confirm")).status).toBe(200);
      await expect.poll(() => card.locator("#complete").isEnabled()).toBe(true);
      await card.locator("#complete").click();
      await expect.poll(() => card.locator("#outcome h2").textContent(), { timeout: 10_000 }).toBe("Charged");
      expect(api.charges()).toHaveLength(before + 1);
      expect(await card.locator("#complete").isHidden()).toBe(true);
      expect((await hostLog(page)).toolCalls).toEqual([{ name: "billing_topup", arguments: args }, { name: "billing_topup", arguments: args }]);
    } finally {
      await close();
    }
  });

  it("declined on the page: the card says so, offers nothing, and nothing is charged", async () => {
    const { page, card, result, close } = await hostFor("billing_topup", { credits: 78 });
    try {
      const before = api.charges().length;
      expect((await decideOnPage(linkOf(result), "decline")).status).toBe(200);
      await expect.poll(() => card.locator("#state").getAttribute("data-state"), { timeout: 10_000 }).toBe("declined");
      expect(await card.locator("#complete").isHidden()).toBe(true);
      expect(await card.locator("#open").isHidden()).toBe(true);
      expect(api.charges()).toHaveLength(before);
    } finally {
      await close();
    }
  });

  it("any note the agent writes is shown as text, never as markup (generated notes through the real server)", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: fc.constantFrom("<", ">", "&", '"', "'", "/", "=", "a", "b", "img", "script", " ", "“", "\\", "`", "$", "{", "}"), minLength: 1, maxLength: 40 }), async (note) => {
        const { page, card, result, close } = await hostFor("billing_topup", { credits: 900 + n++, description: note });
        try {
          expect(textOf(result)).toContain("Not charged yet");
          await expect.poll(() => card.locator("#summary").textContent()).toContain("credits");
          // Only the card's own elements in its table: rows and cells, nothing from the note.
          const tags = await card.locator("#facts *").evaluateAll((els) => [...new Set(els.map((e) => e.tagName))].sort());
          expect(tags.every((t) => ["TBODY", "TD", "TH", "TR"].includes(t)), tags.join()).toBe(true);
          const record = JSON.parse((await h.client.readResource({ uri: `geopera://confirmations/${/\/confirm\/([\w-]+)/.exec(linkOf(result))![1]}` })).contents[0]!.text as string) as { facts: Array<{ value: string }> };
          const shown = (await card.locator("#facts").textContent()) ?? "";
          for (const f of record.facts) expect(shown).toContain(f.value);
        } finally {
          await close();
        }
      }),
      { numRuns: 3 },
    );
    expect(api.charges().filter((c) => ((c.body as { credits?: number }).credits ?? 0) >= 900)).toEqual([]);
  });
});
