import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IntegrityError } from "../../src/errors.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "../../src/remote/remote.js";
import { BlobStore } from "../../src/store/blob-store.js";
import { PhaseProgress } from "../../src/sync/events.js";
import { uploadFiles } from "../../src/sync/transfer.js";

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
    async getStream() {
      throw new Error("not used");
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
