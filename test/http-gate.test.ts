// The spend gate over HTTP: the same server core, hosted. Each session's credential is the caller a
// confirmation is bound to; the confirmation page is served by the same listener.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { ElicitRequest } from "@modelcontextprotocol/sdk/types.js";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { startHttpServer, connectStreamable, connectSse, type HttpServerProcess } from "./helpers/http.js";
import { decideOnPage, opensLinkAndConfirms, textOf } from "./helpers/stdio.js";
import { spendsAfter } from "./helpers/spends.js";

const KEY_A = "gpra_tenant_a_123456";
const KEY_B = "gpra_tenant_b_654321";

let api: SandboxApi;
let srv: HttpServerProcess;
const spendsSince = (mark: number) => spendsAfter(api, mark);

beforeAll(async () => {
  api = await startSandboxApi();
  srv = await startHttpServer({ apiUrl: api.url, args: ["--confirm-wait", "2"] });
});
afterAll(async () => {
  await srv?.stop();
  await api?.close();
});

describe("spend gate over HTTP", () => {
  it("form elicitation over Streamable HTTP: a confirmed spend is forwarded once, with the session's key and our Idempotency-Key", async () => {
    const asked: ElicitRequest[] = [];
    const { client } = await connectStreamable(srv.url, KEY_A, {
      capabilities: { elicitation: { form: {} } },
      onElicit: (req) => (asked.push(req), { action: "accept", content: { confirm: true } }),
    });
    try {
      const mark = api.requests.length;
      const r = await client.callTool({ name: "billing_topup", arguments: { credits: 10 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(asked).toHaveLength(1);
      const sent = spendsSince(mark);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.authorization).toBe(`Bearer ${KEY_A}`);
      expect(sent[0]!.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await client.close();
    }
  });

  it("form elicitation over legacy SSE works the same way", async () => {
    const { client } = await connectSse(srv.url, KEY_B, {
      capabilities: { elicitation: { form: {} } },
      onElicit: () => ({ action: "accept", content: { confirm: true } }),
    });
    try {
      const mark = api.requests.length;
      const r = await client.callTool({ name: "billing_topup", arguments: { credits: 11 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      const sent = spendsSince(mark);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.authorization).toBe(`Bearer ${KEY_B}`);
    } finally {
      await client.close();
    }
  });

  it("a client without elicitation gets nothing forwarded and is pointed to billing_approvals_request", async () => {
    const { client } = await connectStreamable(srv.url, KEY_A);
    try {
      const mark = api.requests.length;
      const r = await client.callTool({ name: "billing_topup", arguments: { credits: 12 } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/billing_approvals_request/);
      expect(textOf(r)).toMatch(/Nothing was charged/);
      expect(textOf(r)).not.toMatch(/\/confirm\//);
      expect(spendsSince(mark)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("URL elicitation: the hosted page on the same listener releases the spend once", async () => {
    const opened: string[] = [];
    const { client } = await connectStreamable(srv.url, KEY_A, {
      capabilities: { elicitation: { url: {} } },
      onElicit: opensLinkAndConfirms(opened, 50),
    });
    try {
      const mark = api.requests.length;
      const r = await client.callTool({ name: "billing_topup", arguments: { credits: 13 } });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(opened[0]).toMatch(new RegExp(`^${srv.url}/confirm/`));
      expect(spendsSince(mark)).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it("one tenant's confirmation never releases another tenant's identical spend", async () => {
    let link = "";
    const a = await connectStreamable(srv.url, KEY_A, {
      capabilities: { elicitation: { url: {} } },
      onElicit: (req) => ((link = (req.params as { url: string }).url), { action: "accept" }),
    });
    const b = await connectStreamable(srv.url, KEY_B, { capabilities: { elicitation: { url: {} } }, onElicit: () => ({ action: "decline" }) });
    try {
      const mark = api.requests.length;
      // A is asked; nobody confirms within the wait, so A's call returns without spending.
      const first = await a.client.callTool({ name: "billing_topup", arguments: { credits: 14 } });
      expect(first.isError).toBe(true);
      expect((await decideOnPage(link, "confirm")).status).toBe(200);
      // B makes the identical call: A's confirmation is not B's.
      const rb = await b.client.callTool({ name: "billing_topup", arguments: { credits: 14 } });
      expect(rb.isError).toBe(true);
      expect(spendsSince(mark)).toEqual([]);
      // A's own re-call uses A's confirmation, once, with A's key.
      const ra = await a.client.callTool({ name: "billing_topup", arguments: { credits: 14 } });
      expect(ra.isError, textOf(ra)).toBeFalsy();
      const sent = spendsSince(mark);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.authorization).toBe(`Bearer ${KEY_A}`);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});
