import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IntegrityError, SyncdError } from "../../src/errors.js";
import { BlobStore } from "../../src/store/blob-store.js";

// Disk-full cannot be produced on demand here (no tiny tmpfs), so file handles opened for a new temp
// file ("wx") can be made to fail their writes with ENOSPC, as the kernel would.
const disk = vi.hoisted(() => ({ full: false }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const open: typeof real.open = async (...args) => {
    const fh = await real.open(...args);
    if (!disk.full || args[1] !== "wx") return fh;
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === "write") {
          return async () => {
            throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
  return { ...real, open, default: { ...real, open } };
});

const sha = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");
let root: string;
let store: BlobStore;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "syncd-blobs-"));
  store = new BlobStore(root);
  disk.full = false;
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Every file under blobs/ and tmp/, relative to root. */
function filesOnDisk(): string[] {
  const out: string[] = [];
  for (const top of ["blobs", "tmp"]) {
    for (const e of readdirSync(join(root, top), { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.push(join(e.parentPath, e.name).slice(root.length + 1));
    }
  }
  return out.sort();
}

describe("BlobStore", () => {
  it("stores content under blobs/<aa>/<sha256>, with no temp file left", async () => {
    const data = Buffer.from("hello world");
    const info = await store.writeBuffer(data);
    expect(info).toEqual({ hash: sha(data), size: data.length });
    expect(store.path(info.hash)).toBe(join(root, "blobs", info.hash.slice(0, 2), info.hash));
    expect(readFileSync(store.path(info.hash))).toEqual(data);
    expect(store.has(info.hash)).toBe(true);
    expect(filesOnDisk()).toEqual([`blobs/${info.hash.slice(0, 2)}/${info.hash}`]);
    expect(await store.verify(info.hash)).toBe(true);
  });

  it("stores identical content once", async () => {
    const a = await store.writeBuffer(Buffer.from("same"));
    const b = await store.writeFromStream(Readable.from([Buffer.from("sa"), Buffer.from("me")]));
    expect(b).toEqual(a);
    expect(filesOnDisk()).toHaveLength(1);
  });

  it("copies a file and reads it back as a stream", async () => {
    const src = join(root, "src.bin");
    writeFileSync(src, "file content");
    const info = await store.writeFromFile(src);
    const chunks: Buffer[] = [];
    for await (const chunk of store.openRead(info.hash)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("file content");
  });

  it("rejects a download whose bytes do not match the expected hash, keeping nothing", async () => {
    const wrong = sha("something else");
    await expect(store.writeFromStream(Readable.from([Buffer.from("evil")]), wrong)).rejects.toBeInstanceOf(IntegrityError);
    expect(filesOnDisk()).toEqual([]);
    expect(store.has(wrong)).toBe(false);
  });

  it("cuts off a stream longer than announced, keeping nothing", async () => {
    const data = Buffer.alloc(1000, 1);
    await expect(store.writeFromStream(Readable.from([data, data]), sha(Buffer.concat([data, data])), 1000)).rejects.toThrow(
      /more than the announced 1000 bytes/,
    );
    expect(filesOnDisk()).toEqual([]);
  });

  it("keeps nothing when the source stream fails half-way", async () => {
    async function* failing() {
      yield Buffer.alloc(1024, 7);
      throw new Error("connection reset");
    }
    await expect(store.writeFromStream(Readable.from(failing()))).rejects.toThrow("connection reset");
    expect(filesOnDisk()).toEqual([]);
  });

  it("streams ~20 MB to disk as it arrives instead of buffering it", async () => {
    const chunk = 64 * 1024;
    const chunks = 320; // 20 MiB
    const hasher = createHash("sha256");
    let produced = 0;
    let maxLag = 0;
    async function* source() {
      for (let i = 0; i < chunks; i++) {
        const [tmp] = readdirSync(join(root, "tmp"));
        const written = tmp ? statSync(join(root, "tmp", tmp)).size : 0;
        maxLag = Math.max(maxLag, produced - written);
        const buf = Buffer.alloc(chunk, i % 251);
        hasher.update(buf);
        produced += chunk;
        yield buf;
      }
    }
    const info = await store.writeFromStream(Readable.from(source()));
    expect(info).toEqual({ hash: hasher.digest("hex"), size: chunk * chunks });
    // Readable.from buffers up to 16 chunks ahead; anything near 20 MiB would mean whole-file buffering.
    expect(maxLag).toBeLessThanOrEqual(32 * chunk);
    expect(await store.verify(info.hash)).toBe(true);
  });

  it("refuses hostile hashes before building any path", async () => {
    for (const bad of ["../../etc/passwd", "AB".repeat(32), "a".repeat(63), `${"a".repeat(62)}/x`, ""]) {
      expect(() => store.path(bad)).toThrow(IntegrityError);
      expect(() => store.has(bad)).toThrow(/Invalid content hash/);
      expect(() => store.remove(bad)).toThrow(IntegrityError);
      await expect(store.writeFromStream(Readable.from([Buffer.from("x")]), bad)).rejects.toThrow(IntegrityError);
    }
    expect(filesOnDisk()).toEqual([]);
  });

  it("verify() spots a corrupted blob and a missing one", async () => {
    const info = await store.writeBuffer(Buffer.from("original"));
    writeFileSync(store.path(info.hash), "tampered");
    expect(await store.verify(info.hash)).toBe(false);
    store.remove(info.hash);
    expect(await store.verify(info.hash)).toBe(false);
    store.remove(info.hash); // missing: ignored
    expect(() => store.openRead(info.hash)).toThrow(/has no data/);
  });

  it("turns a full disk into one clear error and leaves no temp file", async () => {
    disk.full = true;
    const err = await store.writeBuffer(Buffer.from("x".repeat(10_000))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncdError);
    expect((err as SyncdError).code).toBe("disk-full");
    expect((err as Error).message).toMatch(/^Local disk is full while writing /);
    expect(filesOnDisk()).toEqual([]);
  });

  it("reports an unreadable source file clearly", async () => {
    await expect(store.writeFromFile(join(root, "nope"))).rejects.toThrow(`Cannot read ${join(root, "nope")}: ENOENT.`);
    await expect(store.writeFromFile(root)).rejects.toThrow(/is not a regular file/);
    const fifo = join(root, "fifo");
    execFileSync("mkfifo", [fifo]);
    await expect(store.writeFromFile(fifo)).rejects.toThrow(/is not a regular file/); // and does not hang
  });

  it("cleanTemp removes only its own stale temp files", () => {
    const tmp = join(root, "tmp");
    writeFileSync(join(tmp, "blob-old.tmp"), "");
    writeFileSync(join(tmp, "blob-fresh.tmp"), "");
    writeFileSync(join(tmp, "metadata.db.part"), "");
    const old = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(join(tmp, "blob-old.tmp"), old, old);
    store.cleanTemp();
    expect(readdirSync(tmp).sort()).toEqual(["blob-fresh.tmp", "metadata.db.part"]);
    store.cleanTemp(0);
    expect(readdirSync(tmp)).toEqual(["metadata.db.part"]);
  });

  it("cleanTemp(0) also removes a temp file written within the current millisecond", () => {
    // File times carry sub-millisecond digits, Date.now() does not: a file stamped 0.6 ms into "now" once
    // looked newer than now and survived (seen in CI).
    const tmp = join(root, "tmp");
    const now = Date.now();
    writeFileSync(join(tmp, "blob-now.tmp"), "");
    utimesSync(join(tmp, "blob-now.tmp"), (now + 0.6) / 1000, (now + 0.6) / 1000);
    vi.useFakeTimers({ now, toFake: ["Date"] });
    try {
      store.cleanTemp(0);
    } finally {
      vi.useRealTimers();
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});
