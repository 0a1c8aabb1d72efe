/**
 * Maps both URL forms to an operation id: /v1/op/billing.topup and
 * /v1/billing/topup (segments joined by dots). Returns undefined for paths
 * outside the operation namespace.
 */
export function operationIdForPath(pathname: string): string | undefined {
  const trimmed = pathname.replace(/\/+$/, "");
  if (!trimmed.startsWith("/v1/")) return undefined;
  let segments: string[];
  try {
    segments = trimmed.slice("/v1/".length).split("/").map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (segments.some((s) => s === "")) return undefined;
  if (segments[0] === "op") return segments.length === 2 ? segments[1] : undefined;
  return segments.length >= 2 ? segments.join(".") : undefined;
}
