// Protocol 2026-07-28 through the real thing: the v2 client pinned to it, over a spawned stdio process and
// over the HTTP listener, against the sandbox API on loopback. The same cases run on both transports; what
// reached the API is the outcome every spend case asserts on. The 2025 path is the yardstick: the tool
// list and the results must be the ones a 2025 client gets.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import type { Client, ElicitRequest } from "@modelcontextprotocol/client";
import type { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { ElicitRequest as V1ElicitRequest } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startStdio, decideOnPage, linkOf, textOf, tempDir } from "./helpers/stdio.js";
import { startHttpServer, connectStreamable, raw, mcpHeaders, type HttpServerProcess } from "./helpers/http.js";
import { startStdioV2, connectHttpV2, callRaw, answer, MODERN, type RawResult, type V2Setup } from "./helpers/v2.js";
import { spendsAfter, chargesAfter } from "./helpers/spends.js";

const KEY_A = "gpra_era_tenant_a_0123456789";
const KEY_B = "gpra_era_tenant_b_9876543210";
const REASON = "com.geopera/gate_reason";
const SERVER_INFO = "io.modelcontextprotocol/serverInfo";
/** The reviewed tools/list (test/snapshot.test.ts keeps it): one list for both eras. */
const SNAPSHOT: unknown[] = JSON.parse(readFileSync(join(import.meta.dirname, "__snapshots__", "tools-list.json"), "utf8"));
const FORM = { elicitation: { form: {} } };
const FORM_AND_URL = { elicitation: { form: {}, url: {} } };

let api: SandboxApi;
beforeAll(async () => {
  api = await startSandboxApi();
});
afterAll(async () => {
  await api?.close();
});

/** Everything one transport's cases talk to. */
interface World {
  /** Hosted (HTTP): no page link for clients without elicitation. */
  hosted: boolean;
  /** Pinned to 2026-07-28, form elicitation, answers by hand; caller A. */
  main: Client;
  /** Like main, but caller B (stdio: another process, another API key, the same state directory). */
  other: Client;
  /** Like main, on a server whose confirmations live 1 s (--confirm-ttl 1). */
  short: Client;
  /** Declares form and URL elicitation, on a server started with --confirm-via page. */
  page: Client;
  /** Declares no elicitation. */
  bare: Client;
  /** Negotiates with `auto` and leaves automatic fulfilment on; its handler says yes. */
  fulfils: Client;
  fulfilled: ElicitRequest[];
  /** `auto` against a server started with --protocol-eras 2025. */
  legacyOnly: Client;
  /** The 2025 path: the v1 client with form elicitation, declining every question it is asked. */
  v1: V1Client;
  /** Everything the servers wrote that a credential must never be in: their stderr (and stdout over HTTP), and, over stdio, the shared state directory's audit. */
  written(): string;
  v1Asked: V1ElicitRequest[];
  close(): Promise<void>;
}

const yes = (req: ElicitRequest, into: ElicitRequest[]) => (into.push(req), { action: "accept" as const, content: { confirm: true } });

async function stdioWorld(): Promise<World> {
  // main and other share a state directory, so they share the request-state secret: a state minted by one
  // verifies in the other, and only the call digest (which names the caller) tells them apart.
  const shared = tempDir("gbm-era-");
  const fulfilled: World["fulfilled"] = [];
  const v1Asked: V1ElicitRequest[] = [];
  const v2 = (setup: V2Setup & { apiKey?: string; stateDir?: string; args?: string[] }) => startStdioV2({ apiUrl: api.url, apiKey: KEY_A, ...setup });
  const procs = await Promise.all([
    v2({ stateDir: shared }),
    v2({ stateDir: shared, apiKey: KEY_B }),
    v2({ args: ["--confirm-ttl", "1"] }),
    v2({ capabilities: FORM_AND_URL, args: ["--confirm-via", "page", "--confirm-wait", "2"] }),
    v2({ capabilities: {} }),
    v2({ negotiation: "auto", autoFulfill: true, onElicit: (req) => yes(req, fulfilled) }),
    v2({ negotiation: "auto", args: ["--protocol-eras", "2025"] }),
  ]);
  const v1 = await startStdio({ apiUrl: api.url, apiKey: KEY_A, capabilities: FORM, onElicit: (req) => (v1Asked.push(req), { action: "decline" }) });
  const [main, other, short, page, bare, fulfils, legacyOnly] = procs.map((p) => p.client) as [Client, Client, Client, Client, Client, Client, Client];
  return {
    hosted: false,
    main, other, short, page, bare, fulfils, fulfilled, legacyOnly,
    v1: v1.client,
    v1Asked,
    written: () => [...procs.map((p) => p.stderr()), readFileSync(join(shared, "audit.jsonl"), "utf8")].join("\n"),
    async close() {
      await Promise.all([...procs.map((p) => p.close()), v1.close()]);
    },
  };
}

