// Secrets never leave the process: every value that may reach a log, an error, a tool result, the journal
// or the audit passes through here. Known secrets are replaced verbatim; anything shaped like a Geopera
// credential or a bearer header is replaced too, in case the API echoes one we were never told about.
//
// Redaction works on VALUES, never on serialised JSON: `redactValue` walks a value and redacts each
// string (and each object key) on its own, and only then is the result serialised. A pattern run over
// JSON text can swallow an escape character (`Bearer \"x` → `Bearer [REDACTED]` eats the backslash) and
// leave text that is no longer JSON; a pattern run over a plain string can only change that string.
const CREDENTIAL = /\b(gpra|gpst)_[A-Za-z0-9_\-.]+/g;
/** "Bearer" and the whitespace after it; the token that follows is redacted by redactBearers. */
const BEARER_WORD = /bearer\s+/gi;
/** A bearer token: up to whitespace, a quote, a comma or a semicolon (sticky: read at one position). */
const BEARER_TOKEN = /[^\s"',;]+/y;
/**
 * A superset of what CREDENTIAL and the bearer rule can match (either needs "gpra_"/"gpst_" or, in any case,
 * "bearer" somewhere): text without it cannot change under the two replaces, so they are skipped.
 */
const MAYBE = /gp(?:ra|st)_|bearer/i;

export const REDACTED = "[REDACTED]";

/** One plain string (a message, a log text, a single value) with secrets replaced. Not for JSON text: use redactValue. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s && out.includes(s)) out = out.split(s).join(REDACTED);
  if (!MAYBE.test(out)) return out;
  return redactBearers(out.replace(CREDENTIAL, REDACTED));
}

/**
 * Replaces the token after every "Bearer " with REDACTED. The token itself may end in "bearer" and be
 * followed by another ("Bearer Bearer tok", "Bearer \\Bearer tok"): a single regex replace resumes after
 * the first token and leaves `tok` in clear, so the search resumes at the start of each token instead.
 * Linear: each character is scanned at most twice.
 */
function redactBearers(text: string): string {
  let out = "";
  let copied = 0;
  BEARER_WORD.lastIndex = 0;
  for (let m = BEARER_WORD.exec(text); m; m = BEARER_WORD.exec(text)) {
    const start = m.index + m[0].length;
    BEARER_TOKEN.lastIndex = start;
    const token = BEARER_TOKEN.exec(text);
    if (!token) continue;
    out += text.slice(copied, start) + REDACTED;
    copied = start + token[0].length;
    BEARER_WORD.lastIndex = start;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Whether redaction would change this string at all (the fast path of redactValue). */
function needsRedaction(s: string, secrets: readonly string[]): boolean {
  if (MAYBE.test(s)) return true;
  for (const x of secrets) if (x && s.includes(x)) return true;
  return false;
}

/** Defines an own property even for the key "__proto__" (plain assignment would set the prototype). */
function put(out: Record<string, unknown>, key: string, v: unknown): void {
  if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  else out[key] = v;
}

/**
 * The value with every string in it — nested values and object keys alike — redacted, as a value to be
 * serialised afterwards. Returns the very same value (no copy) when nothing in it needs redaction;
 * otherwise copies only along the paths that change. Non-JSON leaves (undefined, functions) are kept.
 */
export function redactValue<T>(value: T, secrets: readonly string[] = []): T {
  if (typeof value === "string") return (needsRedaction(value, secrets) ? redact(value, secrets) : value) as T;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i] as unknown;
      const r = redactValue(v, secrets);
      if (r !== v && !out) out = value.slice(0, i);
      if (out) out.push(r);
    }
    return (out ?? value) as T;
  }
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  const src = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  const keys = Object.keys(src);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = src[k];
    const rk = needsRedaction(k, secrets) ? redact(k, secrets) : k;
    const rv = redactValue(v, secrets);
    if ((rk !== k || rv !== v) && !out) {
      out = {};
      for (let j = 0; j < i; j++) put(out, keys[j]!, src[keys[j]!]);
    }
    if (out) put(out, rk, rv);
  }
  return (out ?? value) as T;
}

/** JSON text of the redacted value: the only way redacted JSON is made. */
export function redactedJson(value: unknown, secrets: readonly string[] = []): string {
  return JSON.stringify(redactValue(value, secrets));
}
