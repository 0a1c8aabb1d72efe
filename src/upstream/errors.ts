// Network failures in plain words: what failed, and where (the API's origin, never a credential).
export function describeNetworkError(err: unknown, baseUrl: string): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? "";
  const where = new URL(baseUrl).origin;
  if (e?.name === "TimeoutError") return `the billing API at ${where} did not finish answering within the total time limit.`;
  if (e?.name === "AbortError") return "the call was cancelled before the API answered.";
  switch (code) {
    case "ECONNREFUSED":
      return `could not connect to the billing API at ${where} (connection refused).`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `could not resolve the billing API host ${where}.`;
    case "UND_ERR_CONNECT_TIMEOUT":
      return `connecting to the billing API at ${where} timed out.`;
    case "UND_ERR_HEADERS_TIMEOUT":
      return `the billing API at ${where} accepted the request but did not start answering in time.`;
    case "UND_ERR_BODY_TIMEOUT":
      return `the billing API at ${where} stopped sending its answer part-way.`;
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return `the connection to the billing API at ${where} was reset before it answered.`;
    default:
      return `the request to the billing API at ${where} failed (${code || e?.message || "unknown error"}).`;
  }
}