let servers: { main: HttpServerProcess; page: HttpServerProcess; short: HttpServerProcess; legacy: HttpServerProcess } | undefined;

async function httpWorld(): Promise<World> {
  const [main, page, short, legacy] = await Promise.all([
    startHttpServer({ apiUrl: api.url }),
    startHttpServer({ apiUrl: api.url, args: ["--confirm-via", "page", "--confirm-wait", "2"] }),
    startHttpServer({ apiUrl: api.url, args: ["--confirm-ttl", "1"] }),
    startHttpServer({ apiUrl: api.url, args: ["--protocol-eras", "2025"] }),
  ]);
  servers = { main, page, short, legacy };
  const fulfilled: World["fulfilled"] = [];
  const v1Asked: V1ElicitRequest[] = [];
  const clients = await Promise.all([
    connectHttpV2(main.url, KEY_A),
    connectHttpV2(main.url, KEY_B),
    connectHttpV2(short.url, KEY_A),
    connectHttpV2(page.url, KEY_A, { capabilities: FORM_AND_URL }),
    connectHttpV2(main.url, KEY_A, { capabilities: {} }),
    connectHttpV2(main.url, KEY_A, { negotiation: "auto", autoFulfill: true, onElicit: (req) => yes(req, fulfilled) }),
    connectHttpV2(legacy.url, KEY_A, { negotiation: "auto" }),
  ]);
  const v1 = await connectStreamable(main.url, KEY_A, { capabilities: FORM, onElicit: (req) => (v1Asked.push(req), { action: "decline" }) });
  const [mainC, other, shortC, pageC, bare, fulfils, legacyOnly] = clients as [Client, Client, Client, Client, Client, Client, Client];
  return {
    hosted: true,
    main: mainC, other, short: shortC, page: pageC, bare, fulfils, fulfilled, legacyOnly,
    v1: v1.client,
    v1Asked,
    written: () => [main, page, short, legacy].flatMap((p) => [p.stderr(), p.stdout()]).join("\n"),
    async close() {
      await Promise.all([...clients.map((c) => c.close()), v1.client.close()]);
      await Promise.all([main.stop(), page.stop(), short.stop(), legacy.stop()]);
    },
  };
}

/** A result as the 2025 path would give it: the v2 server's serverInfo stamp dropped, clock and ids masked. */
function comparable(result: unknown): unknown {
  const r = structuredClone(result) as { _meta?: Record<string, unknown> };
  if (r._meta) delete r._meta[SERVER_INFO];
  const masked = JSON.stringify(r)
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/apr_[0-9a-f]{6,}/g, "apr_<id>");
  return JSON.parse(masked);
}

const reasonOf = (r: RawResult) => r?._meta?.[REASON];
const topup = (client: Client, credits: number, retry = {}) => callRaw(client, "billing_topup", { credits }, retry);

/** Round one of a form spend: it must ask, and send nothing. */
async function askForm(client: Client, credits: number): Promise<RawResult> {
  const mark = api.requests.length;
  const r = await topup(client, credits);
  expect(r.resultType, JSON.stringify(r)).toBe("input_required");
  expect(spendsAfter(api, mark)).toEqual([]);
  return r;
}

