// The passkey-bound confirmation page with two replicas on one PostgreSQL (--store postgres://…), behind
// one public URL (http://localhost:<port>, a small balancer in this test): the MCP connection and the
// consent go to replica A, the confirmation page to replica B. The passkey and browser session enrolled
// on A, the call's binding and the one-use challenge live in the shared store, so the person confirms on
// B a spend asked on A, and A's repeated call charges once. Runs under GEOPERA_TEST_STORE=postgres, Node 22+.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { chromium, type Browser } from "playwright-core";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startPostgres, type PgCluster, startReplica } from "./helpers/postgres.js";
import type { HttpServerProcess } from "./helpers/http.js";
import { textOf } from "./helpers/stdio.js";
import { chargesAfter } from "./helpers/spends.js";
import { freePort, startCallback } from "./helpers/oauth.js";
import { connectWithSpend, type Person } from "./helpers/passkey.js";
import { skipped, NO_POSTGRES } from "./helpers/skip.js";

const PG = process.env.GEOPERA_TEST_STORE === "postgres";
const NODE22 = Number(process.versions.node.split(".")[0]) >= 22;
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const ok = PG && NODE22 && (CHROMIUM !== undefined || process.env.CI !== undefined);
const why = !PG ? NO_POSTGRES : !NODE22 ? `oidc-provider 9 needs Node 22 or later (this is ${process.versions.node})` : "no Chromium at /usr/bin/chromium";

const KEK = `k1:${randomBytes(32).toString("base64")}`;
const KEY = `gpra_replica_person_${randomBytes(8).toString("hex")}`;

describe.skipIf(!ok)(skipped("passkey confirmation page on two replicas sharing one PostgreSQL", !ok, why), () => {
  let api: SandboxApi;
  let pg: PgCluster;
  let a: HttpServerProcess;
  let b: HttpServerProcess;
  let balancer: Server;
  let browser: Browser;
  let callback: Awaited<ReturnType<typeof startCallback>>;
  let base: string;
  let person: Person;
  /** Which replica each proxied request went to. */
  const routed: { path: string; to: "a" | "b" }[] = [];

  const replica = (port: number, db: string) =>
    startReplica({ apiUrl: api.url, store: db, port, publicUrl: base, args: ["--auth", "oauth", "--trust-proxy"], env: { GEOPERA_OAUTH_KEK: KEK } });

  beforeAll(async () => {
    api = await startSandboxApi();
    pg = await startPostgres();
    const db = await pg.createDatabase();
    callback = await startCallback();
    const [port, portA, portB] = [await freePort(), await freePort(), await freePort()];
    base = `http://localhost:${port}`;
    [a, b] = await Promise.all([replica(portA, db), replica(portB, db)]);
    // The balancer: the confirmation page (and nothing else) goes to B. Host names the replica's own port
    // (a loopback Host must, against DNS rebinding), the public one goes in X-Forwarded-Host (--trust-proxy,
    // so the sign-in library builds its redirects for the public URL); Origin and cookies are the browser's.
    balancer = createServer((req, res) => {
      const to = (req.url ?? "").startsWith("/confirm/") ? "b" : "a";
      routed.push({ path: (req.url ?? "").split("?")[0]!, to });
      const target = to === "a" ? portA : portB;
      const up = request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: { ...req.headers, host: `localhost:${target}`, "x-forwarded-host": req.headers.host, "x-forwarded-proto": "http", "x-forwarded-for": "127.0.0.1" } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.writeHead(502).end());
      req.pipe(up);
    });
    await new Promise<void>((r) => balancer.listen(port, "127.0.0.1", () => r()));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  }, 90_000);
  afterAll(async () => {
    await person?.client.close().catch(() => {});
    await browser?.close();
    balancer?.closeAllConnections();
    await new Promise((r) => balancer?.close(r));
    await a?.stop();
    await b?.stop();
    await callback?.close();
    await api?.close();
    await pg?.stop();
  });

  it("the page on replica B confirms, with the passkey enrolled on A, a spend asked on A; A's repeated call charges once", async () => {
    person = await connectWithSpend(browser, base, callback, KEY);
    const mark = api.requests.length;
    const asked = await person.client.callTool({ name: "billing_topup", arguments: { credits: 8 } });
    expect(textOf(asked)).toMatch(/Nothing was charged/);
    const link = /(http:\/\/localhost:\d+\/confirm\/[A-Za-z0-9_-]+)/.exec(textOf(asked))![1]!;
    await person.page.goto(link);
    await person.page.click("#confirm-button");
    await person.page.waitForSelector("text=Confirmed");
    expect(routed.filter((r) => r.path.startsWith("/confirm/")).every((r) => r.to === "b")).toBe(true);
    expect(routed.some((r) => r.path === "/mcp" && r.to === "a")).toBe(true);
    const done = await person.client.callTool({ name: "billing_topup", arguments: { credits: 8 } });
    expect(done.isError, textOf(done)).toBeFalsy();
    expect(chargesAfter(api, mark)).toHaveLength(1);
    expect(textOf(await person.client.callTool({ name: "billing_topup", arguments: { credits: 8 } }))).toMatch(/Nothing was charged/);
    expect(chargesAfter(api, mark)).toHaveLength(1);
  }, 90_000);
});
