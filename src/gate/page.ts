// The confirmation page a person reads before money moves: plain HTML, every value escaped, no script.
import type { Confirmation } from "../store/types.js";

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;background:#f6f7f9;color:#1b1f24;margin:0}
main{max-width:560px;margin:48px auto;background:#fff;border:1px solid #d8dce1;border-radius:10px;padding:28px 32px}
h1{font-size:20px;margin:0 0 4px}.sub{color:#5a6270;margin:0 0 20px}
.what{font-size:18px;font-weight:600;background:#fff7e6;border:1px solid #f0c36d;border-radius:8px;padding:12px 14px}
table{width:100%;border-collapse:collapse;margin:18px 0}th,td{text-align:left;padding:6px 0;border-bottom:1px solid #eef0f2;vertical-align:top}
th{color:#5a6270;font-weight:500;width:42%}th.head{color:#1b1f24;font-weight:600;padding-top:16px}td{font-family:ui-monospace,Menlo,monospace;word-break:break-all}
.buttons{display:flex;gap:12px;margin-top:22px}button{font:inherit;padding:10px 18px;border-radius:8px;border:1px solid #aab1bb;background:#fff;cursor:pointer}
button.yes{background:#b42318;border-color:#b42318;color:#fff;font-weight:600}.note{color:#5a6270;font-size:14px;margin-top:18px}`;

export function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

/** The passkey-bound variant's pieces: the assertion options, the script's address, the account page's. */
export interface PasskeyPagePart {
  optionsJson: string;
  scriptPath: string;
  accountPath: string;
  /** The account has no passkey: it can only decline here, or add one first. */
  none: boolean;
}

export function renderConfirmPage(c: Confirmation, now: number, passkey?: PasskeyPagePart): string {
  // A fact with no value is a heading (e.g. "What the billing API says").
  const rows = c.view.facts.map(([k, v]) => (v === "" ? `<tr><th colspan="2" class="head">${escapeHtml(k)}</th></tr>` : `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)).join("");
  const minutes = Math.max(1, Math.round((c.expiresAt - now) / 60_000));
  return layout(
    "Confirm a charge — Geopera billing",
    `<h1>An AI assistant wants to spend money</h1><p class="sub">Geopera billing · nothing is charged unless you confirm</p>
<div class="what">${escapeHtml(c.view.summary)}</div>
<table>${rows}</table>
<form method="post">
<input type="hidden" name="token" value="${escapeHtml(c.token)}">
<div class="buttons">${
      passkey
        ? passkey.none
          ? ""
          : `<button class="yes" type="button" id="confirm-button">Confirm with passkey and charge</button>`
        : `<button class="yes" type="submit" name="decision" value="confirm">Confirm and charge</button>`
    }
<button type="submit" name="decision" value="decline">Decline</button></div></form>
${
      passkey
        ? `<p class="what" id="passkey-problem"${passkey.none ? "" : " hidden"}>${passkey.none ? `No passkey is registered for this key: add one on <a href="${escapeHtml(passkey.accountPath)}">your account page</a>, then reload this page.` : ""}</p>
<p class="note">Confirming asks for the passkey you made when you connected the app (fingerprint, face or device PIN). The app cannot do this for you.</p><script type="application/json" id="passkey-assertion">${passkey.optionsJson}</script><script src="${escapeHtml(passkey.scriptPath)}" defer></script>`
        : ""
    }
<p class="note">This request expires in about ${minutes} minute(s) and can be used once. After you confirm, go back to your assistant: it completes this exact charge and nothing else.</p>`,
  );
}

export function renderOutcomePage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}
