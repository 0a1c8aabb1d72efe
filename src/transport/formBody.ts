// A browser form's body, read whole up to a bound: the confirmation page and the sign-in pages post a few
// short fields (or, from the passkey script, a small JSON object), so anything longer is refused unparsed.
import type { IncomingMessage } from "node:http";

/** The body as text, or undefined when it is longer than `maxBytes` characters. */
export async function readBodyText(req: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > maxBytes) return undefined;
  }
  return body;
}

/** The posted fields (application/x-www-form-urlencoded), or undefined when the body is too long. */
export async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams | undefined> {
  const body = await readBodyText(req, maxBytes);
  return body === undefined ? undefined : new URLSearchParams(body);
}
