// The one decision of which tools are exposed. Order: read-only first (it wins over any list),
// then the operator's allowlist. Nothing a client sends can widen this.
import type { ToolRecord } from "./record.js";

export interface ExposurePolicy {
  readOnly: boolean;
  tools?: readonly string[];
}

export function selectTools(catalog: readonly ToolRecord[], policy: ExposurePolicy): ToolRecord[] {
  const allow = policy.tools ? new Set(policy.tools) : undefined;
  if (allow) {
    const unknown = [...allow].filter((n) => !catalog.some((r) => r.name === n));
    if (unknown.length) throw new Error(`unknown tool name(s): ${unknown.join(", ")}`);
  }
  return catalog.filter((r) => (!policy.readOnly || r.sideEffect === "read") && (!allow || allow.has(r.name)));
}
