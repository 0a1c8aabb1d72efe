// The SDK's request schema silently drops an own "__proto__" key from tool arguments before our strict
// schemas see it; we refuse it instead, on every transport, so unknown keys are never silently dropped.
/**
 * For any transport that sees the raw JSON: a tools/call whose arguments have an own "__proto__" key
 * (JSON.parse makes it a plain own property; zod's record parsing then drops it without a word).
 * Returns the error text, or undefined when the message is fine.
 */
export function protoKeyProblem(message: unknown): string | undefined {
  const m = message as { method?: unknown; params?: { name?: unknown; arguments?: unknown } } | null;
  if (m?.method !== "tools/call") return undefined;
  const args = m.params?.arguments;
  if (typeof args !== "object" || args === null || !Object.prototype.hasOwnProperty.call(args, "__proto__")) return undefined;
  const tool = typeof m.params?.name === "string" ? m.params.name : "?";
  return `Invalid params: Unrecognized key: "__proto__" in the arguments for tool ${tool}; unknown keys are refused, not dropped.`;
}
