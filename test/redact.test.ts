// redactValue, the one place outbound values are redacted (before they are serialised), as a unit.
// Properties over generated JSON values whose strings and keys are hostile (see helpers/hostile.ts).
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { redact, redactValue, redactedJson, REDACTED } from "../src/redact.js";
import { hostile, CREDENTIAL } from "./helpers/hostile.js";

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const RUNS = 300 * Number(process.env.FUZZ_RUNS ?? 1);
/** A secret of no known shape (a session token, say), hidden verbatim. */
const SECRET = "s3ss10n-T0KEN-42";

/** An own enumerable property, even for "__proto__". */
function own(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

interface Gen {
  value: unknown;
  needles: string[];
}

const str = fc.oneof(hostile(40), hostile(40).map((h) => ({ text: h.text + SECRET, needles: h.needles })), fc.constant({ text: "__proto__", needles: [] }));
const { json } = fc.letrec<{ json: Gen }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small" },
    str.map((h): Gen => ({ value: h.text, needles: h.needles })),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)).map((v): Gen => ({ value: v, needles: [] })),
    fc.array(tie("json"), { maxLength: 4 }).map((xs): Gen => ({ value: xs.map((x) => x.value), needles: xs.flatMap((x) => x.needles) })),
    fc.array(fc.tuple(str, tie("json")), { maxLength: 4 }).map((es): Gen => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of es) own(o, k.text, v.value);
      return { value: o, needles: es.flatMap(([k, v]) => [...k.needles, ...v.needles]) };
    }),
  ),
}));

/** The obvious redaction, for comparison: a fresh copy with every string and key put through redact(). */
function naive(v: unknown): unknown {
  if (typeof v === "string") return redact(v, [SECRET]);
  if (Array.isArray(v)) return v.map(naive);
  if (v === null || typeof v !== "object") return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) own(o, redact(k, [SECRET]), naive(x));
  return o;
}

/** Whether any string or key in v would change under redaction. */
function dirty(v: unknown): boolean {
  if (typeof v === "string") return redact(v, [SECRET]) !== v;
  if (v === null || typeof v !== "object") return false;
  return Object.entries(v).some(([k, x]) => redact(k, [SECRET]) !== k || dirty(x));
}

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(k), strings(x, out);
  return out;
}

describe("redactValue", () => {
  it(`any JSON value with hostile strings and keys: the JSON of the result parses, holds no credential or secret, equals the naive copy; unchanged input comes back as is (${RUNS} values)`, () => {
    fc.assert(
      fc.property(json, ({ value, needles }) => {
        const before = JSON.stringify(value);
        const out = redactValue(value, [SECRET]);
        const text = redactedJson(value, [SECRET]);
        expect(JSON.stringify(value)).toBe(before); // the input is never edited
        expect(text).toBe(JSON.stringify(out));
        const back = JSON.parse(text) as unknown;
        expect(back).toEqual(JSON.parse(JSON.stringify(naive(value))));
        expect(text).not.toContain(SECRET);
        for (const n of needles) expect(text).not.toContain(n);
        for (const s of strings(back)) expect(s).not.toMatch(CREDENTIAL);
        if (!dirty(value)) {
          expect(out).toBe(value); // no copy at all
          expect(text).toBe(before);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("keeps `__proto__` as an own key (never the prototype), also in a copy made because something changed", () => {
    const input = JSON.parse('{"__proto__":{"polluted":"gpra_abcdefgh"},"a":"Bearer tok_123"}') as Record<string, unknown>;
    const out = redactValue(input);
    expect(out).not.toBe(input);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(out))).toEqual(JSON.parse(`{"__proto__":{"polluted":"${REDACTED}"},"a":"Bearer ${REDACTED}"}`));
  });

  it('the issue\'s example: `Bearer "x` stays valid JSON as a value, where redacting its JSON text ate the escape', () => {
    const v = { description: 'Bearer "x' };
    expect(() => JSON.parse(redact(JSON.stringify(v)))).toThrow(); // the old way, for the record
    expect(JSON.parse(redactedJson(v))).toEqual(v); // a quote is not a token: nothing to redact
    expect(JSON.parse(redactedJson({ d: 'Bearer \\"x' }))).toEqual({ d: `Bearer ${REDACTED}"x` });
  });

  it("a bearer token whose own text ends in \"Bearer\" does not shield the token after it (found by the property above)", () => {
    expect(redact("Bearer Bearer tok123")).toBe(`Bearer ${REDACTED} ${REDACTED}`);
    expect(redact("Bearer \\Bearer tok123")).toBe(`Bearer ${REDACTED} ${REDACTED}`);
    expect(redact("x: bearer  abc, y")).toBe(`x: bearer  ${REDACTED}, y`);
    expect(redact("Bearer")).toBe("Bearer");
  });
});
