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
import { TransferProgress } from "../../src/sync/transfer-progress.js";
import { dataPath } from "../../src/share/layout.js";
import { ShareError } from "../../src/errors.js";
import { downloadFiles, notWhole, uploadBatches, uploadFiles, worthListing, type DataFile, type DataProblem, type UploadOptions } from "../../src/sync/transfer.js";

/**
 * A share that, like a real server, answers a PUT as soon as it has Content-Length bytes and then drops the
 * body: whatever the body stream would still have said (its 'end') is never waited for. Like a real server
 * too, it refuses a PUT into a folder that does not exist (409). `calls` counts requests by method name;
 * `store` can make it keep other bytes than it was sent (a server that stores a body short, with a 2xx).
 */
function answeringEarly(): Remote & {
  stored: Map<string, Buffer>;
  dirs: Set<string>;
  calls: Record<string, number>;
  store: (path: string, body: Buffer) => Buffer | null;
  unlisted: Set<string>;
} {
  const stored = new Map<string, Buffer>();
  const dirs = new Set<string>([""]);
  const calls: Record<string, number> = {};
  const count = (op: string) => void (calls[op] = (calls[op] ?? 0) + 1);
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
  const remote = {
    location: "memory:",
    stored,
    dirs,
    calls,
    store: (_path: string, body: Buffer): Buffer | null => body,
    /** Files that listings leave out (rclone's lazy listings). */
    unlisted: new Set<string>(),
    async get(): Promise<Buffer> {
      throw new Error("not used");
    },
    async getStream(path: string) {
      const data = stored.get(path);
      if (!data) throw new RemoteError("not-found", "GET", `memory:/${path}`, "404 Not Found.", { status: 404 });
      return Readable.from([data]);
    },
    async put(path: string, body: Buffer | StreamBody) {
      count("put");
      const bytes = Buffer.isBuffer(body) ? body : await readExactly(body.open(), body.size);
      if (!dirs.has(path.slice(0, path.lastIndexOf("/")))) throw new RemoteError("conflict", "PUT", `memory:/${path}`, "409 Conflict.", { status: 409 });
      const kept = remote.store(path, bytes);
      if (kept) stored.set(path, kept);
    },
    async delete() {},
    async move() {},
    async mkdir(path: string) {
      count("mkdir");
      dirs.add(path);
    },
    async stat(path: string) {
      count("stat");
      return stat(path);
    },
    async list(dir: string): Promise<Listing> {
      count("list");
      const entries = [...stored.keys()].filter((p) => p.startsWith(`${dir}/`)).map((p) => stat(p) as RemoteStat);
      return { entries, serverDate: new Date() };
    },
    async size(path: string) {
      count("size");
      return stored.get(path)?.length ?? null;
    },
    async sizes(dir: string) {
      count("sizes");
      const listed = [...stored].filter(([p]) => p.startsWith(`${dir}/`) && !remote.unlisted.has(p));
      return new Map(listed.map(([p, data]) => [p.slice(dir.length + 1), data.length]));
    },
    async close() {},
  };
  return remote;
}

let root: string;
let blobs: BlobStore;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "syncd-transfer-"));
  blobs = new BlobStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const progress = () => new TransferProgress(() => {}, "upload", []);

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

/** `count` blobs in the local store whose hashes all fall in the data folder `dir`. */
async function blobsIn(dir: string, count: number): Promise<DataFile[]> {
  const out: DataFile[] = [];
  for (let i = 0; out.length < count; i++) {
    const body = Buffer.from(`${dir} file ${i} ${"x".repeat(i % 50)}`);
    if (sha(body.toString()).startsWith(dir)) out.push(await blobs.writeBuffer(body));
  }
  return out;
}

const upload = (remote: Remote, files: DataFile[], extra: Partial<UploadOptions> = {}) =>
  uploadFiles(remote, blobs, files, { concurrency: 3, beforeWrite: () => {}, progress: progress(), ...extra });

