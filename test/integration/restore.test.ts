/**
 * A way back after deleting (issue 11): `syncd rm ID...` deletes many, `syncd restore ID...` and
 * `POST /api/v1/files/:id/restore` bring deleted entries back with their last content and metadata, as a new
 * change that syncs like any other. Real `syncd` processes and a real daemon on 127.0.0.1.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance, type TestInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";

interface EntryJson {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: Record<string, unknown>;
  version: number;
  deleted: boolean;
  syncStatus: string;
}

const sources = mkdtempSync(join(tmpdir(), "syncd-restore-src-"));
function source(content: string): string {
  const path = join(sources, randomUUID());
  writeFileSync(path, content);
  return path;
}

describe("syncd rm ID... and syncd restore ID...", () => {
  let server: DavServer;
  let a: TestInstance;
  let b: TestInstance;
  beforeAll(async () => {
    server = await startDavServer();
    a = makeInstance("alpha", { url: server.url, root: "/syncd" });
    b = makeInstance("bravo", { url: server.url, root: "/syncd" });
  });
  afterAll(async () => {
    await server?.close();
  });

  const byId = async (inst: TestInstance) => new Map((await inst.json<EntryJson[]>("ls", "--deleted")).map((e) => [e.id, e]));

  it("rm takes many ids, and changes nothing when one of them is unknown", async () => {
    const x = (await a.ok("add", source("x"), "--name", "x.txt")).trim();
    const y = (await a.ok("add", source("y"), "--name", "y.txt")).trim();
    const bad = await a.run("rm", x, "01NOSUCHENTRY0000000000000");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("01NOSUCHENTRY0000000000000");
    expect((await byId(a)).get(x)?.deleted).toBe(false);
    await a.ok("rm", x, y);
    const lib = await byId(a);
    expect([lib.get(x)?.deleted, lib.get(y)?.deleted]).toEqual([true, true]);
  });

  it("restore brings deleted entries back, content and metadata, as a new change that syncs", async () => {
    const x = (await a.ok("add", source("paper x"), "--name", "papers/x.pdf", "--meta", "year=2020")).trim();
    const y = (await a.ok("add", source("paper y"), "--name", "papers/y.pdf")).trim();
    await a.ok("sync");
    await b.ok("sync");
    await b.ok("rm", x, y); // deleted on bravo, where the bytes are then released
    await b.ok("sync");
    await a.ok("sync");
    const deleted = await byId(a);
    expect(deleted.get(x)).toMatchObject({ deleted: true });

    // On alpha, whose store released the bytes when the deletion arrived: fetched back from the share.
    const before = deleted.get(x) as EntryJson;
    await a.ok("restore", x, y);
    const restored = await byId(a);
    expect(restored.get(x)).toMatchObject({ deleted: false, name: "papers/x.pdf", meta: { year: 2020 }, hash: before.hash, syncStatus: "pending" });
    expect(restored.get(x)?.version).toBe(before.version + 1);
    expect(await a.ok("get", x)).toBe("paper x");
    expect(await a.ok("get", y)).toBe("paper y");

    // A new change like any other: it reaches the instance that deleted it.
    await a.ok("sync");
    await b.ok("sync");
    expect((await byId(b)).get(x)).toMatchObject({ deleted: false, meta: { year: 2020 } });
    expect(await b.ok("get", x)).toBe("paper x");
    // Restoring what is not deleted changes nothing.
    const again = await a.run("restore", x);
    expect(again.code).toBe(0);
    expect((await byId(a)).get(x)?.version).toBe(before.version + 1);
  });

  it("says clearly when the content is not available here nor on the share, and changes nothing", async () => {
    const z = (await a.ok("add", source("never synced"), "--name", "z.txt")).trim();
    await a.ok("rm", z); // never uploaded, and released from the local store
    const r = await a.run("restore", z);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/content .*not available/i);
    expect(r.stderr).toContain(z);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect((await byId(a)).get(z)).toMatchObject({ deleted: true });
  });
});

describe("POST /api/v1/files/:id/restore", () => {
  let td: TestDaemon;
  beforeAll(async () => {
    td = await startTestDaemon({ token: "restore-token" });
  });
  afterAll(async () => {
    await td?.close();
  });

  async function upload(name: string, content: string, meta?: Record<string, unknown>): Promise<EntryJson> {
    const q = new URLSearchParams({ name, ...(meta ? { meta: JSON.stringify(meta) } : {}) });
    return td.json<EntryJson>(`/api/v1/files?${q}`, { method: "POST", body: content });
  }

  it("brings a deleted entry back with its content and metadata", async () => {
    const entry = await upload("kept.txt", "shared bytes", { label: "x" });
    await upload("twin.txt", "shared bytes"); // a live twin keeps the bytes in the local store
    await td.json(`/api/v1/files/${entry.id}`, { method: "DELETE" });
    const res = await td.api(`/api/v1/files/${entry.id}/restore`, { method: "POST" });
    expect(res.status).toBe(200);
    const restored = (await res.json()) as EntryJson;
    expect(restored).toMatchObject({ id: entry.id, deleted: false, name: "kept.txt", meta: { label: "x" }, version: entry.version + 2 });
    const content = await td.api(`/api/v1/files/${entry.id}/content`);
    expect(await content.text()).toBe("shared bytes");
  });

  it("fetches content the local store released from the share (verified), as syncd restore does", async () => {
    const entry = await upload("synced.txt", "bytes only the share keeps", { label: "s" });
    const synced = await td.api("/api/v1/sync", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(synced.status).toBe(200);
    await td.json(`/api/v1/files/${entry.id}`, { method: "DELETE" });
    const res = await td.api(`/api/v1/files/${entry.id}/restore`, { method: "POST" });
    expect(res.status).toBe(200);
    expect((await res.json()) as EntryJson).toMatchObject({ id: entry.id, deleted: false, name: "synced.txt", meta: { label: "s" } });
    const content = await td.api(`/api/v1/files/${entry.id}/content`);
    expect(await content.text()).toBe("bytes only the share keeps");
  });

  it("needs the token, like every route of the library", async () => {
    const entry = await upload("guarded.txt", "guarded");
    await td.json(`/api/v1/files/${entry.id}`, { method: "DELETE" });
    const res = await td.api(`/api/v1/files/${entry.id}/restore`, { method: "POST", auth: false });
    expect(res.status).toBe(401);
    expect((await td.json<EntryJson>(`/api/v1/files/${entry.id}`)).deleted).toBe(true);
  });

  it("answers 404 for an unknown id and 409 when the content is not available", async () => {
    const missing = await td.api("/api/v1/files/01NOSUCHENTRY0000000000000/restore", { method: "POST" });
    expect(missing.status).toBe(404);
    const lone = await upload("lone.txt", "only copy, never synced");
    await td.json(`/api/v1/files/${lone.id}`, { method: "DELETE" });
    const res = await td.api(`/api/v1/files/${lone.id}/restore`, { method: "POST" });
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("content-unavailable");
    expect(body.error.message).toContain(lone.id);
    expect((await td.json<EntryJson>(`/api/v1/files/${lone.id}`)).deleted).toBe(true);
  });
});
