// A confirmation is bound to one exact call: tool, canonical arguments, and caller fingerprint.
// Canonical JSON sorts object keys so {a,b} and {b,a} are the same call.
import { createHash } from "node:crypto";

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

export function callDigest(tool: string, args: Record<string, unknown>, callerFingerprint: string): string {
  return createHash("sha256").update(`${tool}\n${canonicalJson(args)}\n${callerFingerprint}`).digest("hex");
}
