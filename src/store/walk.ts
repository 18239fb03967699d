import { lstat, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SyncdError } from "../errors.js";

export interface FoundFile {
  /** Absolute (or cwd-relative, as `dir` was given) path on disk. */
  path: string;
  /** Path relative to the walked directory, with `/` separators whatever the platform. */
  name: string;
  size: number;
}

/**
 * Every regular file under `dir`, recursively, sorted by name. Symbolic links are skipped, not followed:
 * following them could leave `dir` or loop, and a link is not library content. Sockets, FIFOs and devices
 * are skipped too.
 */
export async function listFiles(dir: string, opts: { skipDirs?: string[] } = {}): Promise<FoundFile[]> {
  // Never descend into these (the library's own data directory: importing it would import the database).
  const skip = new Set((opts.skipDirs ?? []).map((d) => resolve(d)));
  const top = await lstat(dir).catch((err: unknown) => {
    throw new SyncdError("source-unreadable", `Cannot read the directory ${dir}: ${(err as { code?: string }).code ?? String(err)}.`, {
      cause: err,
    });
  });
  // The directory the user named may itself be a link (e.g. ~/Documents): only links found inside are skipped.
  if (!top.isDirectory() && !top.isSymbolicLink()) {
    throw new SyncdError("source-unreadable", `${dir} is not a directory.`);
  }
  const found: FoundFile[] = [];
  const stack: Array<{ path: string; name: string }> = [{ path: dir, name: "" }];
  while (stack.length > 0) {
    const current = stack.pop() as { path: string; name: string };
    for (const dirent of await readdir(current.path, { withFileTypes: true })) {
      const path = join(current.path, dirent.name);
      const name = current.name === "" ? dirent.name : `${current.name}/${dirent.name}`;
      if (dirent.isDirectory()) {
        if (!skip.has(resolve(path))) stack.push({ path, name });
      }
      else if (dirent.isFile()) found.push({ path, name, size: (await lstat(path)).size });
    }
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
