/** `GET /api/v1/sse/subscribe` (SPEC §6): the event hub's stream for one client. */
import type { IncomingMessage } from "node:http";
import { Hono } from "hono";
import type { AppEnv } from "../app.js";

export function eventRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get("/subscribe", (c) => {
    // EventSource sends Last-Event-ID itself when it reconnects; the query form is for clients that cannot.
    const last = c.req.header("last-event-id") ?? c.req.query("lastEventId") ?? null;
    // Under @hono/node-server the raw socket is at hand: a client that falls behind is cut off there.
    const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
    const stream = c.get("deps").hub.subscribe(last, socket ? { disconnect: () => socket.destroy() } : {});
    return new Response(stream, {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        // Reverse proxies (nginx) would otherwise buffer the stream.
        "X-Accel-Buffering": "no",
      },
    });
  });
  return r;
}