describe("verifying uploads (issue 13: the fewest bytes on the wire)", () => {
  it("a first upload, its files most of their folders, lists each folder once and checks no file by itself", async () => {
    const files = [...(await blobsIn("0a", 30)), ...(await blobsIn("0b", 20))];
    const remote = answeringEarly();
    await upload(remote, files, { expectedFolderSize: 0 });
    expect(remote.calls).toMatchObject({ put: 50, mkdir: 2, sizes: 2 });
    expect(remote.calls.size ?? 0).toBe(0);
    expect(remote.calls.list ?? 0).toBe(0);
  });

  it("an upload into a big share's folder checks the file by itself, never listing the folder", async () => {
    const [file] = await blobsIn("0c", 1);
    const remote = answeringEarly();
    await upload(remote, [file!], { expectedFolderSize: 4000 });
    expect(remote.calls).toMatchObject({ put: 1, size: 1 });
    expect(remote.calls.sizes ?? 0).toBe(0);
    expect(remote.calls.list ?? 0).toBe(0);
  });

  it("without an estimate of the share's size, files are checked one by one (never an unbounded listing)", async () => {
    const files = await blobsIn("0d", 12);
    const remote = answeringEarly();
    await upload(remote, files);
    expect(remote.calls).toMatchObject({ size: 12 });
    expect(remote.calls.sizes ?? 0).toBe(0);
  });

  it.each([
    ["listed", 0],
    ["checked one by one", 4000],
  ])("a file the server stored short with a 2xx fails the upload (folder %s)", async (_how, expectedFolderSize) => {
    const files = await blobsIn("0e", 10);
    const remote = answeringEarly();
    const victim = files[4]!;
    remote.store = (path, body) => (path === dataPath(victim.hash) ? body.subarray(0, 3) : body);
    const err = await upload(remote, files, { expectedFolderSize }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShareError);
    expect((err as ShareError).code).toBe("upload-unverified");
    expect((err as Error).message).toBe(`The server stored memory:/${dataPath(victim.hash)} with 3 bytes instead of ${victim.size}.`);
  });

  it.each([
    ["listed", 0],
    ["checked one by one", 4000],
  ])("a file the server stored empty or not at all fails the upload (folder %s)", async (_how, expectedFolderSize) => {
    const files = await blobsIn("0f", 10);
    const remote = answeringEarly();
    remote.store = (path, body) => (path === dataPath(files[2]!.hash) ? Buffer.alloc(0) : path === dataPath(files[7]!.hash) ? null : body);
    const err = await upload(remote, files, { expectedFolderSize }).catch((e: unknown) => e);
    expect((err as ShareError).code).toBe("upload-unverified");
    const [first] = [files[2]!, files[7]!].sort((x, y) => (x.hash < y.hash ? -1 : 1));
    expect((err as Error).message).toMatch(first === files[2] ? / with 0 bytes instead of / : / with no bytes instead of /);
  });

  it("a file a listing left out (rclone lists lazily) is asked for directly, not taken as missing", async () => {
    const files = await blobsIn("10", 20);
    const remote = answeringEarly();
    remote.unlisted.add(dataPath(files[5]!.hash));
    await upload(remote, files, { expectedFolderSize: 0 });
    expect(remote.calls).toMatchObject({ sizes: 1, size: 1 });
  });

  it("a HEAD that gives a wrong length is asked again by PROPFIND before the upload fails", async () => {
    const files = await blobsIn("13", 2);
    const remote = answeringEarly();
    remote.size = async () => 0; // an application answering HEAD without running its GET
    await upload(remote, files, { expectedFolderSize: 4000 });
    expect(remote.calls.stat).toBe(2);
    remote.store = (path, body) => (path === dataPath(files[0]!.hash) ? body.subarray(0, 1) : body);
    await expect(upload(remote, [files[0]!], { expectedFolderSize: 4000 })).rejects.toThrow(/ with 1 bytes instead of /);
  });

  it("notWhole keeps its contract either way: the files not held whole, with what was found, in hash order", async () => {
    const files = [...(await blobsIn("11", 8)), ...(await blobsIn("12", 1))];
    const remote = answeringEarly();
    await upload(remote, files, { expectedFolderSize: 0 });
    const [short, gone, elsewhere] = [files[1]!, files[6]!, files[8]!];
    remote.stored.set(dataPath(short.hash), Buffer.from("ab"));
    remote.stored.delete(dataPath(gone.hash));
    remote.stored.delete(dataPath(elsewhere.hash));
    const expected = [
      { file: short, found: 2 },
      { file: gone, found: null },
      { file: elsewhere, found: null },
    ].sort((x, y) => (x.file.hash < y.file.hash ? -1 : 1));
    for (const expectedFolderSize of [undefined, 0, 4000]) {
      expect(await notWhole(remote, files, 2, { expectedFolderSize })).toEqual(expected);
    }
    expect(await notWhole(remote, files, 2)).toEqual(expected); // the engine's old call, without options
  });

  it("a folder is listed when that costs fewer bytes than checking its files one by one", () => {
    expect(worthListing(1, 0)).toBe(false); // one HEAD beats a listing of even an empty folder
    expect(worthListing(10, 0)).toBe(true);
    expect(worthListing(390, 0)).toBe(true); // a first upload of 100,000 files
    expect(worthListing(3900, 0)).toBe(true); // ... of a million
    expect(worthListing(4, 390)).toBe(false); // a few files into a 100,000-file share
    expect(worthListing(1000, 390)).toBe(true);
    expect(worthListing(10_000, undefined)).toBe(false);
  });
});

