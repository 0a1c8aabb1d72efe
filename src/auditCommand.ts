// `geopera-billing-mcp audit verify [file]`: checks the audit chain; exit 0 when whole, 1 at the first break.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { verifyAuditFile } from "./gate/audit.js";

export function auditVerify(file: string | undefined, stateDir: string, out: (line: string) => void): number {
  const path = file ?? join(stateDir, "audit.jsonl");
  if (!existsSync(path)) {
    out(`audit verify: no audit file at ${path}`);
    return 2;
  }
  const r = verifyAuditFile(path);
  if (r.ok) {
    out(`audit verify: OK, ${r.lines} line(s) in ${path}, chain intact`);
    return 0;
  }
  out(`audit verify: BROKEN at line ${r.line} of ${path}: ${r.reason}`);
  return 1;
}
