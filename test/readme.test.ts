// The README's tool table and its two opening commands stay true to the code.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CATALOG } from "../src/tools/catalog.js";

const root = join(import.meta.dirname, "..");
const readme = readFileSync(join(root, "README.md"), "utf8");

describe("README", () => {
  it("lists every tool with its side-effect class and description, from the catalog", () => {
    const table = readme.split("<!-- tools:start -->")[1]!.split("<!-- tools:end -->")[0]!;
    const rows = table.trim().split("\n").slice(2);
    expect(rows).toEqual(CATALOG.map((r) => `| \`${r.name}\` | ${r.sideEffect} | ${r.description} |`));
  });

  it("starts with the install-and-run command and the test command that CI calls", () => {
    const firstBlock = readme.split("```")[1]!;
    expect(firstBlock).toContain("npm install && npm start");
    expect(firstBlock).toContain("npm test");
    expect(readFileSync(join(root, ".ci", "run"), "utf8")).toMatch(/^npm test\b/m);
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain("--sandbox");
  });
});
