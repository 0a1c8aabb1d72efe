// The response headers of our HTML pages (the confirmation page, the OAuth sign-in page, the passkey account
// page): never cached, never framed, no sniffing, and a strict Content-Security-Policy whose only variable
// parts are where forms may post and whether the page's script may call back to its own origin.
export function htmlPageHeaders(opts: { formAction: string; connectSelf?: boolean }): Readonly<Record<string, string>> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    // Not "no-referrer": with it, browsers send "Origin: null" on a form POST, which our Origin checks refuse.
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    // script-src 'self': the passkey script, served by this server (no inline script, no other origin).
    "content-security-policy": `default-src 'none'; script-src 'self';${opts.connectSelf ? " connect-src 'self';" : ""} style-src 'unsafe-inline'; form-action ${opts.formAction}; frame-ancestors 'none'; base-uri 'none'`,
  };
}
