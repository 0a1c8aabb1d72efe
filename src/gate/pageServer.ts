// The loopback listener for the confirmation page in stdio mode, started on first need. It is unref'd:
// it never keeps the process alive on its own (the stdio client owns the process lifetime).
import { createServer, type Server, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface PageServer {
  /** Starts the listener if needed; resolves to its origin, e.g. http://127.0.0.1:43121. */
  origin(): Promise<string>;
  /** The origin once started (for the POST Origin check). */
  currentOrigin(): string;
  close(): Promise<void>;
}

export function createPageServer(port: number, routes: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>): PageServer {
  let server: Server | undefined;
  let started: Promise<string> | undefined;
  let origin = "";
  return {
    origin() {
      started ??= new Promise<string>((resolve, reject) => {
        server = createServer((req, res) => {
          // DNS-rebinding guard: only our own loopback Host names reach the page.
          const host = req.headers.host ?? "";
          if (host !== new URL(origin).host && host !== `localhost:${new URL(origin).port}`) {
            res.writeHead(421).end();
            return;
          }
          routes(req, res).then(
            (handled) => {
              if (!handled) res.writeHead(404, { "content-type": "text/plain" }).end("not found");
            },
            () => {
              if (!res.headersSent) res.writeHead(500).end();
            },
          );
        });
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server!.unref();
          origin = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
          resolve(origin);
        });
      });
      return started;
    },
    currentOrigin: () => origin,
    async close() {
      if (!server) return;
      server.closeAllConnections();
      await new Promise<void>((r) => server!.close(() => r()));
    },
  };
}
