// Secrets never leave the process: every string that may reach a log, an error, a tool result or the
// audit file passes through here. Known secrets are replaced verbatim; anything shaped like a Geopera
// credential or a bearer header is replaced too, in case the API echoes one we were never told about.
const CREDENTIAL = /\b(gpra|gpst)_[A-Za-z0-9_\-.]+/g;
const BEARER = /(Bearer\s+)[^\s"',;]+/gi;
/**
 * A superset of what CREDENTIAL and BEARER can match (either needs "gpra_"/"gpst_" or, in any case,
 * "bearer" somewhere): text without it cannot change under the two replaces, so they are skipped.
 */
const MAYBE = /gp(?:ra|st)_|bearer/i;

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s && out.includes(s)) out = out.split(s).join("[REDACTED]");
  if (!MAYBE.test(out)) return out;
  return out.replace(CREDENTIAL, "[REDACTED]").replace(BEARER, "$1[REDACTED]");
}
