import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startEmbeddedShare, startPrivateShare, type EmbeddedShare } from "../../src/remote/embedded-share.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("startEmbeddedShare", () => {
  let dir: string;
  let share: EmbeddedShare | undefined;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "syncd-share-")), "nested", "share");
    uncaught.length = 0;
    process.on("uncaughtException", onUncaught);
  });
  afterEach(async () => {
    process.off("uncaughtException", onUncaught);
    await share?.close();
    share = undefined;
    await rm(join(dir, "..", ".."), { recursive: true, force: true });
  });

  it("serves the folder (created if missing) on 127.0.0.1 only, on an ephemeral port", async () => {
    share = await startEmbeddedShare({ dir });
    expect(share.port).toBeGreaterThan(0);
    expect(share.url).toBe(`http://127.0.0.1:${share.port}`);
    expect(await canConnect("127.0.0.1", share.port)).toBe(true);
    // webdav-server's own start() would listen on "::" and so accept on the IPv6 loopback too.
    expect(await canConnect("::1", share.port)).toBe(false);

    const remote = createWebdavRemote({ url: share.url, root: "/syncd", timeoutMs: 5000 });
    await remote.mkdir("");
    await remote.put("version.txt", Buffer.from("1\n"));
    expect(await readFile(join(dir, "syncd", "version.txt"), "utf8")).toBe("1\n");
    await remote.close();
  });

  it("replaces a file whole: a PUT cut short leaves the old content and no partial or temporary file", async () => {
    share = await startEmbeddedShare({ dir });
    const remote = createWebdavRemote({ url: share.url, root: "/syncd", timeoutMs: 5000 });
    await remote.mkdir("");
    await remote.put("data.bin", Buffer.from("the complete old content"));
    const url = new URL(`${share.url}/syncd/data.bin`);
    const cutShort = (path: string) =>
      new Promise<void>((resolve) => {
        // A client that dies halfway through its body (a SIGKILLed sync): 400,000 of 1,000,000 bytes, then gone.
        const socket = connect({ host: url.hostname, port: Number(url.port) }, () => {
          socket.write(`PUT ${path} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000000\r\n\r\n`);
          socket.write(Buffer.alloc(400_000, 7), () => setTimeout(() => socket.destroy(), 100));
        });
        socket.on("close", () => resolve());
        socket.on("error", () => resolve());
      });
    await cutShort("/syncd/data.bin");
    await cutShort("/syncd/new.bin");
    // The server has handled the dead request once a later request on the folder is answered.
    const listed = async () => (await remote.list("")).entries.map((e) => e.name).sort();
    await expect.poll(async () => (await readdir(join(dir, "syncd"))).sort()).toEqual(["data.bin"]);
    expect(await readFile(join(dir, "syncd", "data.bin"), "utf8")).toBe("the complete old content");
    expect(await listed()).toEqual(["data.bin"]);
    // A complete rewrite replaces it, and a new file appears only whole.
    await remote.put("data.bin", Buffer.from("new"));
    await remote.put("new.bin", Buffer.alloc(0));
    expect(await readFile(join(dir, "syncd", "data.bin"), "utf8")).toBe("new");
    expect(await listed()).toEqual(["data.bin", "new.bin"]);
    await remote.close();
  });

  it("survives If headers that crash webdav-server (untagged lists, and any If on MKCOL)", async () => {
    share = await startEmbeddedShare({ dir });
    const url = share.url;
    const untagged = { If: "(<opaquelocktoken:0e2e6b5c-0000-0000-0000-000000000000>)" };
    const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      fetch(`${url}${path}`, { method, headers, body, signal: AbortSignal.timeout(3000) }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    expect(await send("MKCOL", "/d/", untagged)).toBe(201);
    expect(await send("MKCOL", "/e/", { If: `<${url}/e/> (<opaquelocktoken:x>)` })).toBe(201);
    expect(await send("PUT", "/d/f", untagged, "hi")).toBe(201);
    expect(await send("PROPFIND", "/d/", { ...untagged, Depth: "1" })).toBe(207);
    expect(await send("DELETE", "/d/f", untagged)).toBe(200);
    await new Promise((r) => setTimeout(r, 50)); // an uncaught error would surface on a later tick
    expect(uncaught).toEqual([]);
    expect(await send("PROPFIND", "/", { Depth: "0" })).toBe(207); // still serving
  });

  it("answers PROPFIND Depth 0 and 1, and refuses Depth infinity (as Apache does)", async () => {
    share = await startEmbeddedShare({ dir });
    const propfind = (depth: string) =>
      fetch(`${share!.url}/`, { method: "PROPFIND", headers: { Depth: depth } }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    expect(await propfind("0")).toBe(207);
    expect(await propfind("1")).toBe(207);
    expect(await propfind("infinity")).toBe(403);
  });

  it("with credentials, refuses anonymous and wrong logins and accepts the right one (UTF-8, ':' in password)", async () => {
    share = await startEmbeddedShare({ dir, username: "syncd", password: "pä:ss" });
    const anonymous = await fetch(`${share.url}/`, { method: "PROPFIND", headers: { Depth: "0" } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic /);
    const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`, "utf8").toString("base64")}`;
    const wrong = await fetch(`${share.url}/`, { method: "PROPFIND", headers: { Depth: "0", Authorization: basic("syncd", "pä") } });
    expect(wrong.status).toBe(401);
    const good = await fetch(`${share.url}/`, { method: "PROPFIND", headers: { Depth: "0", Authorization: basic("syncd", "pä:ss") } });
    expect(good.status).toBe(207);
    const put = await fetch(`${share.url}/x`, { method: "PUT", body: "x", headers: { Authorization: basic("syncd", "pä:ss") } });
    expect(put.status).toBe(201);
    const anonymousPut = await fetch(`${share.url}/y`, { method: "PUT", body: "y" });
    expect(anonymousPut.status).toBe(401);
  });

  it("a command's own share (startPrivateShare) takes only the password it made up", async () => {
    const privateShare = await startPrivateShare(dir);
    share = privateShare;
    expect(privateShare.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(privateShare.password).toMatch(/^[0-9a-f]{64}$/);
    const propfind = (authorization?: string) =>
      fetch(`${privateShare.url}/`, { method: "PROPFIND", headers: { Depth: "0", ...(authorization ? { Authorization: authorization } : {}) } }).then((r) => r.status);
    expect(await propfind()).toBe(401);
    expect(await propfind(`Basic ${Buffer.from(`${privateShare.username}:${privateShare.password}`).toString("base64")}`)).toBe(207);
    const other = await startPrivateShare(join(dir, "other"));
    expect(other.password).not.toBe(privateShare.password);
    await other.close();
  });

  it("fails clearly when the port is taken", async () => {
    share = await startEmbeddedShare({ dir });
    await expect(startEmbeddedShare({ dir, port: share.port })).rejects.toThrow(/EADDRINUSE/);
  });
});
