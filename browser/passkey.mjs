// The passkey pages' script (bundled by scripts/prepare.mjs with rolldown into dist/src/passkey/browser.js,
// served by this server; nothing from a CDN). It only runs the WebAuthn ceremony the server asked for:
//  - consent (#passkey-registration holds the options): "Allow" first creates a passkey, then submits the
//    form with the response in the hidden field "passkey";
//  - confirmation page (#passkey-assertion): "Confirm and charge" signs the server's challenge, then posts
//    the assertion with the form token as JSON to the page itself and shows the server's answer.
import { startAuthentication, startRegistration } from "@simplewebauthn/browser";

window.GeoperaPasskey = { startAuthentication, startRegistration };

const optionsOf = (id) => {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : undefined;
};
const problem = (text) => {
  const el = document.getElementById("passkey-problem");
  if (el) {
    el.textContent = text;
    el.hidden = false;
  }
};

const registration = optionsOf("passkey-registration");
if (registration) {
  const form = document.getElementById("allow-form");
  form.addEventListener("submit", async (ev) => {
    if (!ev.submitter || ev.submitter.value !== "allow") return;
    ev.preventDefault();
    try {
      const response = await startRegistration({ optionsJSON: registration });
      form.elements.passkey.value = JSON.stringify(response);
      const step = document.createElement("input");
      step.type = "hidden";
      step.name = "step";
      step.value = "allow";
      form.appendChild(step);
      form.submit();
    } catch (err) {
      problem(`No passkey was created (${err && err.name ? err.name : "error"}). A spend grant needs one: try again.`);
    }
  });
}

const assertion = optionsOf("passkey-assertion");
if (assertion && document.getElementById("confirm-button")) {
  const button = document.getElementById("confirm-button");
  button.addEventListener("click", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      const response = await startAuthentication({ optionsJSON: assertion });
      const token = document.querySelector("input[name=token]").value;
      const r = await fetch(location.pathname, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ decision: "confirm", token, assertion: response }) });
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      document.title = doc.title;
      document.body.replaceWith(doc.body);
    } catch (err) {
      button.disabled = false;
      problem(`Not confirmed: the passkey did not sign (${err && err.name ? err.name : "error"}). Nothing was charged.`);
    }
  });
}
