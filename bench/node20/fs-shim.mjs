// fs as Node 20 has it, plus a globSync stub. The conformance CLI imports fs.globSync (Node ≥ 22) at load
// time but only calls it in `tier-check`, which the bench never runs.
export * from "node:fs";
import fs from "node:fs";
export default fs;
export function globSync() {
  throw new Error("fs.globSync needs Node 22 or newer");
}