describe("data folders", () => {
  it("a folder known to exist gets no MKCOL", async () => {
    const files = await blobsIn("20", 3);
    const remote = answeringEarly();
    remote.dirs.add("20");
    await upload(remote, files, { folderExists: (dir) => dir === "20" });
    expect(remote.calls.mkdir ?? 0).toBe(0);
    expect(remote.calls.put).toBe(3);
  });

  it("a folder thought to exist but missing is created when a PUT into it fails, once, and the PUTs are sent again", async () => {
    const files = await blobsIn("21", 4);
    const remote = answeringEarly();
    await upload(remote, files, { folderExists: () => true, expectedFolderSize: 0 });
    expect(remote.calls.mkdir).toBe(1);
    for (const f of files) expect(remote.stored.get(dataPath(f.hash))?.length).toBe(f.size);
  });

  it("a PUT refused for another reason after its folder was created is not sent again", async () => {
    const [file] = await blobsIn("22", 1);
    const remote = answeringEarly();
    const put = remote.put.bind(remote);
    remote.put = async (path, body) => {
      await put(path, body);
      throw new RemoteError("conflict", "PUT", `memory:/${path}`, "409 Conflict.", { status: 409 });
    };
    await expect(upload(remote, [file!])).rejects.toThrow(/409 Conflict/);
    expect(remote.calls).toMatchObject({ mkdir: 1, put: 1 });
  });
});

describe("uploadBatches", () => {
  const file = (dir: string, i: number): DataFile => ({ hash: `${dir}${String(i).padStart(62, "0")}`, size: 1 });

  it("keeps each folder's files in one batch, of at most 256 files unless one folder alone holds more", () => {
    const files = [
      ...Array.from({ length: 200 }, (_, i) => file("00", i)),
      ...Array.from({ length: 100 }, (_, i) => file("01", i)),
      ...Array.from({ length: 300 }, (_, i) => file("02", i)),
      ...Array.from({ length: 50 }, (_, i) => file("03", i)),
    ].reverse();
    const batches = uploadBatches(files);
    expect(batches.map((b) => b.length)).toEqual([200, 100, 300, 50]);
    expect(batches.flat().map((f) => f.hash)).toEqual(files.map((f) => f.hash).sort());
    const small = Array.from({ length: 600 }, (_, i) => file((i % 200).toString(16).padStart(2, "0"), i));
    expect(uploadBatches(small).map((b) => b.length)).toEqual([255, 255, 90]);
  });
});
