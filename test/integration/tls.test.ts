/**
 * TLS set-up mistakes fail at once, with a sentence that names them (issue 11): an https:// URL that names
 * a plain-HTTP port was retried five times as "network error EPROTO", an http:// URL that names a TLS port
 * five times as "connection reset", and a certificate that does not verify said "TLS error CODE".
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteError, toRemoteError } from "../../src/remote/errors.js";
import { retrying } from "../../src/remote/open.js";
import type { Remote } from "../../src/remote/remote.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { makeInstance } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "syncd-tls-"));
let plain: Server;
let tls: Server;
let plainPort: number;
let tlsPort: number;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  // A self-signed certificate for 127.0.0.1, made for this run.
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  plain = createHttpServer((req, res) => res.writeHead(req.url?.includes("bad") ? 400 : 404).end());
  tls = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (_req, res) => res.writeHead(404).end());
  plainPort = await listen(plain);
  tlsPort = await listen(tls);
});
afterAll(async () => {
  for (const server of [plain, tls]) {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The Remote as syncd opens it (with retries), counting the retries it makes. */
function remote(url: string): { remote: Remote; retries: () => number } {
  let retries = 0;
  const inner = createWebdavRemote({ url, root: "/syncd", timeoutMs: 10_000 });
  return { remote: retrying(inner, { sync: { lockTtlSeconds: 60 } }, { onRetry: () => void retries++ }), retries: () => retries };
}

async function failure(p: Promise<unknown>): Promise<{ err: RemoteError; ms: number }> {
  const started = Date.now();
  try {
    await p;
  } catch (err) {
    if (err instanceof RemoteError) return { err, ms: Date.now() - started };
    throw err;
  }
  throw new Error("expected a RemoteError");
}

describe("TLS mistakes in webdav.url", () => {
  it("an https:// URL to a plain-HTTP port fails at once: the server does not speak TLS on that port", async () => {
    const r = remote(`https://127.0.0.1:${plainPort}/dav`);
    for (const op of [() => r.remote.get("version.txt"), () => r.remote.list(""), () => r.remote.put("a", Buffer.from("a"))]) {
      const { err, ms } = await failure(op());
      expect(err.kind).toBe("tls");
      expect(err.message).toMatch(
        new RegExp(`^WebDAV \\w+ https://127\\.0\\.0\\.1:${plainPort}/dav/syncd\\S* failed: the server at 127\\.0\\.0\\.1:${plainPort} does not speak TLS \\(https\\) on that port; check the port in webdav\\.url, or whether the URL should start with http://\\.$`),
      );
      expect(ms).toBeLessThan(1000);
    }
    expect(r.retries()).toBe(0);
    await r.remote.close();
  });

  it("an http:// URL to a TLS port fails at once: the server speaks TLS there", async () => {
    const r = remote(`http://127.0.0.1:${tlsPort}/dav`);
    for (const op of [() => r.remote.get("version.txt"), () => r.remote.stat("x")]) {
      const { err, ms } = await failure(op());
      expect(err.kind).toBe("tls");
      expect(err.message).toMatch(/failed: the server at 127\.0\.0\.1:\d+ speaks TLS \(https\) on that port, not plain HTTP; make webdav\.url start with https:\/\/\.$/);
      expect(ms).toBeLessThan(3000);
    }
    expect(r.retries()).toBe(0);
    await r.remote.close();
  });

  it("a plain server's own 400 stays what it is (its port does not speak TLS)", async () => {
    const r = remote(`http://127.0.0.1:${plainPort}/dav`);
    const { err } = await failure(r.remote.get("bad"));
    expect(err.kind).toBe("protocol");
    expect(err.status).toBe(400);
    await r.remote.close();
  });

  it("a certificate that does not verify fails at once and says so", async () => {
    const r = remote(`https://127.0.0.1:${tlsPort}/dav`);
    for (const op of [() => r.remote.get("version.txt"), () => r.remote.list("")]) {
      const { err } = await failure(op());
      expect(err.kind).toBe("tls");
      expect(err.message).toMatch(
        /failed: the server's certificate does not verify: it is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\); syncd trusts the system's certificate authorities only\.$/,
      );
    }
    expect(r.retries()).toBe(0);
    await r.remote.close();
  });

  it("syncd sync says so in one sentence, at once, with exit code 1", async () => {
    const i = makeInstance("tls", { url: `https://127.0.0.1:${plainPort}/dav`, root: "/syncd" });
    try {
      writeFileSync(join(i.dir, "a.txt"), "a");
      await i.ok("add", join(i.dir, "a.txt"));
      const started = Date.now();
      const r = await i.run("sync");
      expect(r.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(5000);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("syncd: "));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/does not speak TLS \(https\) on that port/);
      expect(r.stderr).not.toMatch(/attempts|unexpected error|\n\s+at /);
    } finally {
      rmSync(i.dir, { recursive: true, force: true });
    }
  });
});

describe("toRemoteError: certificates", () => {
  it.each([
    ["CERT_HAS_EXPIRED", "it has expired"],
    ["CERT_NOT_YET_VALID", "it is not valid yet (check this machine's clock)"],
    ["ERR_TLS_CERT_ALTNAME_INVALID", "it was issued for another host name than the one in webdav.url"],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "it was issued by an authority this machine does not trust"],
    ["SELF_SIGNED_CERT_IN_CHAIN", "it was issued by a self-signed authority this machine does not trust"],
  ])("%s", (code, reason) => {
    const cause = Object.assign(new Error("certificate problem"), { code });
    const fetchError = Object.assign(new Error("request to https://h/x failed"), { name: "FetchError", code, cause });
    const err = toRemoteError(fetchError, "GET", "https://h.example/dav/syncd/version.txt");
    expect(err.kind).toBe("tls");
    expect(err.message).toBe(`WebDAV GET https://h.example/dav/syncd/version.txt failed: the server's certificate does not verify: ${reason} (${code}); syncd trusts the system's certificate authorities only.`);
  });
});
