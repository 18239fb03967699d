/**
 * The embedded share's file system: webdav-server's PhysicalFileSystem, except that a file's new content
 * replaces the old one whole, and only once its request has delivered all of it.
 *
 * Why: webdav-server creates the file empty, opens it with truncation and pipes the request body in. A client
 * that dies halfway through a PUT (a SIGKILLed sync, a dropped connection) left a truncated file under the
 * final name, answered 200 (measured: 400,000 of 1,000,000 bytes kept); and while a file was being rewritten
 * a reader saw it empty or partial. On a content-addressed share "immutable once written" (SPEC §3) neither
 * may happen. Here the body goes to a hidden temporary file beside the target (same folder, so the rename is
 * atomic on every file system), which is renamed over the target when the request is complete and removed
 * otherwise; a new file does not exist before its content is complete. Listings never show those temporary
 * files.
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, rename, unlink } from "node:fs";
import type { IncomingMessage } from "node:http";
import { basename, dirname, join } from "node:path";
import { Writable } from "node:stream";
import { v2 } from "webdav-server";

const PART_MARK = ".syncd-part-";
/** A temporary upload of this file system: `.<name>.syncd-part-<uuid>`. */
const isPart = (name: string) => name.startsWith(".") && name.includes(PART_MARK);
/** webdav-server's callbacks type their error as `Error`, and pass nothing there on success. */
const NO_ERROR = undefined as unknown as Error;

export class AtomicFileSystem extends v2.PhysicalFileSystem {
  /**
   * A file that a PUT creates appears when its content is complete, never as the empty placeholder
   * webdav-server makes first: an aborted upload would leave that placeholder behind, and removing it
   * afterwards would race a retried upload of the same file (check-then-delete: in the faults test a retried
   * metadata.db.tmp-* upload was removed just before its MOVE). Other creations (a COPY's target) keep it.
   */
  protected override _create(path: v2.Path, ctx: v2.CreateInfo, callback: v2.SimpleCallback): void {
    const request = (ctx.context as Partial<v2.HTTPRequestContext>).request;
    if (ctx.type.isDirectory || request?.method !== "PUT") return super._create(path, ctx, callback);
    this.resources[path.toString()] ??= new v2.PhysicalFileSystemResource();
    callback();
  }

  protected override _openWriteStream(path: v2.Path, ctx: v2.OpenWriteStreamInfo, callback: v2.ReturnCallback<Writable>): void {
    const { realPath } = this.getRealPath(path);
    this.resources[path.toString()] ??= new v2.PhysicalFileSystemResource();
    const request = (ctx.context as Partial<v2.HTTPRequestContext>).request as IncomingMessage | undefined;
    const expected = ctx.estimatedSize >= 0 ? ctx.estimatedSize : null;
    const part = join(dirname(realPath), `.${basename(realPath)}${PART_MARK}${randomUUID()}`);
    const file = createWriteStream(part, { flags: "wx" });
    let written = 0;
    let settled = false;
    const discard = (err: Error | null, done: (err?: Error | null) => void) => {
      // Only our own temporary file: the target is never touched by a failed write.
      const cleanUp = () => unlink(part, () => done(err));
      if (file.closed) return cleanUp();
      file.once("close", cleanUp);
      file.destroy();
    };
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.length;
        file.write(chunk, done);
      },
      final(done) {
        settled = true;
        file.end(() => {
          // An ended body stream is not proof of a complete upload: the request itself says whether all of
          // it arrived, and its Content-Length how much that is.
          const incomplete = (request !== undefined && !request.complete) || (expected !== null && written !== expected);
          if (incomplete) return discard(new Error(`upload incomplete: ${written} of ${expected ?? "?"} bytes`), done);
          rename(part, realPath, (err) => (err ? discard(err, done) : done()));
        });
      },
      destroy(err, done) {
        if (settled) return done(err);
        settled = true;
        discard(err, () => done(err));
      },
    });
    // webdav-server pipes the body in and never ends or destroys this stream when the client goes away
    // before the body has reached it: cut short, or received whole but still buffered in the request when
    // the connection closed (seen in the kill test under load: a complete request whose body never ended the
    // pipe). A request that closes before it ended this stream takes the temporary file (and its
    // descriptor) with it.
    const abortIfCut = () => {
      if (!stream.writableEnded) stream.destroy(new Error("upload aborted by the client"));
    };
    if (request?.closed) process.nextTick(abortIfCut);
    else request?.once("close", abortIfCut);
    let opened = false;
    file.once("open", () => {
      opened = true;
      callback(NO_ERROR, stream);
    });
    file.once("error", (err) => (opened ? stream.destroy(err) : callback(v2.Errors.ResourceNotFound)));
  }

  protected override _readDir(path: v2.Path, ctx: v2.ReadDirInfo, callback: v2.ReturnCallback<string[] | v2.Path[]>): void {
    super._readDir(path, ctx, (err, names) => {
      if (err || !names) return callback(err, names);
      callback(err, (names as Array<string | v2.Path>).filter((n) => !isPart(n.toString())) as string[]);
    });
  }
}
