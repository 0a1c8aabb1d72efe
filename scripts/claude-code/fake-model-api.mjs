// A stand-in for the Anthropic Messages API on loopback, so a real Claude Code can drive this server with
// no network and no account: the "model" calls the tool named in the person's prompt
// ("CALL <tool> <json arguments>"), then answers "RESULT: <the tool result it was given>". Each request
// is appended to the log file as one JSON line (what Claude Code sent, including the tool_result the agent
// saw). Used by try.mjs; nothing in the server or its tests depends on it.
//
//   node scripts/claude-code/fake-model-api.mjs <log-file>     prints {"port": N} on stdout when listening
import { appendFileSync, writeFileSync } from "node:fs";
import { serveStandIn, latestCall } from "../lib/stand-in.mjs";

const log = process.argv[2] ?? "/dev/null";
writeFileSync(log, "");

const textOf = (content) =>
  typeof content === "string"
    ? content
    : (content ?? []).map((b) => (b.type === "text" ? b.text : b.type === "tool_result" ? `[tool_result] ${JSON.stringify(b.content)}` : "")).join("\n");

/** tool_use id → the tool it called, to tell a ToolSearch result from the tested tool's result. */
const issued = new Map();

/**
 * What the "model" does next: call the prompt's tool once, then report its result. Claude Code 2.1.3xx
 * defers MCP tools (only their names are listed; `ToolSearch` loads a schema), so when the tool is not
 * among `tools` yet the model first asks ToolSearch for it by name, as a real model does.
 */
function decide(body) {
  const messages = body.messages ?? [];
  const last = messages[messages.length - 1];
  const result = Array.isArray(last?.content) ? last.content.find((b) => b.type === "tool_result") : undefined;
  const searched = result && issued.get(result.tool_use_id) === "ToolSearch";
  // After a call the person refused at Claude Code's permission prompt, their next prompt arrives in the
  // same message as that refusal's tool_result: a CALL there is a new step, not a result to report.
  const newPrompt = Array.isArray(last?.content) && last.content.some((b) => b.type === "text" && /CALL \S+ \{/.test(b.text));
  if (result && !searched && !newPrompt) return { text: `RESULT: ${JSON.stringify(result.content).slice(0, 3000)}` };
  // The step being tested is the person's latest prompt: in an interactive session every earlier prompt
  // is still in `messages`, and answering the first CALL found would re-send an earlier step's arguments.
  const call = latestCall(messages.filter((m) => m.role === "user").map((m) => textOf(m.content)));
  const tools = (body.tools ?? []).map((t) => t.name);
  if (call && tools.includes(call[1])) return { tool: call[1], input: JSON.parse(call[2]) };
  if (call && !searched && tools.includes("ToolSearch")) return { tool: "ToolSearch", input: { query: `select:${call[1]}` } };
  return { text: "ok" };
}

serveStandIn((req, res, body, id) => {
  const entry = { id, method: req.method, url: req.url, tools: body.tools?.map((t) => t.name), last: body.messages ? textOf(body.messages.at(-1)?.content).slice(0, 4000) : undefined };
  if (req.url.startsWith("/v1/messages/count_tokens")) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end('{"input_tokens":100}');
  }
  if (!req.url.startsWith("/v1/messages")) {
    appendFileSync(log, JSON.stringify(entry) + "\n");
    res.writeHead(200, { "content-type": "application/json" });
    return res.end("{}");
  }
  const next = decide(body);
  if (next.tool) issued.set(`toolu_${id}`, next.tool);
  appendFileSync(log, JSON.stringify({ ...entry, reply: next }) + "\n");
  const usage = { input_tokens: 100, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const message = { id: `msg_${id}`, type: "message", role: "assistant", model: body.model ?? "fake", content: [], stop_reason: null, stop_sequence: null, usage };
  const stop = next.tool ? "tool_use" : "end_turn";
  if (!body.stream) {
    const content = next.tool ? [{ type: "tool_use", id: `toolu_${id}`, name: next.tool, input: next.input }] : [{ type: "text", text: next.text }];
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ ...message, content, stop_reason: stop }));
  }
  const block = next.tool ? { type: "tool_use", id: `toolu_${id}`, name: next.tool, input: {} } : { type: "text", text: "" };
  const delta = next.tool ? { type: "input_json_delta", partial_json: JSON.stringify(next.input) } : { type: "text_delta", text: next.text };
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const [event, data] of [
    ["message_start", { type: "message_start", message }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: block }],
    ["content_block_delta", { type: "content_block_delta", index: 0, delta }],
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 10 } }],
    ["message_stop", { type: "message_stop" }],
  ])
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
});
