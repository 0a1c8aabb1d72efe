// `npm run bench` exits 1 when a goal fails, 0 when none does or with --report-only (bench/lib/goals.ts);
// a goal that could not be measured is reported, not failed. The bench itself is too long for npm test.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { verdict, type Goal } from "../bench/lib/goals.js";

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
