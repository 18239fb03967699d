/**
 * A byte-counting TCP relay for tests: it sits on 127.0.0.1 in front of a server and counts every byte that
 * crosses it each way — request and status lines, headers, chunked framing, bodies — per HTTP request. An
 * access log sees only bodies; issue 13's bound is on bytes on the wire, headers included.
 *
 * Requests are told apart without parsing HTTP: syncd's client never pipelines, so on one connection a
 * request starts with the first bytes the client sends after the server has answered (or at the start),
 * and its first word is the method, the second its path.
 */
import { createServer, connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface MeteredRequest {
  method: string;
  /** Decoded path, e.g. "/dav/syncd/ab/ab12…". */
  path: string;
  /** Bytes the client sent (request line, headers, body). */
  up: number;
  /** Bytes the server sent back (status line, headers, body). */
  down: number;
}

export interface WireMeter {
  /** `url` with its origin replaced by the relay's (the path, e.g. "/dav", is kept). */
  via(url: string): string;
  /** Every request since the last reset, in the order they started. */
  requests(): MeteredRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startWireMeter(target: string): Promise<WireMeter> {
  const upstream = new URL(target);
  if (upstream.hostname !== "127.0.0.1") throw new Error(`wire meter: only 127.0.0.1 targets (got ${target})`);
  let log: MeteredRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const origin = connect(Number(upstream.port), upstream.hostname);
    sockets.add(client).add(origin);
    let current: MeteredRequest | null = null;
    let answered = true;
    client.on("data", (chunk: Buffer) => {
      if (answered || !current) {
        current = startOf(chunk);
        log.push(current);
        answered = false;
      }
      current.up += chunk.length;
      origin.write(chunk);
    });
    origin.on("data", (chunk: Buffer) => {
      answered = true;
      if (current) current.down += chunk.length;
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      origin.destroy();
      sockets.delete(client);
      sockets.delete(origin);
    };
    client.on("close", end).on("error", end);
    origin.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    via: (url) => `http://127.0.0.1:${port}${new URL(url).pathname.replace(/\/+$/, "")}`,
    requests: () => [...log],
    reset: () => void (log = []),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The request whose first bytes are `chunk`: its method and path from the request line. */
function startOf(chunk: Buffer): MeteredRequest {
  const line = chunk.subarray(0, Math.min(chunk.length, 2048)).toString("latin1").split("\r\n")[0] ?? "";
  const [method = "", target = ""] = line.split(" ");
  return { method, path: decodePath(target), up: 0, down: 0 };
}

function decodePath(target: string): string {
  const path = target.replace(/^[a-z]+:\/\/[^/]*/i, "").split("?")[0] ?? "";
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Bytes both ways of the requests `pick` selects. */
export function wireBytes(requests: MeteredRequest[], pick: (r: MeteredRequest) => boolean = () => true): number {
  return requests.filter(pick).reduce((n, r) => n + r.up + r.down, 0);
}
