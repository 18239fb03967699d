/**
 * TLS set-up mistakes fail at once, with a sentence that names them (issue 11): an https:// URL that names
 * a plain-HTTP port was retried five times as "network error EPROTO", an http:// URL that names a TLS port
 * five times as "connection reset", and a certificate that does not verify said "TLS error CODE".
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
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
import { startDavServer } from "../helpers/dav-server.js";

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
        /failed: the server's certificate does not verify: it is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\); if the server's certificate comes from a private authority \(or is self-signed\), set webdav\.caFile to that authority's \(or that certificate's\) PEM file\.$/,
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
    const fix = /ISSUER|SELF_SIGNED|LEAF/.test(code) ? "; if the server's certificate comes from a private authority (or is self-signed), set webdav.caFile to that authority's (or that certificate's) PEM file" : "";
    const cause = Object.assign(new Error("certificate problem"), { code });
    const fetchError = Object.assign(new Error("request to https://h/x failed"), { name: "FetchError", code, cause });
    const err = toRemoteError(fetchError, "GET", "https://h.example/dav/syncd/version.txt");
    expect(err.kind).toBe("tls");
    expect(err.message).toBe(`WebDAV GET https://h.example/dav/syncd/version.txt failed: the server's certificate does not verify: ${reason} (${code})${fix}.`);
  });
});

/**
 * HTTPS as users have it (issue 12): a share behind a certificate from a private authority, made here by
 * openssl, in front of a real WebDAV server (the in-process webdav-server, through a TLS-terminating proxy
 * as a reverse proxy on a NAS would be). With webdav.caFile it syncs; without it, or with another
 * authority's file, it fails at once with the sentence that names the fix.
 */
describe("a share behind a private certificate authority (webdav.caFile)", () => {
  const ca = join(dir, "private-ca");
  let proxy: Server;
  let davClose: () => Promise<void>;
  let url: string;

  beforeAll(async () => {
    mkdirSync(ca);
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: ca, stdio: "ignore" });
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=syncd test home CA");
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=some other CA");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=nas.home");
    writeFileSync(join(ca, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext");
    const dav = await startDavServer();
    davClose = dav.close;
    const upstream = new URL(dav.url);
    proxy = createHttpsServer({ key: readFileSync(join(ca, "server.key")), cert: readFileSync(join(ca, "server.pem")) }, (req, res) => {
      const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on("error", () => res.destroy());
      req.pipe(forward);
    });
    url = `https://127.0.0.1:${await listen(proxy)}${upstream.pathname.replace(/\/$/, "")}`;
  });
  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise<void>((r) => proxy.close(() => r()));
    await davClose();
  });

  it("syncs two instances with webdav.caFile, and fails at once, naming webdav.caFile, without it", async () => {
    const a = makeInstance("ca-a", { url, root: "/Apps/syncd ü", caFile: join(ca, "ca.pem") });
    const b = makeInstance("ca-b", { url, root: "/Apps/syncd ü", caFile: join(ca, "ca.pem") });
    const bare = makeInstance("ca-none", { url, root: "/Apps/syncd ü" });
    const wrong = makeInstance("ca-wrong", { url, root: "/Apps/syncd ü", caFile: join(ca, "other-ca.pem") });
    try {
      writeFileSync(join(a.dir, "a.txt"), "through a private CA");
      await a.ok("add", join(a.dir, "a.txt"));
      await a.ok("sync");
      await b.ok("sync");
      const entries = await b.json<Array<{ name: string }>>("ls");
      expect(entries.map((e) => e.name)).toEqual(["a.txt"]);
      for (const instance of [bare, wrong]) {
        const started = Date.now();
        const r = await instance.run("sync");
        expect(r.code).toBe(1);
        expect(Date.now() - started).toBeLessThan(5000);
        expect(r.stderr).toMatch(/the server's certificate does not verify: it was issued by an authority this machine does not trust \(\w+\); if the server's certificate comes from a private authority \(or is self-signed\), set webdav\.caFile/);
        expect(r.stderr).not.toMatch(/attempt|\n\s+at /);
      }
    } finally {
      for (const i of [a, b, bare, wrong]) rmSync(i.dir, { recursive: true, force: true });
    }
  });

  it("a webdav.caFile that holds no certificate is a configuration error (exit 2) naming the file", async () => {
    writeFileSync(join(ca, "not-a-cert.pem"), readFileSync(join(ca, "ca.key")));
    const i = makeInstance("ca-bad", { url, root: "/syncd", caFile: join(ca, "not-a-cert.pem") });
    try {
      const r = await i.run("status");
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`webdav.caFile ${join(ca, "not-a-cert.pem")} (named in ${i.configPath}) holds no PEM certificate`);
      const missing = makeInstance("ca-missing", { url, root: "/syncd", caFile: join(ca, "nowhere.pem") });
      const m = await missing.run("status");
      rmSync(missing.dir, { recursive: true, force: true });
      expect(m.code).toBe(2);
      expect(m.stderr).toContain(`Cannot read webdav.caFile ${join(ca, "nowhere.pem")}`);
    } finally {
      rmSync(i.dir, { recursive: true, force: true });
    }
  });
});
