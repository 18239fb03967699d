/**
 * COPY with `Overwrite: F` onto an existing resource must fail with 412 (RFC 4918 §9.8.4). webdav-server
 * checks that through its file system's optional `_fastExistCheck`, which PhysicalFileSystem does not have,
 * so it overwrites. (MOVE is right: PhysicalFileSystem's own move checks.) The destination is looked up
 * here the way webdav-server's COPY reads it, on the folder it serves.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { v2 } from "webdav-server";
import type { Refusal } from "./share-policy.js";

export function copyCheck(dir: string, mount: string): (ctx: v2.HTTPRequestContext) => Promise<Refusal | null> {
  return async (ctx) => {
    // Only an explicit F: webdav-server takes a missing header as F for MOVE but overwrites on COPY.
    if (ctx.headers.find("overwrite")?.toUpperCase() !== "F") return null;
    // As webdav-server's COPY: drop scheme and host, then the mount path (share-policy.ts has checked both).
    let destination = ctx.headers.find("destination") ?? "";
    const scheme = destination.indexOf("://");
    if (scheme >= 0) {
      destination = destination.slice(scheme + 3);
      destination = destination.slice(destination.indexOf("/"));
    }
    if (mount !== "" && destination.startsWith(mount)) destination = destination.slice(mount.length);
    const path = new v2.Path(destination);
    path.decode();
    if (path.resolve()) return null; // webdav-server refuses it itself
    const exists = await stat(join(dir, path.toString())).then(
      () => true,
      () => false,
    );
    return exists ? { status: 412, code: "destination-exists", message: "The Destination exists and Overwrite is F." } : null;
  };
}
