/**
 * A server that refuses a large body (issue 12): nginx with `client_max_body_size 1m`, as many hosted and
 * NAS set-ups have. The entry whose content is too large gets one sentence that names it, its size and the
 * limit to raise, without a retry loop; every other entry syncs, and once the limit allows it, it syncs too.
 */
import { randomBytes } from "node:crypto";
import { chownSync, cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance } from "../helpers/cli.js";
import { nginxAvailable, startNginx } from "../helpers/nginx.js";
import type { LoggedShare } from "../helpers/access-log.js";
import { webdavConfig } from "../helpers/shares.js";

const credentials = { username: "syncd", password: "pässwörd nginx" };
const run = nginxAvailable() || process.env.CI === "true";

describe.runIf(run)("a share behind nginx's client_max_body_size 1m", () => {
  let limited: LoggedShare;
  beforeAll(async () => {
    limited = await startNginx({ ...credentials, clientMaxBodySize: "1m" });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it("names the entry and the limit, syncs everything else, retries nothing, and syncs it once allowed", { timeout: 60_000 }, async () => {
    const a = makeInstance("limit-a", webdavConfig(limited, "/syncd"));
    const b = makeInstance("limit-b", webdavConfig(limited, "/syncd"));
    try {
      writeFileSync(join(a.dir, "small.txt"), "fits");
      writeFileSync(join(a.dir, "medium.bin"), randomBytes(600_000));
      writeFileSync(join(a.dir, "video.mp4"), randomBytes(3 * 1024 * 1024));
      for (const name of ["small.txt", "medium.bin", "video.mp4"]) await a.ok("add", join(a.dir, name));
      limited.reset();
      const r = await a.run("sync");
      expect(r.code, r.stderr).toBe(1);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("syncd: "));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /^syncd: Synced everything else \(share version \d+\), but the server refused the content of 1 entry as too large \(413\): "video\.mp4" \(3\.0 MiB\); its limit lies between 586 KiB \(the largest file it stored\) and 3\.0 MiB\. Raise the server's upload limit \(nginx client_max_body_size/,
      );
      expect(r.stderr).not.toMatch(/attempt|retry|\n\s+at /);
      // One PUT of the large file, not a retry loop.
      const bigPuts = limited.requests().filter((q) => q.method === "PUT" && q.status === 413);
      expect(bigPuts).toHaveLength(1);

      await b.ok("sync");
      const names = (await b.json<Array<{ name: string }>>("ls")).map((e) => e.name).sort();
      expect(names).toEqual(["medium.bin", "small.txt"]);
      const status = await a.json<{ unsynced: number }>("status");
      expect(status.unsynced).toBe(1);

      // The operator raises the limit: the same folder, served by an nginx without one; a points at it.
      const open = await startNginx(credentials);
      const b2 = makeInstance("limit-b2", webdavConfig(open, "/syncd"));
      try {
        copyOwned(limited.dir, open.dir);
        const config = JSON.parse(readFileSync(a.configPath, "utf8")) as { webdav: Record<string, unknown> };
        writeFileSync(a.configPath, JSON.stringify({ ...config, webdav: webdavConfig(open, "/syncd") }));
        await a.ok("sync");
        await b2.ok("sync");
        expect((await b2.json<Array<{ name: string }>>("ls")).map((e) => e.name).sort()).toEqual(["medium.bin", "small.txt", "video.mp4"]);
      } finally {
        rmSync(b2.dir, { recursive: true, force: true });
        await open.close();
      }
    } finally {
      for (const i of [a, b]) rmSync(i.dir, { recursive: true, force: true });
    }
  });
});

/** Copies a served folder's contents into another's, owned by the server's user as the first one was. */
function copyOwned(from: string, to: string): void {
  for (const name of readdirSync(from)) cpSync(join(from, name), join(to, name), { recursive: true });
  const { uid, gid } = statSync(from);
  const chownAll = (p: string) => {
    chownSync(p, uid, gid);
    if (statSync(p).isDirectory()) for (const n of readdirSync(p)) chownAll(join(p, n));
  };
  chownAll(to);
}
