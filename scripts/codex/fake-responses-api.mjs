// A stand-in for OpenAI's Responses API (POST /v1/responses, streamed) on loopback, so a real Codex CLI can
// drive this server with no network and no account. Same play as scripts/claude-code/fake-model-api.mjs:
// the "model" calls the tool named in the person's latest prompt ("CALL <tool> <json arguments>") with
// exactly those arguments, then answers "RESULT: <the tool output it was given>". Codex lists an MCP
// server's tools in a namespace (`mcp__<server>`); the call names the tool and its namespace. Each request
// is appended to the log file as one JSON line.
//
//   node scripts/codex/fake-responses-api.mjs <log-file>     prints {"port": N} on stdout when listening
import { appendFileSync, writeFileSync } from "node:fs";
import { serveStandIn, latestCall } from "../lib/stand-in.mjs";

const log = process.argv[2] ?? "/dev/null";
writeFileSync(log, "");

const textOf = (item) =>
  typeof item.content === "string" ? item.content : (item.content ?? []).map((c) => c.text ?? "").join("\n");

/** Finds `name` among the request's tools: a plain function, or a function inside a namespace. */
function findTool(tools, name) {
  for (const t of tools ?? []) {
    if (t.type === "function" && t.name === name) return { name };
    if (t.type === "namespace") for (const f of t.tools ?? []) if (f.name === name || `${t.name}__${f.name}` === name) return { name: f.name, namespace: t.name };
  }
  return undefined;
}

function decide(body) {
  const input = Array.isArray(body.input) ? body.input : [];
  const last = input.at(-1);
  if (last?.type === "function_call_output") {
    const out = typeof last.output === "string" ? last.output : JSON.stringify(last.output);
    return { text: `RESULT: ${out.slice(0, 3000)}` };
  }
  // The person's latest prompt is the step under test (earlier prompts stay in `input`).
  const call = latestCall(input.filter((i) => i.role === "user").map(textOf));
  const tool = call && findTool(body.tools, call[1]);
  if (tool) return { tool, args: call[2] };
  return { text: "ok" };
}

serveStandIn((req, res, body, id) => {
  const last = Array.isArray(body.input) ? body.input.at(-1) : undefined;
  const entry = { id, method: req.method, url: req.url, last: last ? (last.output ?? textOf(last)) : undefined };
  if (!req.url.includes("/responses")) {
    appendFileSync(log, JSON.stringify(entry) + "\n");
    res.writeHead(404, { "content-type": "application/json" });
    return res.end('{"error":{"message":"not here"}}');
  }
  const next = decide(body);
  appendFileSync(log, JSON.stringify({ ...entry, reply: next.tool ? { tool: next.tool.name, namespace: next.tool.namespace, input: JSON.parse(next.args) } : next }) + "\n");
  const item = next.tool
    ? { type: "function_call", id: `fc_${id}`, call_id: `call_${id}`, name: next.tool.name, ...(next.tool.namespace ? { namespace: next.tool.namespace } : {}), arguments: next.args, status: "completed" }
    : { type: "message", id: `msg_${id}`, role: "assistant", status: "completed", content: [{ type: "output_text", text: next.text, annotations: [] }] };
  const response = { id: `resp_${id}`, object: "response", status: "completed", model: body.model ?? "fake", output: [item] };
  const usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110 };
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const data of [
    { type: "response.created", response: { ...response, status: "in_progress", output: [] } },
    { type: "response.output_item.added", output_index: 0, item },
    { type: "response.output_item.done", output_index: 0, item },
    { type: "response.completed", response: { ...response, usage } },
  ])
    res.write(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
});
