// A browser form's body (application/x-www-form-urlencoded), read whole up to a bound: the confirmation page
// and the sign-in page post a few short fields, so anything longer is refused before it is parsed.
import type { IncomingMessage } from "node:http";

/** The posted fields, or undefined when the body is longer than `maxBytes` characters. */
export async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams | undefined> {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > maxBytes) return undefined;
  }
  return new URLSearchParams(body);
}
