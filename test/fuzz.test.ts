// Property-based bad input over every tool's schema, through one spawned stdio server against the sandbox.
// Arguments are written as raw JSON text (so `__proto__` keys are real own keys, and NaN/Infinity/1e999
// can be sent the way a hostile client would). For every input:
//   - an answer arrives (the server never hangs or dies; every stdout line stays JSON-RPC);
//   - invalid input (per the tool's own zod schema, as the server sees it after JSON parsing) never reaches
//     the API — the sandbox's request log does not move — and the error names an offending field;
//   - valid input for a read tool reaches the API exactly once, with exactly those arguments.
// Compute and spend tools are only sent invalid input here (valid ones change state / ask a person).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { z } from "zod";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { CATALOG } from "../src/tools/catalog.js";
import type { ToolRecord } from "../src/tools/record.js";
import { startRaw, rawText, type RawServer, type RpcMessage } from "./helpers/raw.js";

const MAX_REQUEST_BYTES = 1024 * 1024;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1); // multiplier

let api: SandboxApi;
let s: RawServer;
let tried = 0;
const byKind: Record<string, number> = {};

beforeAll(async () => {
  api = await startSandboxApi();
  s = await startRaw({ apiUrl: api.url, args: ["--log-level", "warn"] });
});
afterAll(async () => {
  console.log(`fuzz: ${tried} inputs (seed ${SEED}): ${Object.entries(byKind).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  await s?.close();
  await api?.close();
});

// ---- JSON text with full control ------------------------------------------------------------------

/** A JSON value whose objects are entry lists, so any key (`__proto__` included) is written as given. */
type J = null | boolean | number | string | Raw | J[] | Obj;
class Raw {
  constructor(readonly text: string) {}
}
class Obj {
  constructor(readonly entries: Array<[string, J]>) {}
}

function enc(v: J): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) return "{" + v.entries.map(([k, x]) => JSON.stringify(k) + ":" + enc(x)).join(",") + "}";
  if (Array.isArray(v)) return "[" + v.map(enc).join(",") + "]";
  return JSON.stringify(v);
}

// ---- the tools' schemas, read from the same zod objects the server registers ----------------------

interface Field {
  name: string;
  type: "integer" | "number" | "string" | "boolean";
  required: boolean;
  min?: number;
  max?: number;
  exclusiveMin?: number;
  minLength?: number;
  maxLength?: number;
}

function fieldsOf(record: ToolRecord): Field[] {
  const schema = z.toJSONSchema(record.input) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, p]) => ({
    name,
    type: p.type as Field["type"],
    required: (schema.required ?? []).includes(name),
    min: p.minimum as number | undefined,
    max: p.maximum as number | undefined,
    exclusiveMin: p.exclusiveMinimum as number | undefined,
    minLength: p.minLength as number | undefined,
    maxLength: p.maxLength as number | undefined,
  }));
}

const TOOLS = CATALOG.map((record) => ({ record, fields: fieldsOf(record) }));
const READS = TOOLS.filter((t) => t.record.sideEffect === "read");

// ---- arbitraries ----------------------------------------------------------------------------------

const ADVERSARIAL_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__", "isError", "_meta", "confirmed", "approved", "idempotency_key", "", " ", "😀", "a\u0000b", "ÿ\u202e", "a\"b", "k".repeat(5_000)];

const unicodeString = fc.oneof(
  fc.string({ maxLength: 40, unit: "binary" }),
  fc.string({ maxLength: 40, unit: "grapheme" }),
  fc.constantFrom("\ud800", "a\udfffb", "\u0000", "\u202e\u2066", "👩‍👩‍👧‍👦", "Ω≈ç√∫", "%s%n", "'; DROP TABLE x; --", "<script>alert(1)</script>", "\\u0000"),
);
/** Long strings built cheaply (fast-check would generate them a character at a time). */
const hugeString = fc.tuple(fc.integer({ min: 1_000, max: 300_000 }), fc.constantFrom("x", "é", "😀", "\u0000")).map(([n, c]) => c.repeat(Math.ceil(n / c.length)));
/** Deep nesting, written as text: parsing it must not blow the server's stack or its validation. */
const deep = fc.tuple(fc.integer({ min: 50, max: 5_000 }), fc.boolean()).map(([d, arr]) => new Raw(arr ? "[".repeat(d) + "]".repeat(d) : '{"a":'.repeat(d) + "1" + "}".repeat(d)));
/** Numbers JSON can carry that are still wrong for a count of credits, rows or AUD. */
const oddNumber = fc.oneof(
  fc.constantFrom<J>(0, -1, -0.5, 0.5, 2.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, Number.MIN_VALUE, new Raw("1e999"), new Raw("-1e999"), new Raw("1E400"), new Raw("-0"), new Raw("1.0")),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }),
);

const leaf: fc.Arbitrary<J> = fc.oneof(fc.constant(null), fc.boolean(), oddNumber, unicodeString);
const anyJson: fc.Arbitrary<J> = fc.letrec<{ v: J }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("v"), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...ADVERSARIAL_KEYS), fc.string({ maxLength: 8 })), tie("v")), { maxLength: 4 }).map((e) => new Obj(e)),
  ),
})).v;
const wrongValue: fc.Arbitrary<J> = fc.oneof({ weight: 6, arbitrary: anyJson }, { weight: 1, arbitrary: hugeString }, { weight: 1, arbitrary: deep });

function validValue(f: Field): fc.Arbitrary<J> {
  switch (f.type) {
    case "boolean":
      return fc.boolean();
    case "integer": {
      const min = f.exclusiveMin !== undefined ? f.exclusiveMin + 1 : (f.min ?? -1e9);
      return fc.integer({ min, max: Math.min(f.max ?? 1e9, min + 1e9) });
    }
    case "number":
      return fc.double({ min: (f.exclusiveMin ?? f.min ?? -1e9) + 1e-6, max: f.max ?? 1e9, noNaN: true });
    case "string":
      return fc.oneof(
        fc.string({ minLength: f.minLength ?? 0, maxLength: Math.min(f.maxLength ?? 64, 64) }),
        unicodeString.filter((x) => x.length >= (f.minLength ?? 0) && x.length <= (f.maxLength ?? Infinity)),
      );
  }
}

/** A valid argument object: all required fields, any subset of the optional ones. */
function validArgs(fields: Field[]): fc.Arbitrary<Array<[string, J]>> {
  const arbs = fields.map((f) => (f.required ? validValue(f).map((v) => [[f.name, v]] as Array<[string, J]>) : fc.option(validValue(f), { nil: undefined }).map((v) => (v === undefined ? [] : [[f.name, v]] as Array<[string, J]>))));
  return fc.tuple(...arbs).map((parts) => parts.flat());
}

type Mutation = { kind: string; field: string; entries: Array<[string, J]> };

/** One thing wrong with an otherwise valid argument object; `field` is what the error must name. */
function mutated(fields: Field[]): fc.Arbitrary<Mutation> {
  const base = validArgs(fields);
  const options: Array<fc.Arbitrary<Mutation>> = [
    // An extra key: the schemas are strict, so any unknown key — prototype-polluting ones included — is refused.
    fc.tuple(base, fc.oneof(fc.constantFrom(...ADVERSARIAL_KEYS), unicodeString.filter((k) => !fields.some((f) => f.name === k) && k.length > 0)), anyJson).map(([e, key, v]) => ({ kind: "extra key", field: key, entries: [...e, [key, v] as [string, J]] })),
  ];
  if (fields.length > 0) {
    const field = fc.constantFrom(...fields);
    const replace = (e: Array<[string, J]>, name: string, v: J) => [...e.filter(([k]) => k !== name), [name, v] as [string, J]];
    options.push(
      fc.tuple(base, field, wrongValue).map(([e, f, v]) => ({ kind: "wrong value", field: f.name, entries: replace(e, f.name, v) })),
      fc.tuple(base, field, oddNumber).map(([e, f, v]) => ({ kind: "odd number", field: f.name, entries: replace(e, f.name, v) })),
      fc.tuple(base, field, hugeString).map(([e, f, v]) => ({ kind: "huge string", field: f.name, entries: replace(e, f.name, v) })),
    );
    const required = fields.filter((f) => f.required);
    if (required.length) options.push(fc.tuple(base, fc.constantFrom(...required)).map(([e, f]) => ({ kind: "missing", field: f.name, entries: e.filter(([k]) => k !== f.name) })));
    const bounded = fields.filter((f) => f.type === "integer" || f.type === "number" || f.maxLength !== undefined || f.minLength !== undefined);
    if (bounded.length) {
      options.push(
        fc.tuple(base, fc.constantFrom(...bounded), fc.integer({ min: 1, max: 1_000 })).map(([e, f, d]) => {
          let v: J;
          if (f.type === "string") v = (f.minLength ?? 0) > 0 && d % 2 === 0 ? "" : "s".repeat((f.maxLength ?? 0) + d);
          else if (d % 3 === 0 && f.type === "integer") v = (f.min ?? f.exclusiveMin ?? 0) + 0.5;
          else if (d % 3 === 1 || f.max === undefined || f.max > 1e15) v = (f.min ?? f.exclusiveMin ?? 0) - d;
          else v = f.max + d;
          return { kind: "out of range", field: f.name, entries: replace(e, f.name, v) };
        }),
      );
    }
  }
  return fc.oneof(...options);
}

// ---- checks -----------------------------------------------------------------------------------------

function issueFields(error: z.ZodError): string[] {
  return error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys : i.path.length ? [String(i.path[0])] : []));
}

async function send(record: ToolRecord, argsText: string): Promise<RpcMessage> {
  tried++;
  return s.callRaw(record.name, argsText);
}

/** Sends one input and checks the invariants; returns what the server's schema made of it. */
async function check(record: ToolRecord, argsText: string, mustName?: string): Promise<"valid" | "invalid"> {
  const before = api.requests.length;
  let parsed: unknown;
  let jsonOk = true;
  try {
    parsed = JSON.parse(argsText);
  } catch {
    jsonOk = false;
  }
  const verdict = jsonOk && parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? record.input.safeParse(parsed) : undefined;
  if (verdict?.success && record.sideEffect !== "read") throw new Error("generator produced a valid compute/spend input; refusing to send it");

  const answer = await send(record, argsText);
  const text = rawText(answer);
  if (!jsonOk) {
    expect(answer.error?.code, text).toBe(-32700);
    expect(api.requests.length).toBe(before);
    return "invalid";
  }
  if (answer.error?.code === -32600) {
    // Only for a line over the 1 MB request cap (escaping can make a 300 KB string several times larger).
    expect(answer.error.message).toMatch(/^Request too large/);
    expect(Buffer.byteLength(argsText)).toBeGreaterThan(MAX_REQUEST_BYTES - 200);
    expect(api.requests.length).toBe(before);
    return "invalid";
  }
  if (!verdict?.success) {
    expect(api.requests.length, `reached the API: ${record.name} ${argsText.slice(0, 300)}`).toBe(before);
    if (answer.error) {
      // Invalid params at the protocol level: arguments that are not an object, or an own "__proto__" key
      // (which the SDK's request schema would otherwise drop without a word; the transport refuses it).
      expect(answer.error.code, text).toBe(-32602);
    } else {
      expect(answer.result?.isError, `${record.name} ${argsText.slice(0, 200)} → ${text.slice(0, 300)}`).toBe(true);
    }
    if (verdict) {
      const names = mustName !== undefined ? [mustName] : issueFields(verdict.error);
      expect(
        names.some((n) => text.includes(n)),
        `error for ${record.name} ${argsText.slice(0, 200)} should name one of ${JSON.stringify(names).slice(0, 200)}: ${text.slice(0, 300)}`,
      ).toBe(true);
    }
    return "invalid";
  }
  // Valid input for a read: forwarded exactly once, with exactly these arguments.
  expect(api.requests.length, `${record.name} ${argsText.slice(0, 200)} → ${text.slice(0, 300)}`).toBe(before + 1);
  const sent = api.requests.at(-1)!;
  expect(sent.operationId).toBe(record.operationId);
  // As JSON carries it: the server re-serialises, so e.g. -0 arrives as 0. Where the operation takes `limit`,
  // the API is asked for one page plus one row: min(the agent's limit, --max-rows 100) + 1 (issue 12).
  const expected = JSON.parse(JSON.stringify(verdict.data)) as Record<string, unknown>;
  if (TAKES_LIMIT.has(record.operationId)) expected.limit = Math.min(typeof expected.limit === "number" ? expected.limit : 100, 100) + 1;
  expect(sent.body).toEqual(expected);
  expect(answer.result, text).toBeDefined();
  expect(typeof (answer.result!._meta as Record<string, unknown> | undefined)?.["com.geopera/upstream_status"]).toBe("number");
  return "valid";
}

/** The operations whose reference input has `limit` (written out, not derived from the catalog under test). */
const TAKES_LIMIT: ReadonlySet<string> = new Set(["billing.credits.transactions", "billing.invoices.list", "billing.stripe_invoices.list"]);

/** Counterexamples can hold 300 KB strings: have fast-check print a bounded summary instead. */
function shown<T extends object>(value: T, tool: string, text: string): T {
  return Object.assign(value, { [fc.toStringMethod]: () => `${tool} ${text.length > 400 ? `${text.slice(0, 400)}… (${text.length} chars)` : text}` });
}

const count = (kind: string) => (byKind[kind] = (byKind[kind] ?? 0) + 1);

// ---- properties -----------------------------------------------------------------------------------

describe("fuzzing every tool's arguments over stdio", () => {
  it("one thing wrong (wrong type, out of range, huge, missing, unknown/prototype key) → refused, not sent, field named", async () => {
    const arb = fc.constantFrom(...TOOLS).chain((t) => mutated(t.fields).map((m) => shown({ t, m }, t.record.name, `${m.kind} ${m.field.slice(0, 40)}: ${enc(new Obj(m.entries))}`)));
    await fc.assert(
      fc.asyncProperty(arb, async ({ t, m }) => {
        const text = enc(new Obj(m.entries));
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        // A mutation can land on a valid value (e.g. a random integer in range); such inputs are checked as valid reads below.
        if (parsed !== undefined && t.record.input.safeParse(parsed).success) {
          fc.pre(t.record.sideEffect === "read");
          count("mutation that stayed valid");
          expect(await check(t.record, text)).toBe("valid");
          return;
        }
        count(m.kind);
        expect(await check(t.record, text, parsed === undefined ? undefined : m.field)).toBe("invalid");
      }),
      { numRuns: 1_500 * RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it("random argument objects (any keys, any JSON values) → exactly the schema's verdict", async () => {
    const arb = fc.constantFrom(...TOOLS).chain((t) =>
      fc
        .array(fc.tuple(fc.oneof(fc.constantFrom(...t.fields.map((f) => f.name), ...ADVERSARIAL_KEYS), fc.string({ maxLength: 6 })), fc.oneof(anyJson, ...t.fields.map(validValue))), { maxLength: 5 })
        .map((entries) => shown({ t, text: enc(new Obj(entries)) }, t.record.name, enc(new Obj(entries)))),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ t, text }) => {
        const parsed = JSON.parse(text) as unknown;
        fc.pre(t.record.sideEffect === "read" || !t.record.input.safeParse(parsed).success);
        count(`random ${await check(t.record, text)}`);
      }),
      { numRuns: 1_000 * RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it("valid arguments for every read tool reach the API, unchanged (but for limit: one page plus one row)", async () => {
    const arb = fc.constantFrom(...READS).chain((t) => validArgs(t.fields).map((e) => shown({ t, text: enc(new Obj(e)) }, t.record.name, enc(new Obj(e)))));
    await fc.assert(
      fc.asyncProperty(arb, async ({ t, text }) => {
        count("valid read");
        expect(await check(t.record, text)).toBe("valid");
      }),
      { numRuns: 400 * RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it("arguments that are not JSON (NaN, Infinity, undefined, hex, trailing commas) or not an object → refused, not sent", async () => {
    const notJson = fc.constantFrom("NaN", "Infinity", "-Infinity", "undefined", "0x10", "01", ".5", "+1", "1.", "'x'", "[1,]", "{,}");
    const arb = fc.tuple(fc.constantFrom(...TOOLS), fc.constantFrom(...TOOLS.flatMap((t) => t.fields.map((f) => f.name)), "credits"), notJson, fc.boolean());
    await fc.assert(
      fc.asyncProperty(arb, async ([t, field, token, wrapped]) => {
        count("not JSON");
        await check(t.record, wrapped ? `{${JSON.stringify(field)}:${token}}` : token);
      }),
      { numRuns: 150 * RUNS, seed: SEED, endOnFailure: true },
    );
    for (const t of TOOLS) {
      for (const args of ["[]", "[1,2]", '"credits"', "42", "true", "null"]) {
        count("not an object");
        const before = api.requests.length;
        const answer = await send(t.record, args);
        expect(api.requests.length).toBe(before);
        expect(answer.error?.code ?? (answer.result?.isError ? "isError" : "ok"), `${t.record.name} ${args}: ${rawText(answer)}`).not.toBe("ok");
      }
    }
  });

  it("afterwards: alive, stream clean, no prototype was polluted", async () => {
    // Had any __proto__/constructor payload polluted Object.prototype in the server, a missing required
    // field would suddenly be "present" — it must still be refused by name, and nothing sent.
    for (const [name, field] of [["billing_status_get", "organization_id"], ["billing_topup", "credits"], ["billing_approvals_get", "approval_id"]] as const) {
      const before = api.requests.length;
      const r = await s.call(name, {});
      expect(r.result?.isError).toBe(true);
      expect(rawText(r)).toContain(field);
      expect(api.requests.length).toBe(before);
    }
    const ok = await s.call("billing_credits_transactions", { limit: 2 });
    expect(ok.result?.isError).toBeFalsy();
    expect(JSON.stringify(ok.result)).not.toMatch(/polluted|__proto__/);
    expect(s.alive()).toBe(true);
    expect(s.badLines).toEqual([]);
    for (const line of s.stderr().trim().split("\n").filter(Boolean)) expect(() => JSON.parse(line), line.slice(0, 300)).not.toThrow();
    expect(api.charges()).toEqual([]);
    expect(tried).toBeGreaterThanOrEqual(3_000 * RUNS);
  });
});
