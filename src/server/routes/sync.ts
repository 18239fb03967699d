/** Sync status, runs and conflicts (SPEC §6). */
import { Hono } from "hono";
import { z } from "zod";
import { entryJson } from "../../cli/output.js";
import type { Entry } from "../../model/entry.js";
import { listOpenConflicts } from "../../store/conflicts.js";
import type { Library } from "../../store/library.js";
import { RESOLVE_STRATEGIES } from "../../store/resolve.js";
import type { AppEnv } from "../app.js";
import { readJson } from "../body.js";

/** store/resolve.ts's resolveConflict, as the API uses it. */
export type ResolveFn = (library: Library, conflictId: string, strategy: string) => { entry: Entry; copy: Entry | null };

const syncBody = z.strictObject({ force: z.boolean().optional() });
const resolveBody = z.strictObject({ id: z.string().min(1).max(200), strategy: z.enum(RESOLVE_STRATEGIES) });

export function syncRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  // `syncd status --json`, plus what the scheduler knows (running, next run, recent runs).
  r.get("/status", async (c) => {
    const { status, scheduler, library } = c.get("deps");
    const entries = library.counts(); // kept by triggers: no scan
    return c.json({
      ...(await status()),
      daemon: { ...scheduler.status(), instance: { name: library.instanceName, id: library.instanceId }, entries: { live: entries.live, deleted: entries.tombstones } },
    });
  });

  r.post("/", async (c) => {
    const { scheduler } = c.get("deps");
    const body = await readJson(c, syncBody, { allowEmpty: true });
    return c.json(await scheduler.trigger({ force: body.force ?? false, reason: "manual" }));
  });

  r.get("/conflicts", (c) => c.json(listOpenConflicts(c.get("deps").library.db)));

  r.post("/resolve-conflict", async (c) => {
    const { library, resolveConflict, scheduler } = c.get("deps");
    const body = await readJson(c, resolveBody);
    const result = resolveConflict(library, body.id, body.strategy);
    scheduler.notifyWrite();
    return c.json({ id: body.id, strategy: body.strategy, entry: entryJson(result.entry), copy: result.copy ? entryJson(result.copy) : null });
  });
  return r;
}
