// Secrets never leave the process: every string that may reach a log, an error, a tool result or the
// audit file passes through here. Known secrets are replaced verbatim; anything shaped like a Geopera
// credential or a bearer header is replaced too, in case the API echoes one we were never told about.
const CREDENTIAL = /\b(gpra|gpst)_[A-Za-z0-9_\-.]+/g;
const BEARER = /(Bearer\s+)[^\s"',;]+/gi;

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("[REDACTED]");
  return out.replace(CREDENTIAL, "[REDACTED]").replace(BEARER, "$1[REDACTED]");
}
