// The confirmation card as one HTML document: markup with no data in it, one style block, one script
// (src/card/script.ts). Its own Content-Security-Policy allows exactly that style and that script (by
// hash) and nothing else: no network, no images, no frames, no forms — on top of whatever the host adds
// from the resource's declared `_meta.ui.csp` (no domains at all).
// Colours follow the host: its theme ("light"/"dark" in the host context, else the system's), and its
// style variables where it sends them (--color-*, --font-*), each with a legible fallback.
import { createHash } from "node:crypto";
import { CARD_SCRIPT } from "./script.js";

const STYLE = `
:root{color-scheme:light;--bg:var(--color-background-primary,#ffffff);--fg:var(--color-text-primary,#1b1f24);--muted:var(--color-text-secondary,#4f5866);--line:var(--color-border-primary,#d8dce1);--what:var(--color-background-warning,#fff7e6);--what-line:var(--color-border-warning,#b7791f);--good:var(--color-text-success,#166534);--bad:var(--color-text-danger,#b42318);--accent:#1d4ed8;--accent-fg:#ffffff}
@media (prefers-color-scheme:dark){:root:not([data-theme=light]){color-scheme:dark;--bg:var(--color-background-primary,#17191c);--fg:var(--color-text-primary,#eceef1);--muted:var(--color-text-secondary,#b4bac4);--line:var(--color-border-primary,#3a3f47);--what:var(--color-background-warning,#3a2c10);--what-line:var(--color-border-warning,#d69e2e);--good:var(--color-text-success,#86efac);--bad:var(--color-text-danger,#fca5a5);--accent:#93c5fd;--accent-fg:#0b1220}}
:root[data-theme=dark]{color-scheme:dark;--bg:var(--color-background-primary,#17191c);--fg:var(--color-text-primary,#eceef1);--muted:var(--color-text-secondary,#b4bac4);--line:var(--color-border-primary,#3a3f47);--what:var(--color-background-warning,#3a2c10);--what-line:var(--color-border-warning,#d69e2e);--good:var(--color-text-success,#86efac);--bad:var(--color-text-danger,#fca5a5);--accent:#93c5fd;--accent-fg:#0b1220}
html,body{margin:0;background:var(--bg);color:var(--fg)}
body{font:15px/1.5 var(--font-sans,system-ui,-apple-system,"Segoe UI",sans-serif);padding:16px 18px}
h1{font-size:17px;margin:0 0 2px}h2{font-size:16px;margin:0 0 6px}.sub{color:var(--muted);margin:0 0 12px;font-size:13px}
.what{font-weight:600;background:var(--what);border:1px solid var(--what-line);border-radius:8px;padding:10px 12px;margin:0 0 10px}
table{width:100%;border-collapse:collapse;margin:8px 0}th,td{text-align:left;padding:4px 0;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;width:42%;padding-right:10px}th.head{color:var(--fg);font-weight:600;padding-top:10px}
td{font-family:var(--font-mono,ui-monospace,Menlo,monospace);font-size:13px;word-break:break-word;white-space:pre-wrap}
#state{font-weight:600;margin:8px 0}
.buttons{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0 4px}
button{font:inherit;padding:8px 14px;border-radius:8px;border:1px solid var(--line);background:var(--bg);color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-fg);font-weight:600}
button:disabled{opacity:.55;cursor:not-allowed}button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
#link{font-family:var(--font-mono,ui-monospace,Menlo,monospace);font-size:12px;color:var(--muted);word-break:break-all;margin:4px 0}
#status{min-height:1.5em;margin:6px 0 0}#status.good{color:var(--good)}#status.bad{color:var(--bad)}
.outcome{border:1px solid var(--line);border-radius:8px;padding:10px 12px;margin-top:10px}.outcome.good h2{color:var(--good)}.outcome.bad h2{color:var(--bad)}
.note{color:var(--muted);font-size:12px;margin:10px 0 0}`;

const BODY = `<main aria-labelledby="title">
<h1 id="title">A charge is waiting for a person</h1>
<p class="sub">Geopera billing · nothing is charged unless a person confirms on the confirmation page</p>
<p id="waiting">Waiting for the tool's result…</p>
<section id="record" hidden aria-label="The server's record of this charge">
<p class="what" id="summary"></p>
<table id="facts"></table>
<p id="state" role="status" aria-live="polite"></p>
<div class="buttons">
<button id="open" type="button" class="primary">Open the confirmation page</button>
<button id="complete" type="button" aria-describedby="complete-why">Complete the purchase</button>
</div>
<p id="complete-why" class="note">"Complete the purchase" works only after a person pressed "Confirm and charge" on the page; it then charges once.</p>
<p id="link"></p>
</section>
<p id="status" role="status" aria-live="polite"></p>
<div id="outcome" hidden></div>
<p class="note">This card only shows the server's record. A person decides on the confirmation page, never here.</p>
</main>`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** The card's own policy: its one style block and one script, nothing else. */
export const CARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(CARD_SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "img-src 'none'",
  "connect-src 'none'",
  "font-src 'none'",
  "frame-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
].join("; ");

export const CARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CARD_CSP}">
<title>Confirm a charge — Geopera billing</title>
<style>${STYLE}</style></head>
<body>${BODY}<script>${CARD_SCRIPT}</script></body></html>
`;
