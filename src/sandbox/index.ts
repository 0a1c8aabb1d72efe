// An in-process stand-in for Geopera's billing API: real HTTP on loopback,
// consistent state, every request recorded, and injectable faults so the
// proxy's failure handling can be exercised without touching real money.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { execute, type Outcome } from "./dispatch.js";
import { FaultQueue, applyFault, checkFault, resetSocket } from "./faults.js";
import { HttpError, JSON_TYPE, errorReply, readBody, sendReply, type ReadBody } from "./http.js";
import { OPERATIONS } from "./operations.js";
import { operationIdForPath } from "./routes.js";
import { SandboxState } from "./state.js";
import type { Fault, RecordedRequest, SandboxApi, SandboxOptions } from "./types.js";

export type { Fault, RecordedRequest, SandboxApi, SandboxOptions } from "./types.js";

const DEFAULT_LEDGER_ROWS = 40;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === "" ? undefined : first;
}

function parseLoose(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

async function sendError(res: ServerResponse, err: HttpError): Promise<void> {
  await sendReply(res, errorReply(err));
}

function noContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

export async function startSandboxApi(options: SandboxOptions = {}): Promise<SandboxApi> {
  const host = options.host ?? "127.0.0.1";
  const ledgerRows = options.ledgerRows ?? DEFAULT_LEDGER_ROWS;
  if (!Number.isSafeInteger(ledgerRows) || ledgerRows < 0) {
    throw new RangeError("ledgerRows must be a non-negative integer");
  }
  const state = new SandboxState(options.now ?? Date.now, ledgerRows);
  const faults = new FaultQueue();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  function runOperation(req: IncomingMessage, operationId: string, body: ReadBody): Outcome {
    if (req.method !== "POST") {
      const err = new HttpError(405, "method_not_allowed", `Use POST for ${operationId}.`, { allow: "POST" });
      return { reply: errorReply(err), charged: false };
    }
    const op = OPERATIONS.get(operationId);
    if (op === undefined) {
      const err = new HttpError(404, "unknown_operation", `There is no operation called ${operationId}.`);
      return { reply: errorReply(err), charged: false };
    }
    return execute(state, op, {
      authorization: req.headers.authorization,
      idempotencyKey: header(req, "idempotency-key"),
      rawBody: body.text,
      bodyTooLarge: body.tooLarge,
    });
  }

  async function handleOperation(
    req: IncomingMessage,
    res: ServerResponse,
    operationId: string,
    path: string,
  ): Promise<void> {
    const record: RecordedRequest = {
      operationId,
      path,
      authorization: req.headers.authorization,
      idempotencyKey: header(req, "idempotency-key"),
      body: "",
      rawBody: "",
      status: 0,
      charged: false,
    };
    // Pushed before the body arrives so the log keeps arrival order even for slow uploads.
    requests.push(record);
    const body = await readBody(req);
    record.rawBody = body.text;
    record.body = parseLoose(body.text);

    const fault: Fault | undefined = faults.take(operationId);
    if (fault !== undefined && fault.kind !== "delay" && fault.kind !== "chargeThenReset") {
      record.status = await applyFault(fault, req, res);
      return;
    }
    if (fault?.kind === "delay") {
      await sleep(fault.ms);
      if (res.destroyed) return;
    }
    const outcome = runOperation(req, operationId, body);
    record.charged = outcome.charged;
    if (fault?.kind === "chargeThenReset") {
      resetSocket(req.socket);
      return;
    }
    record.status = outcome.reply.status;
    await sendReply(res, outcome.reply);
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = await readBody(req);
    if (path === "/__sandbox/requests" && req.method === "GET") {
      await sendReply(res, { status: 200, contentType: JSON_TYPE, body: JSON.stringify(requests) });
      return;
    }
    if (path === "/__sandbox/faults" && req.method === "DELETE") {
      faults.clear();
      noContent(res);
      return;
    }
    if (path === "/__sandbox/faults" && req.method === "POST") {
      try {
        const input = JSON.parse(body.text) as { operationId?: unknown; fault?: unknown; times?: unknown };
        if (typeof input.operationId !== "string" || input.operationId === "") {
          throw new TypeError("operationId must be a non-empty string");
        }
        if (input.times !== undefined && typeof input.times !== "number") {
          throw new TypeError("times must be a number");
        }
        faults.add(input.operationId, checkFault(input.fault), input.times);
      } catch (err) {
        const message = err instanceof Error ? err.message : "invalid fault";
        await sendError(res, new HttpError(400, "invalid_fault", `Could not queue the fault: ${message}`));
        return;
      }
      noContent(res);
      return;
    }
    if (path === "/__sandbox/reset" && req.method === "POST") {
      api.reset();
      noContent(res);
      return;
    }
    await sendError(res, new HttpError(404, "not_found", `No sandbox control endpoint at ${req.method ?? "?"} ${path}.`));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://sandbox.invalid").pathname;
    if (path.startsWith("/__sandbox/")) return handleControl(req, res, path);
    const operationId = operationIdForPath(path);
    if (operationId !== undefined) return handleOperation(req, res, operationId, path);
    await readBody(req);
    await sendError(res, new HttpError(404, "not_found", `Nothing is served at ${path}.`));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // Never log: this runs inside an MCP stdio server where stdout is the protocol.
      if (!res.headersSent) {
        void sendError(res, new HttpError(500, "internal_error", "The sandbox failed to handle this request."));
      } else {
        res.destroy();
      }
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const api: SandboxApi = {
    url: `http://${formatHost(host)}:${port}`,
    requests,
    inject(operationId: string, fault: Fault, times = 1): void {
      faults.add(operationId, fault, times);
    },
    clearFaults(): void {
      faults.clear();
    },
    charges(): RecordedRequest[] {
      return requests.filter((r) => r.charged);
    },
    reset(): void {
      // Truncate in place: callers may hold a reference to `requests`.
      requests.length = 0;
      faults.clear();
      state.reset();
    },
    async close(): Promise<void> {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Hung and keep-alive sockets would otherwise hold server.close() open forever.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  return api;
}
