// A lean Streamable HTTP client for load (the HTTP counterpart of rawstdio.ts): undici keep-alive requests,
// JSON-RPC written by hand, answers read as JSON or as the POST's SSE stream, or — for servers that answer
// a POST with 202 and push the result on the session's GET stream (the peer) — from that stream. It does
// what a client must (initialize, session id, protocol version header, bearer) and nothing else, so the
// load it can generate is bounded by the server, not by client-side parsing.
import { Agent } from "undici";

const PROTOCOL = "2025-06-18";
const PUSH_TIMEOUT_MS = 10_000;

type Message = { id?: number | string; method?: string; result?: { isError?: boolean }; error?: unknown };

/** Every data: payload of a text/event-stream body. */
function sseData(text: string): string[] {
  const out: string[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (data) out.push(data);
  }
  return out;
}

export class RawHttpSession {
  private sessionId = "";
  private nextId: number;
  private readonly waiting = new Map<number | string, (m: Message) => void>();
  private stream: AbortController | undefined;
  private readonly url: URL;

  constructor(
    mcpUrl: string,
    private readonly agent: Agent,
    private readonly authorization: string,
    idBase: number,
    /** Open the GET stream and expect answers there when a POST is answered 202. */
    private readonly getStream: boolean,
  ) {
    this.url = new URL(mcpUrl);
    this.nextId = idBase;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: this.authorization,
    };
    if (this.sessionId) {
      h["mcp-session-id"] = this.sessionId;
      h["mcp-protocol-version"] = PROTOCOL;
    }
    return h;
  }

  private async post(body: unknown): Promise<{ status: number; messages: Message[]; sessionId?: string }> {
    const res = await this.agent.request({ origin: this.url.origin, path: this.url.pathname, method: "POST", headers: this.headers(), body: JSON.stringify(body) });
    const text = await res.body.text();
    const type = String(res.headers["content-type"] ?? "");
    const payloads = res.statusCode === 202 || !text ? [] : type.includes("text/event-stream") ? sseData(text) : [text];
    const messages = payloads.map((p) => JSON.parse(p) as Message | Message[]).flat();
    const sid = res.headers["mcp-session-id"];
    return { status: res.statusCode, messages, sessionId: Array.isArray(sid) ? sid[0] : sid };
  }

  async open(): Promise<void> {
    const id = this.nextId++;
    const init = await this.post({ jsonrpc: "2.0", id, method: "initialize", params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "geopera-bench", version: "1.0.0" } } });
    if (!init.sessionId || !init.messages.some((m) => m.id === id && m.result)) throw new Error(`initialize failed: HTTP ${init.status} ${JSON.stringify(init.messages)}`);
    this.sessionId = init.sessionId;
    await this.post({ jsonrpc: "2.0", method: "notifications/initialized" });
    if (this.getStream) await this.openStream();
  }

  /**
   * Opens the session's GET stream. The peer sends no headers on it until its first event, so the request
   * is not awaited: the peer registers the stream as soon as the GET arrives, and a short pause covers
   * that on loopback. A call whose answer never arrives times out (counted as an error), never hangs.
   */
  private async openStream(): Promise<void> {
    this.stream = new AbortController();
    const pending = this.agent.request({
      origin: this.url.origin,
      path: this.url.pathname,
      method: "GET",
      headers: { accept: "text/event-stream", authorization: this.authorization, "mcp-session-id": this.sessionId, "mcp-protocol-version": PROTOCOL },
      signal: this.stream.signal,
    });
    void (async () => {
      let buf = "";
      try {
        const res = await pending;
        for await (const chunk of res.body) {
          buf += (chunk as Buffer).toString("utf8");
          let end: number;
          while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
            const event = buf.slice(0, end);
            buf = buf.slice(end).replace(/^\r?\n\r?\n/, "");
            for (const data of sseData(event)) this.deliver(JSON.parse(data) as Message);
          }
        }
      } catch {
        // aborted on close
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
  }

  private deliver(m: Message): void {
    if (m.id === undefined || m.method !== undefined) return;
    const resolve = this.waiting.get(m.id);
    if (resolve) {
      this.waiting.delete(m.id);
      resolve(m);
    }
  }

  /** One tools/call; true when it returned a result that is not an error. */
  async call(name: string, args: Record<string, unknown> = {}): Promise<boolean> {
    const id = this.nextId++;
    let timer: NodeJS.Timeout | undefined;
    const pushed = this.getStream
      ? new Promise<Message | undefined>((resolve) => {
          this.waiting.set(id, resolve);
          timer = setTimeout(() => (this.waiting.delete(id), resolve(undefined)), PUSH_TIMEOUT_MS);
        })
      : undefined;
    const answer = await this.post({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
    let m = answer.messages.find((x) => x.id === id);
    if (!m && answer.status === 202 && pushed) m = await pushed;
    else this.waiting.delete(id);
    clearTimeout(timer);
    if (!m) throw new Error(`no answer to tools/call (HTTP ${answer.status})`);
    return m.result !== undefined && m.result.isError !== true;
  }

  async close(): Promise<void> {
    this.stream?.abort();
    if (!this.sessionId) return;
    await this.agent
      .request({ origin: this.url.origin, path: this.url.pathname, method: "DELETE", headers: this.headers() })
      .then((r) => r.body.dump())
      .catch(() => {});
  }
}
