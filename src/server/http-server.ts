/**
 * The daemon's one HTTP server: `/dav…` goes to the embedded WebDAV share (raw node request/response, as
 * webdav-server needs them; the share checks the token, the origin and the request itself: see
 * embedded-share.ts), everything else to the Hono app. Bound to `server.host` only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { SyncdError } from "../errors.js";
import type { RequestHandler } from "../remote/embedded-share.js";
import { isLoopbackHostHeader } from "./auth.js";
import { errorBody } from "./http-errors.js";

export const DAV_PATH = "/dav";

export interface HttpServerOptions {
  host: string;
  port: number;
  fetch: (request: Request) => Response | Promise<Response>;
  /** The embedded share's handler (mounted at DAV_PATH), when this daemon serves one. */
  dav?: RequestHandler;
  loopbackOnly?: boolean;
}

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting; open connections get `graceMs` to finish, then are cut. */
  close(graceMs?: number): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningServer> {
  const api = getRequestListener(opts.fetch);
  // Requests in flight per connection, so that shutdown can drop every connection that has none: idle
  // keep-alive ones, and ones a client opened without sending anything yet (which closeIdleConnections
  // does not count as idle).
  const inFlight = new Map<Socket, number>();
  const server = createServer((req, res) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once("close", () => {
      if (inFlight.has(socket)) inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1);
    });
    const url = req.url ?? "/";
    if (opts.dav && (url === DAV_PATH || url.startsWith(`${DAV_PATH}/`) || url.startsWith(`${DAV_PATH}?`))) {
      serveDav(req, res, opts.dav, opts);
      return;
    }
    void api(req, res);
  });
  server.on("connection", (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once("close", () => inFlight.delete(socket));
  });
  // A client that sends headers slowly or never finishes them must not hold a socket for ever.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // uploads and event streams are long by design
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new SyncdError("address-in-use", `Cannot listen on ${opts.host}:${opts.port}: the port is already in use (server.port).`)
          : err.code === "EADDRNOTAVAIL"
            ? new SyncdError("address-not-available", `Cannot listen on ${opts.host}: no such address on this machine (server.host).`)
            : err,
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        // Responses that end after close() (event streams just ended, downloads finishing) leave their
        // connection without a request: keep dropping those until none is left; cut the rest at the end.
        const sweep = () => {
          for (const [socket, n] of inFlight) if (n === 0) socket.destroy();
        };
        const idle = setInterval(sweep, 25);
        const cut = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearInterval(idle);
          clearTimeout(cut);
          resolve();
        });
        sweep();
      }),
  };
}

function serveDav(req: IncomingMessage, res: ServerResponse, dav: RequestHandler, opts: HttpServerOptions): void {
  if (opts.loopbackOnly && !isLoopbackHostHeader(req.headers.host)) {
    req.resume(); // discard any body, keep the connection usable
    const message = "This daemon answers only to localhost names (set server.token to serve other names).";
    res.writeHead(403, { "Content-Type": "application/json" }).end(JSON.stringify(errorBody("forbidden-host", message)));
    return;
  }
  dav(req, res);
}
