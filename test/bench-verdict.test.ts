// `npm run bench` exits 1 when a goal fails, 0 when none does or with --report-only (bench/lib/goals.ts);
// a goal that could not be measured is reported, not failed. The bench itself is too long for npm test.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NOT_SERVED, modernGoals, verdict, type Goal, type ModernFigures } from "../bench/lib/goals.js";

const goal = fc.record({ goal: fc.stringMatching(/^[a-z][a-z ]{0,20}$/), measured: fc.string({ maxLength: 10 }), pass: fc.constantFrom(true, false, undefined) });

describe("bench verdict", () => {
  it("exit 1 exactly when a goal failed and --report-only is off; the line names every failed goal (generated goal lists)", () => {
    fc.assert(
      fc.property(fc.array(goal, { maxLength: 12 }), fc.boolean(), (goals: Goal[], reportOnly) => {
        const v = verdict(goals, reportOnly);
        const failed = goals.filter((g) => g.pass === false);
        expect(v.code).toBe(failed.length > 0 && !reportOnly ? 1 : 0);
        expect(v.line).toContain(`${goals.filter((g) => g.pass === true).length}/${goals.length} goals met`);
        for (const f of failed) expect(v.line).toContain(f.goal);
        if (failed.length && reportOnly) expect(v.line).toContain("--report-only: exit 0");
        if (failed.length && !reportOnly) expect(v.line).toContain("--report-only to only report");
      }),
      { numRuns: 200 },
    );
  });

  it("a goal that was not measured fails nothing", () => {
    expect(verdict([{ goal: "a", measured: "", pass: undefined }, { goal: "b", measured: "", pass: true }], false)).toEqual({ code: 0, line: "bench: 1/2 goals met; 1 not measured" });
  });

  it("bench/run.ts takes --report-only and exits with the verdict's code", () => {
    const src = readFileSync(join(import.meta.dirname, "..", "bench", "run.ts"), "utf8");
    expect(src).toContain(`"report-only": { type: "boolean", default: false }`);
    expect(src).toMatch(/verdict\(goals, opt\["report-only"\]!\)/);
    expect(src).toMatch(/main\(\)\.then\(\s*\(code\) => process\.exit\(code\)/);
  });
});

// The 2026-07-28 path's goals against the thin v2 baseline (issue 13): stdio p50 ≤ 1.15×, stateless HTTP
// calls/s ≥ 1.0×, cold start ≤ 1.2×; n/a (never failed) on a transport where ours does not serve 2026-07-28.
describe("bench goals on the 2026-07-28 path", () => {
  const figures = (ours: { p50: number; cps: number; cold: number }, served = { stdio: true, http: true }): ModernFigures => ({
    callers: 64,
    served,
    p50: { baseline: 100, ours: ours.p50 },
    callsPerSec: { baseline: 100, ours: ours.cps },
    coldMs: { baseline: 100, ours: ours.cold },
  });
  const passes = (goals: Goal[]) => goals.map((g) => g.pass);

  it("the three goals, each at its bound: at the bound passes, past it fails", () => {
    const at = modernGoals(figures({ p50: 115, cps: 100, cold: 120 }));
    expect(at.map((g) => g.goal)).toEqual(["2026-07-28: stdio p50 ≤ 1.15× baseline v2", "2026-07-28: stateless HTTP calls/s ≥ 1.0× baseline v2 (64 callers)", "2026-07-28: cold start ≤ 1.2× baseline v2"]);
    expect(passes(at)).toEqual([true, true, true]);
    expect(passes(modernGoals(figures({ p50: 116, cps: 99, cold: 121 })))).toEqual([false, false, false]);
    expect(at[1]!.measured).toBe("100 vs 100 calls/s = 1.00×");
  });

  it("not served on a transport: its goals are n/a with the reason, never a failure (stdio also carries cold start)", () => {
    const worst = { p50: 1_000, cps: 1, cold: 1_000 };
    const none = modernGoals(figures(worst, { stdio: false, http: false }));
    expect(none.every((g) => g.pass === undefined && g.measured === NOT_SERVED)).toBe(true);
    expect(verdict(none, false).code).toBe(0);
    expect(passes(modernGoals(figures(worst, { stdio: false, http: true })))).toEqual([undefined, false, undefined]);
    expect(passes(modernGoals(figures(worst, { stdio: true, http: false })))).toEqual([false, undefined, false]);
  });

  it("a served transport with a missing figure is n/a, not a pass (generated figures)", () => {
    const fig = fc.option(fc.double({ min: 0.001, max: 1e6, noNaN: true }), { nil: undefined });
    fc.assert(
      fc.property(fig, fig, fig, fig, fig, fig, (bp, op, bc, oc, bs, os) => {
        const goals = modernGoals({ callers: 64, served: { stdio: true, http: true }, p50: { baseline: bp, ours: op }, callsPerSec: { baseline: bc, ours: oc }, coldMs: { baseline: bs, ours: os } });
        const expectPass = (a: number | undefined, b: number | undefined, ok: (r: number) => boolean) => (a === undefined || b === undefined ? undefined : ok(a / b));
        expect(passes(goals)).toEqual([expectPass(op, bp, (r) => r <= 1.15), expectPass(oc, bc, (r) => r >= 1), expectPass(os, bs, (r) => r <= 1.2)]);
      }),
      { numRuns: 200 },
    );
  });

  it("bench/run.ts adds these goals to the same verdict", () => {
    const src = readFileSync(join(import.meta.dirname, "..", "bench", "run.ts"), "utf8");
    expect(src).toMatch(/goals\.push\(\s*\.\.\.modernGoals\(/);
    expect(src.indexOf("modernGoals(")).toBeLessThan(src.indexOf("verdict(goals"));
  });
});
