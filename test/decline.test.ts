// A "no" is final (issue 12, section 4). When a client declines or cancels the elicitation that shows a
// person our confirmation page, that page's confirmation is closed: the page then says it was declined, a
// confirm POSTed to it (with its real token, as from a browser that had it open) is refused, and the next
// identical call — from this session or any other session with that credential — is asked again and
// charges nothing. A form "no" closes an open page confirmation of the same call (another session's, in
// hosted mode) the same way. Through the real processes: stdio and HTTP, against the file store, or
// PostgreSQL when GEOPERA_TEST_STORE=postgres.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { ElicitRequest, ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, textOf, tempDir, type StdioHarness } from "./helpers/stdio.js";
import { startHttpServer, connectStreamable, type HttpServerProcess } from "./helpers/http.js";
import { startPostgres, type PgCluster } from "./helpers/postgres.js";
import { chargesAfter, spendsAfter } from "./helpers/spends.js";

const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const KEY = "gpra_tenant_decline_123456";

let api: SandboxApi;
let pg: PgCluster | undefined;
beforeAll(async () => {
  api = await startSandboxApi();
  if (PG) pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await api?.close();
  await pg?.stop();
});

/** `--store` for a fresh state: its own database with PostgreSQL, the state directory's files otherwise. */
const storeArgs = async () => (pg ? ["--store", await pg.createDatabase()] : []);

/** What a person's browser holds once it has the page open: the link and the form's token. */
interface Opened {
  url: string;
  token: string;
}
async function openPage(req: ElicitRequest): Promise<Opened> {
  const url = (req.params as { url: string }).url;
  const html = await (await fetch(url)).text();
  return { url, token: /name="token" value="([^"]+)"/.exec(html)?.[1] ?? "" };
}

/** The confirm button pressed on a page the browser had open, with its real token. */
const pressConfirm = (o: Opened) =>
  fetch(o.url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(o.url).origin },
    body: new URLSearchParams({ token: o.token, decision: "confirm" }).toString(),
  });

/** The page is closed as declined: GET says so, a confirm with the real token is refused. */
async function expectClosed(o: Opened): Promise<void> {
  expect(o.token).not.toBe("");
  const page = await fetch(o.url);
  expect(page.status).toBe(409);
  expect(await page.text()).toMatch(/Already decided.*already declined/s);
  const post = await pressConfirm(o);
  expect(post.status).toBeGreaterThanOrEqual(400);
  expect(post.status).toBeLessThan(500);
}

describe.each(["decline", "cancel"] as const)(`a URL elicitation answered "%s" (${PG ? "postgres" : "file"} store)`, (action) => {
  it("over stdio: closes the page; the next identical call is asked again and charges nothing", async () => {
    const seen: Opened[] = [];
    const store = await storeArgs();
    const h: StdioHarness = await startStdio({
      apiUrl: api.url,
      stateDir: tempDir(),
      args: ["--confirm-via", "page", ...store],
      capabilities: { elicitation: { url: {} } },
      onElicit: async (req): Promise<ElicitResult> => (seen.push(await openPage(req)), { action }),
    });
    let other: StdioHarness | undefined;
    try {
      const mark = api.requests.length;
      const charges = api.charges().length;
      const r = await h.client.callTool({ name: "billing_topup", arguments: { credits: 23 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(action === "decline" ? /The person declined; nothing was charged\./ : /The person cancelled the confirmation; nothing was charged\./);
      expect(seen).toHaveLength(1);
      await expectClosed(seen[0]!);

      const again = await h.client.callTool({ name: "billing_topup", arguments: { credits: 23 } });
      expect(again.isError).toBe(true);
      expect(seen).toHaveLength(2);
      expect(seen[1]!.url).not.toBe(seen[0]!.url); // a new question, not the closed one
      if (pg) {
        // Another process on the same database (another session with this credential) is asked anew too.
        other = await startStdio({
          apiUrl: api.url,
          stateDir: tempDir(),
          args: ["--confirm-via", "page", ...store],
          capabilities: { elicitation: { url: {} } },
          onElicit: async (req): Promise<ElicitResult> => (seen.push(await openPage(req)), { action }),
        });
        expect((await other.client.callTool({ name: "billing_topup", arguments: { credits: 23 } })).isError).toBe(true);
        expect(new Set(seen.map((o) => o.url)).size).toBe(seen.length);
      }
      expect(spendsAfter(api, mark)).toEqual([]);
      expect(api.charges().length).toBe(charges);
    } finally {
      await other?.close();
      await h.close();
    }
  });
});

describe(`hosted (HTTP), sessions sharing a credential (${PG ? "postgres" : "file"} store)`, () => {
  let srv: HttpServerProcess;
  beforeAll(async () => {
    srv = await startHttpServer({ apiUrl: api.url, args: ["--confirm-wait", "1", ...(await storeArgs())] });
  }, 30_000);
  afterAll(async () => {
    await srv?.stop();
  });

  /** A session whose client opens each page it is sent and answers `action`. */
  async function session(action: "accept" | "decline" | "cancel", seen: Opened[]) {
    return connectStreamable(srv.url, KEY, {
      capabilities: { elicitation: { url: {} } },
      onElicit: async (req) => (seen.push(await openPage(req)), { action }),
    });
  }

  it.each(["decline", "cancel"] as const)("a URL elicitation answered %s: closed page, and another session's identical call charges nothing", async (action) => {
    const seen: Opened[] = [];
    const a = await session(action, seen);
    const b = await session("decline", seen);
    try {
      const mark = api.requests.length;
      const charges = api.charges().length;
      expect((await a.client.callTool({ name: "billing_topup", arguments: { credits: 24 } })).isError).toBe(true);
      await expectClosed(seen[0]!);
      expect((await b.client.callTool({ name: "billing_topup", arguments: { credits: 24 } })).isError).toBe(true);
      expect(seen).toHaveLength(2);
      expect(seen[1]!.url).not.toBe(seen[0]!.url);
      expect(spendsAfter(api, mark)).toEqual([]);
      expect(api.charges().length).toBe(charges);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });

  it("a form declined in one session closes the open page confirmation of the same call from another", async () => {
    const seen: Opened[] = [];
    // Session A's client opens the page and nobody decides within --confirm-wait: the question stays open.
    const a = await session("accept", seen);
    const asked: string[] = [];
    const b = await connectStreamable(srv.url, KEY, {
      capabilities: { elicitation: { form: {} } },
      onElicit: (req) => (asked.push((req.params as { message: string }).message), { action: "decline" }),
    });
    try {
      const mark = api.requests.length;
      const first = await a.client.callTool({ name: "billing_topup", arguments: { credits: 25 } });
      expect(textOf(first)).toMatch(/waiting for a person to confirm/);
      expect((await fetch(seen[0]!.url)).status).toBe(200); // open
      const r = await b.client.callTool({ name: "billing_topup", arguments: { credits: 25 } });
      expect(r.isError).toBe(true);
      expect(asked).toHaveLength(1);
      await expectClosed(seen[0]!);
      // A's identical call is asked anew; still nothing charged.
      const rerun = await a.client.callTool({ name: "billing_topup", arguments: { credits: 25 } });
      expect(rerun.isError).toBe(true);
      expect(seen).toHaveLength(2);
      expect(seen[1]!.url).not.toBe(seen[0]!.url);
      expect(chargesAfter(api, mark)).toEqual([]);
      expect(spendsAfter(api, mark)).toEqual([]);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});
