// The confirmation card's server side, through the real process (stdio and hosted HTTP) with the SDK's
// own Client: which tools declare it, the ui:// resource and its policy, what a pending spend tells the
// card (and that the page's form token is nowhere in it), and where there is no card. The card itself, in
// a browser behind an ext-apps AppBridge host, is test/card-browser.test.ts.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createHash } from "node:crypto";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, linkOf, textOf, decideOnPage, type StdioHarness } from "./helpers/stdio.js";
import { startHttpServer, connectStreamable, type HttpServerProcess } from "./helpers/http.js";
import { CARD_URI, CARD_MIME, META_CONFIRMATION, META_IDEMPOTENCY_KEY } from "../src/card/meta.js";
import { CARD_SCRIPT } from "../src/card/script.js";
import { CATALOG } from "../src/tools/catalog.js";

const SPEND_TOOLS = CATALOG.filter((r) => r.sideEffect === "spend").map((r) => r.name).sort();

async function tokenOf(link: string): Promise<string> {
  const html = await (await fetch(link)).text();
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error("no token on the page");
  return token;
}

describe("the confirmation card (stdio, default --confirm-via auto)", () => {
  let api: SandboxApi;
  let h: StdioHarness;
  beforeAll(async () => {
    api = await startSandboxApi();
    h = await startStdio({ apiUrl: api.url });
  });
  afterAll(async () => {
    await h?.close();
    await api?.close();
  });

  it("each spend tool, and no other, declares the card in _meta.ui.resourceUri", async () => {
    const { tools } = await h.client.listTools();
    const withCard = tools.filter((t) => (t._meta?.ui as { resourceUri?: string } | undefined)?.resourceUri === CARD_URI).map((t) => t.name).sort();
    expect(withCard).toEqual(SPEND_TOOLS);
    expect(tools.filter((t) => t._meta?.ui !== undefined).map((t) => t.name).sort()).toEqual(SPEND_TOOLS);
  });

  it("serves the card as an MCP App: its mime type, no domains in its CSP, and its own policy allowing only its script and style", async () => {
    const listed = (await h.client.listResources()).resources.find((r) => r.uri === CARD_URI);
    expect(listed?.mimeType).toBe(CARD_MIME);
    const { contents } = await h.client.readResource({ uri: CARD_URI });
    expect(contents).toHaveLength(1);
    const c = contents[0] as { uri: string; mimeType: string; text: string; _meta?: { ui?: { csp?: Record<string, string[]> } } };
    expect(c.mimeType).toBe("text/html;profile=mcp-app");
    expect(c._meta?.ui?.csp).toEqual({ connectDomains: [], resourceDomains: [], frameDomains: [], baseUriDomains: [] });
    const html = c.text;
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'none'");
    const hash = `'sha256-${createHash("sha256").update(CARD_SCRIPT).digest("base64")}'`;
    expect(csp).toContain(`script-src ${hash}`);
    // Exactly one script, inline, whose text is the hashed one; nothing loaded from anywhere.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toContain(`<script>${CARD_SCRIPT}</script>`);
    expect(html).not.toMatch(/\bsrc=|\bhref=|https?:\/\//);
    // Every value goes in with textContent: the script never parses anything as HTML.
    expect(CARD_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });

  it("a pending spend names its confirmation for the card; the record reads through the resource; the page token is in neither", async () => {
    const args = { credits: 321, description: "card <b>note</b> “quoted”" };
    const first = await h.client.callTool({ name: "billing_topup", arguments: args });
    expect(first.isError).toBe(true);
    const link = linkOf(first);
    const meta = first._meta?.[META_CONFIRMATION] as { id: string; resource: string; page: string; expires_at: string; record: unknown };
    expect(meta.page).toBe(link);
    expect(link.endsWith(`/confirm/${meta.id}`)).toBe(true);
    expect(meta.resource).toBe(`geopera://confirmations/${meta.id}`);
    expect(Date.parse(meta.expires_at)).toBeGreaterThan(Date.now());

    const read = async () => JSON.parse((await h.client.readResource({ uri: meta.resource })).contents[0]!.text as string) as Record<string, unknown>;
    const record = await read();
    expect(record).toMatchObject({ id: meta.id, tool: "billing_topup", credits: 321, state: "pending" });
    // The result carries the same record, for a host that cannot read resources for its view.
    expect((first._meta?.[META_CONFIRMATION] as { record: unknown }).record).toEqual(record);
    const facts = record.facts as Array<{ label: string; value: string }>;
    expect(facts.find((f) => f.label === "Current balance (credits)")).toBeTruthy();
    expect(facts.find((f) => f.label === "Organization")).toBeTruthy();
    expect(facts.some((f) => f.value.includes("card <b>note</b>"))).toBe(true);

    const token = await tokenOf(link);
    const cardHtml = (await h.client.readResource({ uri: CARD_URI })).contents[0]!.text as string;
    for (const seen of [JSON.stringify(first), JSON.stringify(record), cardHtml]) expect(seen).not.toContain(token);

    expect(api.charges()).toHaveLength(0);
    expect((await decideOnPage(link, "confirm")).status).toBe(200);
    expect((await read()).state).toBe("confirmed");
    const second = await h.client.callTool({ name: "billing_topup", arguments: args });
    expect(second.isError, textOf(second)).toBeFalsy();
    expect(api.charges()).toHaveLength(1);
    // The key the card shows is the key the API got.
    expect(second._meta?.[META_IDEMPOTENCY_KEY]).toBe(api.charges()[0]!.idempotencyKey);
    expect((await read()).state).toBe("used");
  });
});

describe("no card where there is no page", () => {
  let api: SandboxApi;
  beforeAll(async () => {
    api = await startSandboxApi();
  });
  afterAll(async () => {
    await api?.close();
  });

  it("with --confirm-via form no tool declares it and the ui:// resource does not exist", async () => {
    const h = await startStdio({ apiUrl: api.url, args: ["--confirm-via", "form"] });
    try {
      const { tools } = await h.client.listTools();
      expect(tools.filter((t) => t._meta?.ui !== undefined)).toEqual([]);
      expect((await h.client.listResources()).resources.map((r) => r.uri)).not.toContain(CARD_URI);
      await expect(h.client.readResource({ uri: CARD_URI })).rejects.toThrow();
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 5 } });
      expect(r.isError).toBe(true);
      expect(r._meta?.[META_CONFIRMATION]).toBeUndefined();
      expect(api.charges()).toHaveLength(0);
    } finally {
      await h.close();
    }
  });

  it("hosted: a client without elicitation is still refused (no link, nothing for a card); one with URL elicitation whose wait ends pending gets its confirmation, readable by its own credential only", async () => {
    const srv: HttpServerProcess = await startHttpServer({ apiUrl: api.url, args: ["--confirm-wait", "1"] });
    const { client } = await connectStreamable(srv.url, "gpra_card_tenant_0001");
    // Accepts (it "opened" the page) and nobody decides within the wait.
    const withUrl = (await connectStreamable(srv.url, "gpra_card_tenant_0002", { capabilities: { elicitation: { url: {} } }, onElicit: () => ({ action: "accept" }) })).client;
    try {
      const r = await client.callTool({ name: "billing_topup", arguments: { credits: 13 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/billing_approvals_request/);
      expect(textOf(r)).not.toMatch(/\/confirm\//);
      expect(r._meta?.[META_CONFIRMATION]).toBeUndefined();

      const p = await withUrl.callTool({ name: "billing_topup", arguments: { credits: 14 } });
      const meta = p._meta?.[META_CONFIRMATION] as { id: string; resource: string; page: string };
      expect(meta.page).toBe(`${srv.url.replace(/\/$/, "")}/confirm/${meta.id}`);
      const record = JSON.parse((await withUrl.readResource({ uri: meta.resource })).contents[0]!.text as string) as { state: string };
      expect(record.state).toBe("pending");
      await expect(client.readResource({ uri: meta.resource })).rejects.toThrow(/not found/);
      expect(api.charges()).toHaveLength(0);
    } finally {
      await client.close();
      await withUrl.close();
      await srv.stop();
    }
  });
});
