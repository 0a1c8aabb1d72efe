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
    // CI runs it once per runtime (`suite "node $v" npm test`): a line, not a comment, that ends with it.
    expect(readFileSync(join(root, ".ci", "run"), "utf8")).toMatch(/^[^#\n]*\bnpm test$/m);
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain("--sandbox");
  });

  it("names the runtimes CI covers: the engines floor and each Node line .ci/run installs", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
    const floor = /^>=(\d+)$/.exec(pkg.engines.node)![1]!;
    const extra = /^for major in ([\d ]+); do$/m.exec(readFileSync(join(root, ".ci", "run"), "utf8"))![1]!.split(" ");
    const all = [floor, ...extra];
    const listed = `Node ${all.slice(0, -1).join(", ")} and ${all.at(-1)}`;
    expect(readme).toContain(`CI runs the whole suite on ${listed}`);
    expect(readme).toContain(`Runtimes CI covers: ${listed}`);
  });
});
