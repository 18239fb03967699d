import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IntegrityError } from "../../src/errors.js";
import { RemoteError } from "../../src/remote/errors.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "../../src/remote/remote.js";
import { BlobStore } from "../../src/store/blob-store.js";
import { PhaseProgress } from "../../src/sync/events.js";
import { dataPath } from "../../src/share/layout.js";
import { downloadFiles, uploadFiles, type DataFile, type DataProblem } from "../../src/sync/transfer.js";

/**
 * A share that, like a real server, answers a PUT as soon as it has Content-Length bytes and then drops the
 * body: whatever the body stream would still have said (its 'end') is never waited for.
 */
function answeringEarly(): Remote & { stored: Map<string, Buffer> } {
  const stored = new Map<string, Buffer>();
  const readExactly = async (stream: Readable, size: number): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let got = 0;
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= size) break; // answers here: the loop's exit destroys the stream
    }
    return Buffer.concat(chunks).subarray(0, size);
  };
  const stat = (path: string): RemoteStat | null => {
    const data = stored.get(path);
    return data ? { path, name: path.slice(path.lastIndexOf("/") + 1), type: "file", size: data.length, mtime: new Date(), etag: null } : null;
  };
  return {
    location: "memory:",
    stored,
    async get() {
      throw new Error("not used");
    },
    async getStream(path: string) {
      const data = stored.get(path);
      if (!data) throw new RemoteError("not-found", "GET", `memory:/${path}`, "404 Not Found.", { status: 404 });
      return Readable.from([data]);
    },
    async put(path: string, body: Buffer | StreamBody) {
      stored.set(path, Buffer.isBuffer(body) ? body : await readExactly(body.open(), body.size));
    },
    async delete() {},
    async move() {},
    async mkdir() {},
    async stat(path: string) {
      return stat(path);
    },
    async list(dir: string): Promise<Listing> {
      const entries = [...stored.keys()].filter((p) => p.startsWith(`${dir}/`)).map((p) => stat(p) as RemoteStat);
      return { entries, serverDate: new Date() };
    },
    async close() {},
  };
}

let root: string;
let blobs: BlobStore;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "syncd-transfer-"));
  blobs = new BlobStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const progress = () => new PhaseProgress(() => {}, "upload", 0, 0);

describe("uploadFiles", () => {
  it("finishes when the server answers before the local file stream has ended (it used to wait forever)", async () => {
    const files = await Promise.all(["a", "bb", "x".repeat(200_000)].map((s) => blobs.writeBuffer(Buffer.from(s))));
    const remote = answeringEarly();
    const bytes = await uploadFiles(remote, blobs, files, { concurrency: 2, beforeWrite: () => {}, progress: progress() });
    expect(bytes).toBe(files.reduce((n, f) => n + f.size, 0));
    for (const f of files) expect(remote.stored.get(`${f.hash.slice(0, 2)}/${f.hash}`)?.length).toBe(f.size);
  });

  it("refuses to upload a local blob whose bytes no longer match its hash", async () => {
    const good = await blobs.writeBuffer(Buffer.from("original"));
    const bad = await blobs.writeBuffer(Buffer.from("tampered"));
    const remote = answeringEarly();
    // The blob stored under `good`'s name has other bytes of the same length.
    const forged = { hash: good.hash, size: good.size };
    rmSync(blobs.path(good.hash));
    renameSync(blobs.path(bad.hash), blobs.path(good.hash));
    await expect(uploadFiles(remote, blobs, [forged], { concurrency: 1, beforeWrite: () => {}, progress: progress() })).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });
});

const sha = (data: string) => createHash("sha256").update(data).digest("hex");

describe("sizes are checked wherever the bytes are", () => {
  it("an upload whose entry's size is not the held blob's is refused before anything is sent", async () => {
    const blob = await blobs.writeBuffer(Buffer.from("ten bytes!"));
    const remote = answeringEarly();
    const lying = { hash: blob.hash, size: 999 };
    await expect(uploadFiles(remote, blobs, [lying], { concurrency: 1, beforeWrite: () => {}, progress: progress() })).rejects.toThrow(
      /holds 10 bytes but its entry says 999/,
    );
    expect(remote.stored.size).toBe(0);
  });

  it("a download whose row's size lies keeps the bytes that hash right, at their own size", async () => {
    const remote = answeringEarly();
    remote.stored.set(dataPath(sha("ten bytes!")), Buffer.from("ten bytes!"));
    remote.stored.set(dataPath(sha("other")), Buffer.from("other"));
    const files = [
      { hash: sha("ten bytes!"), size: 4 },
      { hash: sha("other"), size: 500 },
    ];
    const bytes = await downloadFiles(remote, blobs, files, { concurrency: 2, progress: progress() });
    expect(bytes).toBe(15);
    expect([blobs.sizeOf(sha("ten bytes!")), blobs.sizeOf(sha("other"))]).toEqual([10, 5]);
  });
});

describe("downloadFiles with onUnavailable", () => {
  it("reports missing and damaged files and downloads the others; network failures still fail", async () => {
    const remote = answeringEarly();
    remote.stored.set(dataPath(sha("fine")), Buffer.from("fine"));
    remote.stored.set(dataPath(sha("damaged")), Buffer.from("DAMAGED"));
    const reported: Array<[string, DataProblem["kind"]]> = [];
    const files: DataFile[] = [
      { hash: sha("missing"), size: 7 },
      { hash: sha("damaged"), size: 7 },
      { hash: sha("fine"), size: 4 },
    ];
    const onUnavailable = (file: DataFile, problem: DataProblem) => void reported.push([file.hash, problem.kind]);
    await downloadFiles(remote, blobs, files, { concurrency: 1, progress: progress(), onUnavailable });
    expect(reported).toEqual([
      [sha("missing"), "missing"],
      [sha("damaged"), "damaged"],
    ]);
    expect(blobs.has(sha("fine"))).toBe(true);
    expect(blobs.has(sha("damaged"))).toBe(false);

    remote.getStream = async () => {
      throw new RemoteError("network", "GET", "memory:/x", "connection reset.");
    };
    await expect(downloadFiles(remote, blobs, [{ hash: sha("other"), size: 5 }], { concurrency: 1, progress: progress(), onUnavailable })).rejects.toThrow(
      /connection reset/,
    );
  });
});
