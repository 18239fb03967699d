/**
 * Entries added to a test instance's library the way `syncd add` adds them (CLI context: openLibrary with the
 * config's dataDir and instanceName, then library.add), without a process per entry: for tests whose subject
 * is what comes after (check, repair), where each `syncd add` process cost ~0.4 s of CPU (cli.test.ts and
 * sync-cli.test.ts test the command itself).
 */
import { join } from "node:path";
import { openLibrary } from "../../src/store/library.js";
import type { TestInstance } from "./cli.js";

/** Adds `entries` (name → content) to `inst`'s library, in order; returns their ids in the same order. */
export async function addEntries(inst: TestInstance, entries: Array<[name: string, content: string]>): Promise<string[]> {
  const library = await openLibrary(join(inst.dir, "data"), { instanceName: inst.name });
  try {
    const ids: string[] = [];
    for (const [name, content] of entries) ids.push((await library.add({ source: Buffer.from(content), name })).id);
    return ids;
  } finally {
    library.close();
  }
}

/** One entry (see addEntries); returns its id. */
export async function addEntry(inst: TestInstance, name: string, content: string): Promise<string> {
  const [id] = await addEntries(inst, [[name, content]]);
  return id!;
}
