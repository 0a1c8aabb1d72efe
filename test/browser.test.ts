// The confirmation page in a real browser (Debian's Chromium, driven by playwright-core): what a
// Claude Desktop user does. A browser's own form POST must pass our Origin check — a test that sets
// headers by hand cannot prove that (a "no-referrer" policy once made Chromium send "Origin: null").
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, linkOf, textOf, type StdioHarness } from "./helpers/stdio.js";
import { skipped } from "./helpers/skip.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
// On a developer machine without Chromium this file is skipped; CI installs Chromium and must run it.
const run = CHROMIUM || process.env.CI ? describe : describe.skip;

run(skipped("confirmation page in Chromium", run === describe.skip, "no Chromium at /usr/bin/chromium or /usr/bin/chromium-browser (CI installs it: apt-get install chromium)"), () => {
  let api: SandboxApi;
  let h: StdioHarness;
  let browser: Browser;
  beforeAll(async () => {
    api = await startSandboxApi();
    h = await startStdio({ apiUrl: api.url });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await api?.close();
  });

  it("a person clicks Confirm and the re-call charges once", async () => {
    const args = { credits: 250, description: "Q4 <b>top-up</b>" };
    const first = await h.client.callTool({ name: "billing_topup", arguments: args });
    const page = await browser.newPage();
    await page.goto(linkOf(first));
    expect(await page.textContent(".what")).toContain("Buy 250 credits");
    expect(await page.textContent("table")).toContain("Q4 <b>top-up</b>");
    expect(api.charges()).toHaveLength(0);
    await page.click("button.yes");
    await page.waitForSelector("h1");
    expect(await page.textContent("h1")).toBe("Confirmed");
    const second = await h.client.callTool({ name: "billing_topup", arguments: args });
    expect(second.isError, textOf(second)).toBeFalsy();
    expect(api.charges()).toHaveLength(1);
    await page.close();
  });

  it("a person clicks Decline and nothing is charged", async () => {
    const args = { credits: 251 };
    const page = await browser.newPage();
    await page.goto(linkOf(await h.client.callTool({ name: "billing_topup", arguments: args })));
    await page.click("button[value=decline]");
    await page.waitForSelector("h1");
    expect(await page.textContent("h1")).toBe("Declined");
    const again = await h.client.callTool({ name: "billing_topup", arguments: args });
    expect(again.isError).toBe(true);
    expect(api.charges()).toHaveLength(1);
    await page.close();
  });
});
