// tools/list is a contract with every agent: any change to a name, schema, hint or description shows up
// here as a diff. Update deliberately with `npx vitest run test/snapshot.test.ts -u` and review the diff.
import { it, expect } from "vitest";
import { CATALOG } from "../src/tools/catalog.js";
import { toolList } from "../src/tools/list.js";

it("tools/list matches the reviewed snapshot", async () => {
  await expect(JSON.stringify(toolList(CATALOG), null, 2) + "\n").toMatchFileSnapshot("__snapshots__/tools-list.json");
});

it("no tool's input schema is a top-level union (several clients cannot render one)", () => {
  for (const t of toolList(CATALOG)) {
    expect(t.inputSchema.type, t.name).toBe("object");
    for (const key of ["anyOf", "oneOf", "allOf"]) expect(t.inputSchema, `${t.name} ${key}`).not.toHaveProperty(key);
  }
});
