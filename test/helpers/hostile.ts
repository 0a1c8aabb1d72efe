// Strings an agent or an API may send to break stored or returned text: JSON's own quote and backslash,
// escape look-alikes (`\u0022` as six characters), line and paragraph separators, NUL, lone surrogates,
// bidi controls, `__proto__`, and credential-shaped tokens (`gpra_…`, `gpst_…`, `Bearer …`). Each
// generated credential token is returned as a needle, so a test can check it appears nowhere outbound.
import fc from "fast-check";

export interface Hostile {
  text: string;
  /** The credential tokens inside `text` (each one is redacted wherever it goes). */
  needles: string[];
}

/** Long enough never to occur by chance in anything else the server writes. */
const token = fc.stringMatching(/^[A-Za-z0-9]{12,16}$/);
/**
 * What comes before a credential: never a word character, so the token starts a word (a `gpra_` glued to
 * the end of another word is, by design, not redacted: it is not a credential of ours), and never `.`/`-`/`_`.
 */
const before = fc.constantFrom(" ", '"', "\n", "\\", "\u2028", "'", "\0", "=", "(", "\u00a0");

const plain = (text: string): Hostile => ({ text, needles: [] });

const credential = fc
  .tuple(before, fc.constantFrom("gpra", "gpst"), token)
  .map(([b, p, t]): Hostile => ({ text: `${b}${p}_${t}`, needles: [`${p}_${t}`] }));
const bearer = fc
  .tuple(before, fc.constantFrom("Bearer ", "bearer\t", "BEARER  ", "Bearer\u2028"), token)
  .map(([b, w, t]): Hostile => ({ text: `${b}${w}${t}`, needles: [t] }));

const SHARP = [
  '"', "\\", '\\"', "\\u0022", "\\\\u0022", "\\n", "\u2028", "\u2029", "\0", "\ud800", "\udc00", "\udfff\ud800",
  "\ud83d\ude00", "Bearer ", 'Bearer "x', "Bearer \\", "gpra_", "gpst_", "{", "}", "[", "]", ",", ":", "\n", "\r",
  "\t", "\u202e", "\u200b", "\ufeff", "__proto__", "constructor", "é", "x", " ",
];

const fragment: fc.Arbitrary<Hostile> = fc.oneof(
  { arbitrary: fc.constantFrom(...SHARP).map(plain), weight: 4 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 6 }).map(plain), weight: 2 },
  { arbitrary: fc.string({ unit: "binary-ascii", maxLength: 6 }).map(plain), weight: 1 },
  { arbitrary: credential, weight: 2 },
  { arbitrary: bearer, weight: 1 },
);

/** A hostile string of at most `max` UTF-16 units (cut where it falls: a surrogate pair may be split). */
export function hostile(max = 200, min = 0): fc.Arbitrary<Hostile> {
  return fc.array(fragment, { maxLength: 8 }).map((fs) => {
    let text = fs.map((f) => f.text).join("").slice(0, max);
    if (text.length < min) text += "x".repeat(min - text.length);
    // A needle cut off by the slice is not in the text whole, so it cannot be found whole either.
    return { text, needles: fs.flatMap((f) => f.needles) };
  });
}

/** Matches a Geopera credential the way src/redact.ts does. */
export const CREDENTIAL = /\b(gpra|gpst)_[A-Za-z0-9_\-.]+/;
