// A stand-in for the Gemini API (generateContent / streamGenerateContent) on loopback, so a real Gemini CLI
// can drive this server with no network and no account (GOOGLE_GEMINI_BASE_URL). Same play as
// scripts/claude-code/fake-model-api.mjs: the "model" calls the tool named in the person's latest prompt
// ("CALL <tool> <json arguments>") with exactly those arguments, then answers "RESULT: <the function
// response it was given>". A tool is matched by its exact name or by the name after Gemini CLI's server
// prefix. Each request is appended to the log file as one JSON line.
//
//   node scripts/gemini/fake-gemini-api.mjs <log-file>     prints {"port": N} on stdout when listening
import { appendFileSync, writeFileSync } from "node:fs";
import { serveStandIn, latestCall } from "../lib/stand-in.mjs";

const log = process.argv[2] ?? "/dev/null";
writeFileSync(log, "");

const partsText = (content) => (content?.parts ?? []).map((p) => p.text ?? (p.functionResponse ? `[functionResponse] ${JSON.stringify(p.functionResponse.response)}` : "")).join("\n");
const declared = (tools) => (tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((f) => f.name));

/** A minimal value of a JSON schema (Gemini CLI's own helper calls — e.g. its model router — ask for JSON). */
function fill(schema = {}) {
  if (schema.enum?.length) return schema.enum[0];
  switch (String(schema.type ?? "object").toLowerCase()) {
    case "string":
      return "stand-in";
    case "integer":
    case "number":
      return 5;
    case "boolean":
      return false;
    case "array":
      return [];
    default:
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, fill(v)]));
  }
}

function decide(body) {
  const json = body.generationConfig?.responseMimeType === "application/json";
  if (json) return { text: JSON.stringify(fill(body.generationConfig.responseJsonSchema ?? body.generationConfig.responseSchema)) };
  const contents = body.contents ?? [];
  const last = contents.at(-1);
  const response = last?.parts?.find((p) => p.functionResponse);
  if (response) return { text: `RESULT: ${JSON.stringify(response.functionResponse.response).slice(0, 3000)}` };
  // The person's latest prompt is the step under test (earlier prompts stay in `contents`).
  const call = latestCall(contents.filter((c) => c.role === "user").map(partsText));
  const names = declared(body.tools);
  const name = call && (names.find((n) => n === call[1]) ?? names.find((n) => n.endsWith(`__${call[1]}`) || n.endsWith(`_${call[1]}`)));
  if (name) return { tool: name, input: JSON.parse(call[2]) };
  return { text: "ok" };
}

serveStandIn((req, res, body, id) => {
  const entry = { id, method: req.method, url: req.url, tools: declared(body.tools), last: body.contents ? partsText(body.contents.at(-1)).slice(0, 4000) : undefined };
  if (/:countTokens/.test(req.url)) {
    appendFileSync(log, JSON.stringify(entry) + "\n");
    res.writeHead(200, { "content-type": "application/json" });
    return res.end('{"totalTokens":100}');
  }
  if (!/:(stream)?[gG]enerateContent/.test(req.url)) {
    appendFileSync(log, JSON.stringify(entry) + "\n");
    res.writeHead(404, { "content-type": "application/json" });
    return res.end('{"error":{"code":404,"message":"not here","status":"NOT_FOUND"}}');
  }
  const next = decide(body);
  appendFileSync(log, JSON.stringify({ ...entry, reply: next }) + "\n");
  const part = next.tool ? { functionCall: { name: next.tool, args: next.input } } : { text: next.text };
  const chunk = {
    candidates: [{ content: { role: "model", parts: [part] }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 10, totalTokenCount: 110 },
    modelVersion: "fake",
    responseId: `resp_${id}`,
  };
  if (/streamGenerateContent/.test(req.url)) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.end(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
  } else {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(chunk));
  }
});
