// What the stand-in model APIs share (scripts/*/fake-*-api.mjs): a loopback HTTP server that hands each
// request's parsed JSON body (and a running id) to the API flavour's own handler, and prints {"port": N} on
// stdout once listening — which is how the try scripts find it (startStandIn in harness.mjs).
import { createServer } from "node:http";

/** Serves `handle(req, res, body, id)` on 127.0.0.1; a body that is not JSON is handed over as {}. */
export function serveStandIn(handle) {
  let count = 0;
  createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      let body = {};
      try {
        body = JSON.parse(raw || "{}");
      } catch {}
      handle(req, res, body, ++count);
    });
  }).listen(0, "127.0.0.1", function () {
    process.stdout.write(JSON.stringify({ port: this.address().port }) + "\n");
  });
}

/**
 * The step under test: the LATEST "CALL <tool> {json}" line among the person's prompts (earlier prompts stay
 * in the conversation), as [whole, tool, json], or undefined.
 */
export const latestCall = (promptTexts) => promptTexts.map((t) => /CALL (\S+) (\{.*?\})\s*$/m.exec(t)).findLast(Boolean);
