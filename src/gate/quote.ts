// Text that an agent or the API sent, made fit to show a person who is deciding about money.
// Whatever the value holds, it becomes ONE line of plain, visible characters, bounded in length, with
// secrets redacted; `quoted` also wraps it in “…” so that only the server's own words stay outside
// quotes. Without this an argument could add lines of its own ("What the billing API says: … This is a
// dry run."), push the real figures down with blank lines, or reorder what is read with bidi controls.
import { redact, redactValue } from "../redact.js";

/** How many characters of one value are shown (after making invisible characters visible). */
export const MAX_SHOWN = 240;
/** What a line break inside a value is shown as. */
export const NEWLINE_MARK = "⏎";
export const OPEN_QUOTE = "“";
export const CLOSE_QUOTE = "”";

/** Line and paragraph breaks of every kind (a CR LF pair is shown as one, see pieces). */
const LINE_BREAK = /^[\n\r\v\f\u0085\u2028\u2029]$/;
/**
 * Characters a person cannot see or that change how the text around them is shown: controls (Cc),
 * format characters (Cf: bidi embeddings, overrides and isolates U+202A-202E and U+2066-2069, marks
 * U+200E/U+200F, zero-width U+200B-U+200D, U+FEFF), lone surrogates (Cs) and the line/paragraph separators.
 */
const INVISIBLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]$/u;

/** `[U+202E]`: an invisible character, made visible so a person sees that it was there. */
const visible = (ch: string) => `[U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`;

/** One value as text: strings as they are, anything else as JSON; secrets redacted on the value. */
function asText(value: unknown, secrets: readonly string[]): string {
  if (typeof value === "string") return redact(value, secrets);
  return JSON.stringify(redactValue(value, secrets)) ?? String(value);
}

/**
 * The pieces a value is shown as, one per character (so the cap never cuts a piece in two). With
 * `escapeQuotes`, “ ” and \ are escaped, so a value cannot close the quotes it is shown in.
 */
function* pieces(text: string, escapeQuotes: boolean): Generator<string> {
  const chars = [...text]; // by code point; a lone surrogate is one element
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "\r" && chars[i + 1] === "\n") {
      i++;
      yield NEWLINE_MARK;
    } else if (LINE_BREAK.test(ch)) yield NEWLINE_MARK;
    else if (ch === "\t") yield " ";
    else if (INVISIBLE.test(ch)) yield visible(ch);
    else if (escapeQuotes && (ch === OPEN_QUOTE || ch === CLOSE_QUOTE || ch === "\\")) yield `\\${ch}`;
    else yield ch;
  }
}

function shown(value: unknown, secrets: readonly string[], max: number, escapeQuotes: boolean): string {
  let out = "";
  for (const p of pieces(asText(value, secrets), escapeQuotes)) {
    if (out.length + p.length > max) return `${out}…`;
    out += p;
  }
  return out;
}

/** The value as one line of visible text, at most `max` characters and "…", secrets redacted. Not quoted. */
export function oneLine(value: unknown, secrets: readonly string[] = [], max = MAX_SHOWN): string {
  return shown(value, secrets, max, false);
}

/** The value as quoted data on one line: “…”, with “ ” and \ inside escaped; see oneLine. */
export function quoted(value: unknown, secrets: readonly string[] = [], max = MAX_SHOWN): string {
  return `${OPEN_QUOTE}${shown(value, secrets, max, true)}${CLOSE_QUOTE}`;
}