/** A retry that must be refused before anything is sent, for `reason`. */
async function expectRefused(client: Client, credits: number, retry: object, reason: string): Promise<RawResult> {
  const mark = api.requests.length;
  const r = await topup(client, credits, retry);
  expect(r.isError, JSON.stringify(r)).toBe(true);
  expect(reasonOf(r)).toBe(reason);
  expect(textOf(r)).toMatch(/nothing was charged/i);
  expect(spendsAfter(api, mark)).toEqual([]);
  return r;
}

/** The requestState's MAC as the SDK codec reads it (atob's forgiving decode), or undefined if it cannot. */
function macBytes(state: string): string | undefined {
  try {
    return atob(state.slice(state.lastIndexOf(".") + 1).replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
}

/** The same state in another spelling: same signed body, a MAC that decodes to the same bytes. */
function sameStateOtherSpelling(mutated: string, issued: string): boolean {
  const body = (s: string) => s.slice(0, s.lastIndexOf("."));
  return mutated !== issued && mutated.startsWith("v1.") && body(mutated) === body(issued) && macBytes(mutated) !== undefined && macBytes(mutated) === macBytes(issued);
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

for (const transport of ["stdio", "http"] as const) {
  describe(`2026-07-28 over ${transport}`, () => {
    let w: World;
    /** Minted at start-up on the 1 s server, refused as expired at the end: the wait overlaps the other cases. */
    let expiring: { state: string; at: number };

    beforeAll(async () => {
      w = transport === "stdio" ? await stdioWorld() : await httpWorld();
      const r = await askForm(w.short, 41);
      expiring = { state: r.requestState, at: Date.now() };
    }, 30_000);
    afterAll(async () => {
      await w?.close();
    });

    it("negotiated 2026-07-28 and lists the 15 tools exactly as the 2025 path does (the reviewed snapshot)", async () => {
      expect(w.main.getProtocolEra()).toBe("modern");
      expect(w.main.getNegotiatedProtocolVersion()).toBe(MODERN);
      const modern = (await w.main.listTools()).tools;
      const legacy = (await w.v1.listTools()).tools;
      expect(modern).toHaveLength(15);
      expect(modern).toEqual(SNAPSHOT);
      expect(modern).toEqual(legacy);
    });

    it("reads the balance and drafts an approval with the results the 2025 path gives", async () => {
      const mark = api.requests.length;
      const balance = await callRaw(w.main, "billing_credits_balance", {});
      const balance1 = await w.v1.callTool({ name: "billing_credits_balance", arguments: {} });
      expect(balance.isError).toBeFalsy();
      expect(balance._meta[SERVER_INFO]).toMatchObject({ name: "geopera-billing-mcp" });
      expect(comparable(balance)).toEqual(comparable(balance1));

      const args = { credits: 7, expiry_hours: 24 };
      const draft = await callRaw(w.main, "billing_approvals_request", args);
      const draft1 = await w.v1.callTool({ name: "billing_approvals_request", arguments: args });
      expect(draft.isError).toBeFalsy();
      expect(draft.structuredContent).toMatchObject({ status: "pending", credits: 7 });
      expect(comparable(draft)).toEqual(comparable(draft1));
      expect(spendsAfter(api, mark)).toEqual([]);
    });

    it("round one of a spend asks the 2025 form's question (one required boolean), and nothing reaches the API", async () => {
      const r1 = await w.v1.callTool({ name: "billing_topup", arguments: { credits: 3 } });
      expect(r1.isError).toBe(true);
      const asked = w.v1Asked.at(-1)!.params as { message: string; requestedSchema: unknown };

      const r = await askForm(w.main, 3);
      expect(Object.keys(r.inputRequests)).toEqual(["confirm"]);
      const q = r.inputRequests.confirm;
      expect(q.method).toBe("elicitation/create");
      expect(q.params.mode).toBe("form");
      expect(q.params.message).toBe(asked.message);
      expect(q.params.requestedSchema).toEqual(asked.requestedSchema);
      expect(Object.keys(q.params.requestedSchema.properties)).toEqual(["confirm"]);
      expect(q.params.requestedSchema.properties.confirm.type).toBe("boolean");
      expect(q.params.requestedSchema.required).toEqual(["confirm"]);
      expect(r.requestState).toMatch(/^v1\./);
    });

    it("accept with confirm:true charges exactly once, with an Idempotency-Key; the same state again is refused (state_used)", async () => {
      const r1 = await askForm(w.main, 5);
      const mark = api.requests.length;
      const r2 = await topup(w.main, 5, { inputResponses: answer.yes, requestState: r1.requestState });
      expect(r2.isError, textOf(r2)).toBeFalsy();
      const charged = chargesAfter(api, mark);
      expect(charged).toHaveLength(1);
      expect(spendsAfter(api, mark)).toHaveLength(1);
      expect(charged[0]!.body).toMatchObject({ credits: 5 });
      expect(charged[0]!.authorization).toBe(`Bearer ${KEY_A}`);
      expect(charged[0]!.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);

      await expectRefused(w.main, 5, { inputResponses: answer.yes, requestState: r1.requestState }, "state_used");
    });

    for (const [label, retry] of [
      ["decline", { inputResponses: answer.decline }],
      ["cancel", { inputResponses: answer.cancel }],
      ["accept with confirm:false", { inputResponses: answer.unticked }],
      ["no inputResponses at all", {}],
    ] as const) {
      it(`${label} on round two charges nothing`, async () => {
        const r1 = await askForm(w.main, 6);
        const mark = api.requests.length;
        const r2 = await topup(w.main, 6, { ...retry, requestState: r1.requestState });
        expect(r2.isError, JSON.stringify(r2)).toBe(true);
        expect(textOf(r2)).toMatch(/nothing was charged/i);
        expect(spendsAfter(api, mark)).toEqual([]);
      });
    }

    it("`auto` negotiation against the default server ends on 2026-07-28", () => {
      expect(w.fulfils.getProtocolEra()).toBe("modern");
      expect(w.fulfils.getNegotiatedProtocolVersion()).toBe(MODERN);
    });

    it("automatic fulfilment (auto negotiation, autoFulfill on, a handler saying yes): modern, asked once, charged once", async () => {
      expect(w.fulfils.getProtocolEra()).toBe("modern");
      const mark = api.requests.length;
      const before = w.fulfilled.length;
      const r = await w.fulfils.callTool({ name: "billing_topup", arguments: { credits: 8 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(w.fulfilled.length - before).toBe(1);
      expect(w.fulfilled.at(-1)!.params.mode).toBe("form");
      expect(chargesAfter(api, mark)).toHaveLength(1);
      expect(spendsAfter(api, mark)).toHaveLength(1);
    });

    describe("URL mode (client declares form and url; --confirm-via page)", () => {
      async function askUrl(credits: number): Promise<{ state: string; url: string }> {
        const mark = api.requests.length;
        const r = await topup(w.page, credits);
        expect(r.resultType, JSON.stringify(r)).toBe("input_required");
        const q = r.inputRequests.confirm;
        expect(q.params.mode).toBe("url");
        expect(q.params.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/confirm\/[A-Za-z0-9_-]+$/);
        expect(spendsAfter(api, mark)).toEqual([]);
        return { state: r.requestState, url: q.params.url };
      }

      it("confirmed on the page, then retried with accept: charged once", async () => {
        const { state, url } = await askUrl(9);
        const page = await decideOnPage(url, "confirm");
        expect(page.status).toBeLessThan(400);
        const mark = api.requests.length;
        const r = await topup(w.page, 9, { inputResponses: answer.opened, requestState: state });
        expect(r.isError, textOf(r)).toBeFalsy();
        expect(chargesAfter(api, mark)).toHaveLength(1);
        expect(spendsAfter(api, mark)).toHaveLength(1);
      });

      it("declined on the page, then retried with accept: nothing charged, and the declined page is not offered again", async () => {
        const { state, url } = await askUrl(10);
        await decideOnPage(url, "decline");
        const mark = api.requests.length;
        const r = await topup(w.page, 10, { inputResponses: answer.opened, requestState: state });
        expect(spendsAfter(api, mark)).toEqual([]);
        // The decline is the answer: no new page is opened for it.
        expect(r.resultType, JSON.stringify(r)).not.toBe("input_required");
        expect(r.isError, JSON.stringify(r)).toBe(true);
      });

      it("the client dismissed the page prompt (decline) → nothing charged, the decline reported", async () => {
        const { state } = await askUrl(24);
        const mark = api.requests.length;
        const r = await topup(w.page, 24, { inputResponses: answer.decline, requestState: state });
        expect(r.isError, JSON.stringify(r)).toBe(true);
        expect(reasonOf(r)).toBe("declined");
        expect(textOf(r)).toMatch(/nothing was charged/i);
        expect(spendsAfter(api, mark)).toEqual([]);
      });

      it("declined on the page, then retried with accept: the decline is reported (isError, declined), as on the 2025 path", async () => {
        const { state, url } = await askUrl(22);
        await decideOnPage(url, "decline");
        const r = await topup(w.page, 22, { inputResponses: answer.opened, requestState: state });
        expect(r.resultType, JSON.stringify(r)).not.toBe("input_required");
        expect(r.isError).toBe(true);
        expect(reasonOf(r)).toBe("declined");
        expect(textOf(r)).toMatch(/declined; nothing was charged/i);
      });
    });

    describe("tampered or stale requestState: refused, nothing sent", () => {
      it("one character of the signed body changed → state_altered", async () => {
        const { requestState: s } = await askForm(w.main, 11);
        const at = 3 + Math.floor((s.lastIndexOf(".") - 3) / 2);
        const altered = s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);
        await expectRefused(w.main, 11, { inputResponses: answer.yes, requestState: altered }, "state_altered");
      });

      it("the state moved to other arguments (credits + 1) → state_other_call", async () => {
        const { requestState } = await askForm(w.main, 12);
        await expectRefused(w.main, 13, { inputResponses: answer.yes, requestState }, "state_other_call");
      });

      it("the state moved to another caller → state_other_call", async () => {
        const { requestState } = await askForm(w.main, 14);
        await expectRefused(w.other, 14, { inputResponses: answer.yes, requestState }, "state_other_call");
      });

      // The SDK codec decodes the MAC with atob, which skips whitespace, accepts '=' padding and ignores
      // the unused low bits of the last character; the gate honours only the exact string it issued.
      it("the MAC re-spelled (a space inserted, '=' appended, the last character's unused bits flipped) → state_altered", async () => {
        const respell = [
          (s: string) => `${s.slice(0, -1)} ${s.slice(-1)}`,
          (s: string) => `${s}=`,
          (s: string) => s.slice(0, -1) + B64URL[B64URL.indexOf(s.at(-1)!) ^ 1],
        ];
        for (const f of respell) {
          const { requestState: s } = await askForm(w.main, 15);
          expect(sameStateOtherSpelling(f(s), s)).toBe(true);
          await expectRefused(w.main, 15, { inputResponses: answer.yes, requestState: f(s) }, "state_altered");
        }
      });

      it("a re-spelled MAC carries the original's nonce: of the two, at most one is honoured — charged once in all", async () => {
        const { requestState: s } = await askForm(w.main, 23);
        const mark = api.requests.length;
        await topup(w.main, 23, { inputResponses: answer.yes, requestState: `${s}=` });
        await topup(w.main, 23, { inputResponses: answer.yes, requestState: s });
        expect(chargesAfter(api, mark)).toHaveLength(1);
        expect(spendsAfter(api, mark)).toHaveLength(1);
      });

      it("property: a mutated requestState (flip, insert, delete, another state swapped in) never charges", async () => {
        const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 0x7fffffff);
        console.log(`era.test.ts ${transport} property: fast-check seed ${seed} (FC_SEED=${seed} replays it)`);
        // States a swap can bring in: another call's (credits 17), and one of this very call (credits 16)
        // already answered and used (its charge is made here, before any run's mark).
        const otherCall = (await askForm(w.main, 17)).requestState as string;
        const usedRound = await askForm(w.main, 16);
        await topup(w.main, 16, { inputResponses: answer.yes, requestState: usedRound.requestState });
        const pool = [otherCall, usedRound.requestState as string];

        const at = fc.nat({ max: 400 });
        const ch = fc.constantFrom(...(B64URL + ".= ").split(""));
        const edit = fc.oneof(
          fc.record({ kind: fc.constant("flip" as const), at, ch }),
          fc.record({ kind: fc.constant("insert" as const), at, ch }),
          fc.record({ kind: fc.constant("delete" as const), at }),
          fc.record({ kind: fc.constant("swap" as const), pick: fc.nat({ max: pool.length - 1 }) }),
        );
        const apply = (s: string, e: { kind: string; at?: number; ch?: string; pick?: number }) => {
          const i = (e.at ?? 0) % (s.length + 1);
          if (e.kind === "flip") return s.slice(0, i) + (s[i] === e.ch ? (e.ch === "A" ? "B" : "A") : e.ch) + s.slice(i + 1);
          if (e.kind === "insert") return s.slice(0, i) + e.ch + s.slice(i);
          if (e.kind === "delete") return s.slice(0, i) + s.slice(i + 1);
          return pool[e.pick!]!;
        };
        const reasons = new Map<string, number>();
        await fc.assert(
          fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), async (edits) => {
            const mark = api.requests.length;
            const issued = (await topup(w.main, 16)).requestState as string;
            const mutated = edits.reduce(apply, issued);
            // Every other string is refused, the issued one re-spelled included (see the MAC re-spelled case).
            fc.pre(mutated !== issued);
            const r = await topup(w.main, 16, { inputResponses: answer.yes, requestState: mutated });
            reasons.set(reasonOf(r), (reasons.get(reasonOf(r)) ?? 0) + 1);
            expect(r.isError, JSON.stringify(r)).toBe(true);
            expect(["state_altered", "state_other_call", "state_used"]).toContain(reasonOf(r));
            expect(spendsAfter(api, mark)).toEqual([]);
          }),
          { numRuns: 15, seed },
        );
        console.log(`era.test.ts ${transport} property: refusals ${JSON.stringify(Object.fromEntries(reasons))}`);
      });

      it("expired (--confirm-ttl 1, retried after it passed) → state_expired", async () => {
        // The codec's expiry is in whole seconds: a 1 s state is refused at most 2 s after it was minted.
        const wait = expiring.at + 2_100 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await expectRefused(w.short, 41, { inputResponses: answer.yes, requestState: expiring.state }, "state_expired");
      });
    });

    it(transport === "stdio" ? "no elicitation declared: the page link 2025 clients get; confirmed there, the next call charges once" : "no elicitation declared (hosted): refused, pointed to billing_approvals_request", async () => {
      const mark = api.requests.length;
      const r = await topup(w.bare, 19);
      expect(r.isError, JSON.stringify(r)).toBe(true);
      expect(textOf(r)).toMatch(/nothing was charged/i);
      expect(spendsAfter(api, mark)).toEqual([]);
      if (!w.hosted) {
        expect(reasonOf(r)).toBe("awaiting_page");
        const link = linkOf(r);
        expect((await decideOnPage(link, "confirm")).status).toBeLessThan(400);
        const again = await topup(w.bare, 19);
        expect(again.isError, textOf(again)).toBeFalsy();
        expect(chargesAfter(api, mark)).toHaveLength(1);
      } else {
        expect(reasonOf(r)).toBe("no_channel");
        expect(textOf(r)).toMatch(/billing_approvals_request/);
        expect(textOf(r)).not.toMatch(/\/confirm\//);
      }
    });

    it("fallback: `auto` against a server started with --protocol-eras 2025 ends on the 2025 era, lists 15 tools, reads the balance", async () => {
      expect(w.legacyOnly.getProtocolEra()).toBe("legacy");
      expect((await w.legacyOnly.listTools()).tools).toEqual(SNAPSHOT);
      const r = await w.legacyOnly.callTool({ name: "billing_credits_balance", arguments: {} });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ organization_id: expect.any(String), balance_credits: expect.any(Number) });
    });

    if (transport === "http") {
      describe("HTTP security on the 2026-07-28 path (raw requests)", () => {
        const envelope = {
          "io.modelcontextprotocol/protocolVersion": MODERN,
          "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": FORM,
        };
        const body = (method: string, params: Record<string, unknown> = {}) => JSON.stringify({ jsonrpc: "2.0", id: 7, method, params: { ...params, _meta: envelope } });
        const headers = (token: string | undefined, method: string, name?: string, extra: Record<string, string> = {}) =>
          mcpHeaders(token, { "MCP-Protocol-Version": MODERN, "Mcp-Method": method, ...(name ? { "Mcp-Name": name } : {}), ...extra });
        /** A JSON-RPC answer, sent as JSON or as one SSE event. */
        const rpc = (text: string) => JSON.parse(text.trimStart().startsWith("{") ? text : /^data: (.*)$/m.exec(text)![1]!);
        const url = () => servers!.main.url;

        it("control: well-formed headers call the tool (so the refusals below are about what they name)", async () => {
          const res = await raw(url(), { headers: headers(KEY_A, "tools/call", "billing_credits_balance"), body: body("tools/call", { name: "billing_credits_balance", arguments: {} }) });
          expect(res.status).toBe(200);
          expect(rpc(res.body).result.structuredContent).toHaveProperty("balance_credits");
        });

        it("no bearer → 401 with WWW-Authenticate; a foreign Origin → 403; nothing reaches the API", async () => {
          const mark = api.requests.length;
          const call = body("tools/call", { name: "billing_topup", arguments: { credits: 20 } });
          const none = await raw(url(), { headers: headers(undefined, "tools/call", "billing_topup"), body: call });
          expect(none.status).toBe(401);
          expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
          const foreign = await raw(url(), { headers: headers(KEY_A, "tools/call", "billing_topup", { Origin: "https://evil.example" }), body: call });
          expect(foreign.status).toBe(403);
          expect(api.requests.slice(mark)).toEqual([]);
        });

        it("Mcp-Method or Mcp-Name disagreeing with the body → 400 (-32020), nothing reaches the API", async () => {
          const mark = api.requests.length;
          const call = body("tools/call", { name: "billing_topup", arguments: { credits: 21 } });
          const method = await raw(url(), { headers: headers(KEY_A, "tools/list"), body: call });
          expect(method.status).toBe(400);
          expect(rpc(method.body).error.code).toBe(-32020);
          const name = await raw(url(), { headers: headers(KEY_A, "tools/call", "billing_credits_balance"), body: call });
          expect(name.status).toBe(400);
          expect(rpc(name.body).error.code).toBe(-32020);
          // Neither the body's spend nor the header's read was made.
          expect(api.requests.slice(mark)).toEqual([]);
        });

        it("a body over the request size limit (1 MiB; there is no flag for it) → 413", async () => {
          const padded = body("tools/call", { name: "billing_credits_balance", arguments: {}, pad: "a".repeat(1024 * 1024) });
          const res = await raw(url(), { headers: headers(KEY_A, "tools/call", "billing_credits_balance"), body: padded });
          expect(res.status).toBe(413);
        });

        it("server/discover answers with 2026-07-28 among the supported versions", async () => {
          const res = await raw(url(), { headers: headers(KEY_A, "server/discover"), body: body("server/discover") });
          expect(res.status).toBe(200);
          expect(rpc(res.body).result.supportedVersions).toContain(MODERN);
          expect(w.main.getDiscoverResult()?.supportedVersions).toContain(MODERN);
        });
      });
    }

    // Last: after every call above (spends charged and refused, tampered states, expiry) has been logged.
    it("no tenant's key is anywhere the servers wrote (logs, and the audit over stdio)", () => {
      const written = w.written();
      expect(written).toMatch(/"msg":"tool call"/);
      expect(written).not.toContain(KEY_A);
      expect(written).not.toContain(KEY_B);
    });
  });
}
