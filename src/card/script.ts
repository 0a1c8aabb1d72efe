// The card's script, as the text the iframe runs (plain ES2020, no imports: nothing is fetched). It speaks
// the MCP Apps protocol (JSON-RPC 2.0 over postMessage with its host) by hand: ext-apps' own App class
// bundles to ~0.5 MB, and the card needs five messages of it. What it does:
//  - ui/initialize, then ui/notifications/initialized; the host context's theme and style variables apply.
//  - ui/notifications/tool-input gives the arguments of the call; ui/notifications/tool-result its result.
//  - A pending spend's result names its confirmation (_meta "com.geopera/confirmation"); the card reads the
//    server's record of it through the host (resources/read of geopera://confirmations/<id>) and shows it.
//  - "Open the confirmation page" asks the HOST to open the page (ui/open-link); the iframe never navigates.
//  - "Complete the purchase" is enabled only when the server's record says the person confirmed; it calls
//    the same tool with the same arguments through the host (tools/call). The server decides; the card
//    cannot confirm anything and never sees the page's form token.
//  - A host that does not proxy resources/read (no serverResources capability): the card shows the record
//    the result carried, and offers "Complete" once the page was opened — the server still decides.
// Every value is put into the page with textContent: nothing the server, the API or the agent sent is
// ever parsed as HTML.
export const CARD_SCRIPT = String.raw`"use strict";
(function () {
  var META_CONFIRMATION = "com.geopera/confirmation";
  var META_KEY = "com.geopera/idempotency_key";
  var POLL_MS = 1000;
  var REQUEST_TIMEOUT_MS = 60000;
  var nextId = 1;
  var waiting = {};
  var toolArgs = null;
  var pending = null;
  var record = null;
  var pollTimer = null;
  var busy = false;
  var canOpenLinks = false;
  var canReadResources = false;
  var opened = false;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function post(msg) { window.parent.postMessage(msg, "*"); }
  function notify(method, params) { post({ jsonrpc: "2.0", method: method, params: params || {} }); }
  function request(method, params) {
    var id = nextId++;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { delete waiting[id]; reject(new Error("the host did not answer " + method)); }, REQUEST_TIMEOUT_MS);
      waiting[id] = function (msg) {
        clearTimeout(timer);
        if (msg.error) reject(new Error(typeof msg.error.message === "string" ? msg.error.message : method + " failed"));
        else resolve(msg.result);
      };
      post({ jsonrpc: "2.0", id: id, method: method, params: params });
    });
  }
  function say(text, kind) {
    var s = $("status");
    s.textContent = text;
    s.className = kind || "";
    resized();
  }
  function resized() {
    notify("ui/notifications/size-changed", { height: Math.ceil(document.documentElement.getBoundingClientRect().height) });
  }
  function textOf(result) {
    var parts = [];
    var content = result && Array.isArray(result.content) ? result.content : [];
    for (var i = 0; i < content.length; i++) if (content[i] && content[i].type === "text" && typeof content[i].text === "string") parts.push(content[i].text);
    return parts.join("\n");
  }
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  function applyContext(ctx) {
    if (!isObject(ctx)) return;
    var root = document.documentElement;
    if (ctx.theme === "dark" || ctx.theme === "light") root.setAttribute("data-theme", ctx.theme);
    var vars = isObject(ctx.styles) && isObject(ctx.styles.variables) ? ctx.styles.variables : null;
    if (vars) for (var k in vars) if (/^--[a-z0-9-]+$/.test(k) && typeof vars[k] === "string") root.style.setProperty(k, vars[k]);
  }

  function row(table, label, value) {
    var tr = el("tr");
    if (value === "") {
      var h = el("th", label, "head");
      h.colSpan = 2;
      h.scope = "colgroup";
      tr.appendChild(h);
    } else {
      var th = el("th", label);
      th.scope = "row";
      tr.appendChild(th);
      tr.appendChild(el("td", value));
    }
    table.appendChild(tr);
  }

  var STATE_WORDS = {
    pending: "Waiting for a person to confirm on the confirmation page.",
    confirmed: "Confirmed on the page. The purchase can now be completed, once.",
    declined: "Declined on the page. Nothing will be charged.",
    used: "This confirmation has been used: the purchase was completed.",
    expired: "This confirmation expired. Nothing was charged."
  };

  function showRecord(r) {
    record = r;
    $("summary").textContent = typeof r.summary === "string" ? r.summary : "A charge";
    var table = $("facts");
    clear(table);
    var facts = Array.isArray(r.facts) ? r.facts : [];
    for (var i = 0; i < facts.length; i++) {
      var f = facts[i];
      if (isObject(f) && typeof f.label === "string" && typeof f.value === "string") row(table, f.label, f.value);
    }
    if (typeof r.expires_at === "string") row(table, "Confirmation expires", r.expires_at);
    var open = r.state === "pending" || r.state === "confirmed";
    $("title").textContent = open ? "A charge is waiting for a person" : r.state === "used" ? "The purchase was completed" : "Nothing will be charged";
    $("complete-why").hidden = !open;
    $("link").hidden = !open;
    $("state").textContent = STATE_WORDS[r.state] || "Unknown state.";
    $("state").setAttribute("data-state", String(r.state));
    $("record").hidden = false;
    $("open").hidden = r.state !== "pending";
    $("open").disabled = !pending;
    var complete = $("complete");
    complete.hidden = r.state === "declined" || r.state === "expired" || r.state === "used";
    // Where the host reads the record for the card, it follows the server's state. Where it cannot, the
    // card cannot know the page's answer: "Complete" is offered once the page was opened, and the server
    // decides (an unconfirmed call charges nothing and says so).
    complete.disabled = busy || !toolArgs || (canReadResources ? r.state !== "confirmed" : !opened || r.state !== "pending");
    resized();
  }

  function readRecord() {
    if (!pending) return Promise.resolve(null);
    return request("resources/read", { uri: pending.resource }).then(function (res) {
      var c = res && Array.isArray(res.contents) ? res.contents[0] : null;
      if (!c || typeof c.text !== "string") throw new Error("the confirmation record was empty");
      var r = JSON.parse(c.text);
      if (!isObject(r)) throw new Error("the confirmation record was not an object");
      showRecord(r);
      return r;
    });
  }

  function poll() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    readRecord().then(function (r) {
      if (r && (r.state === "pending" || r.state === "confirmed")) pollTimer = setTimeout(poll, POLL_MS);
    }, function (err) {
      say("The server's record of this confirmation could not be read: " + err.message, "bad");
    });
  }

  function onToolResult(result) {
    var meta = isObject(result) && isObject(result._meta) ? result._meta[META_CONFIRMATION] : null;
    if (isObject(meta) && typeof meta.id === "string" && typeof meta.resource === "string" && typeof meta.page === "string") {
      pending = { id: meta.id, resource: meta.resource, page: meta.page };
      $("waiting").hidden = true;
      $("link").textContent = meta.page;
      say("");
      if (isObject(meta.record)) showRecord(meta.record);
      if (canReadResources) poll();
      else if (!isObject(meta.record)) say("This host cannot read the server's record for this card; the page shows the charge.", "");
      return;
    }
    $("waiting").hidden = true;
    if (isObject(result) && !result.isError) showOutcome(result, "This call went through.");
    else say(textOf(result) || "Nothing is waiting for a person here.", "");
  }

  function showOutcome(result, heading) {
    var box = $("outcome");
    clear(box);
    box.hidden = false;
    if (result.isError) {
      box.className = "outcome bad";
      box.appendChild(el("h2", "Not charged"));
      box.appendChild(el("p", textOf(result) || "The server gave no reason."));
    } else {
      box.className = "outcome good";
      box.appendChild(el("h2", heading));
      var t = el("table");
      var meta = isObject(result._meta) ? result._meta : {};
      if (typeof meta[META_KEY] === "string") row(t, "Idempotency-Key", meta[META_KEY]);
      var s = isObject(result.structuredContent) ? result.structuredContent : {};
      var LABELS = { balance_after: "New balance (credits)", balance_credits: "Balance (credits)", credits: "Credits", amount_aud: "Amount charged (AUD)", status: "Status", id: "Id" };
      var shown = 0;
      for (var k in s) {
        var v = s[k];
        if (shown >= 10 || v === null || typeof v === "object") continue;
        row(t, Object.prototype.hasOwnProperty.call(LABELS, k) ? LABELS[k] : k, String(v));
        shown++;
      }
      box.appendChild(t);
    }
    resized();
  }

  function openPage() {
    if (!pending) return;
    if (!canOpenLinks) { say("This host cannot open links; open the address below in a browser.", ""); return; }
    request("ui/open-link", { url: pending.page }).then(function (res) {
      if (res && res.isError) { say("The host did not open the page; open the address below in a browser.", "bad"); return; }
      opened = true;
      if (record) showRecord(record);
      say(canReadResources ? "The confirmation page was opened. Confirm or decline there; this card follows the server's record." : "The confirmation page was opened. Confirm there, then complete the purchase here.", "");
    }, function (err) { say("The host did not open the page (" + err.message + "); open the address below in a browser.", "bad"); });
  }

  function complete() {
    if (!record || !toolArgs || busy) return;
    busy = true;
    $("complete").disabled = true;
    say("Completing the purchase…", "");
    request("tools/call", { name: record.tool, arguments: toolArgs }).then(function (result) {
      busy = false;
      showOutcome(result || {}, "Charged");
      var ok = result && !result.isError;
      say(ok ? "Done: charged once." : "Nothing was charged by this call.", ok ? "good" : "bad");
      if (canReadResources) poll();
      else if (ok && record) { record.state = "used"; showRecord(record); }
      else if (record) showRecord(record);
    }, function (err) {
      busy = false;
      say("The call did not complete (" + err.message + "). Check the balance before trying again.", "bad");
      if (canReadResources) poll();
      else if (record) showRecord(record);
    });
  }

  window.addEventListener("message", function (e) {
    if (e.source !== window.parent) return;
    var m = e.data;
    if (!isObject(m) || m.jsonrpc !== "2.0") return;
    if (m.method === undefined) {
      var done = waiting[m.id];
      if (done) { delete waiting[m.id]; done(m); }
      return;
    }
    if (m.id !== undefined) {
      // Requests from the host: ping and teardown are answered; nothing else is offered.
      if (m.method === "ping" || m.method === "ui/resource-teardown") post({ jsonrpc: "2.0", id: m.id, result: {} });
      else post({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "Method not found" } });
      if (m.method === "ui/resource-teardown" && pollTimer) clearTimeout(pollTimer);
      return;
    }
    var p = isObject(m.params) ? m.params : {};
    if (m.method === "ui/notifications/tool-input") {
      toolArgs = isObject(p.arguments) ? p.arguments : null;
      if (record) showRecord(record);
    } else if (m.method === "ui/notifications/tool-result") onToolResult(p);
    else if (m.method === "ui/notifications/host-context-changed") applyContext(p);
    else if (m.method === "ui/notifications/tool-cancelled") { $("waiting").hidden = true; say("The call was cancelled. Nothing was charged.", ""); }
  });

  $("open").addEventListener("click", openPage);
  $("complete").addEventListener("click", complete);
  if (typeof ResizeObserver === "function") new ResizeObserver(resized).observe(document.body);

  request("ui/initialize", {
    appInfo: { name: "geopera-billing-confirmation-card", version: "1.0.0" },
    appCapabilities: {},
    protocolVersion: "2026-01-26"
  }).then(function (res) {
    var caps = res && isObject(res.hostCapabilities) ? res.hostCapabilities : {};
    canOpenLinks = !!caps.openLinks;
    canReadResources = !!caps.serverResources;
    applyContext(res && res.hostContext);
    notify("ui/notifications/initialized", {});
  }, function (err) { say("The host did not start this card: " + err.message, "bad"); });
})();
`;
