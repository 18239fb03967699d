/**
 * The package as an application gets it (SPEC §7): `npm pack`, then a scratch ESM project that depends on
 * the tarball imports "syncd". This checks what only the tarball shows: `exports`, `types` and `files`
 * (declarations shipped, internals unreachable, tests left out).
 *
 * The tarball is unpacked into the scratch project's node_modules and its runtime dependencies are linked
 * from this checkout's: `npm install` of the tarball would fetch them again and compile better-sqlite3 for
 * minutes (scripts/install.sh does that for real, and CI runs it). The example the README shows
 * (examples/embed.ts) is typechecked (strict, nodenext, library declarations checked too) and run, once on
 * a real WebDAV server and once on its embedded share.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a non-zero exit is a result to assert on, not an exception. */
async function exec(file: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; replaceEnv?: boolean }): Promise<Result> {
  const env = opts.replaceEnv ? opts.env : { ...process.env, ...opts.env };
  try {
    const { stdout, stderr } = await run(file, args, { cwd: opts.cwd, env, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
  }
}

function link(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  symlinkSync(from, to, "dir");
}

describe("the packed tarball, imported from a scratch project", () => {
  let work: string;
  let scratch: string;
  let packed: string[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "syncd-pack-"));
    // --ignore-scripts: dist/ is already built (test/global-setup.ts); `prepare` would rebuild it under the
    // feet of the test files running side by side.
    const pack = await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: ROOT });
    expect(pack.code, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (!info) throw new Error(`npm pack printed no tarball: ${pack.stdout}`);
    packed = info.files.map((f) => f.path);

    scratch = join(work, "scratch");
    const installed = join(scratch, "node_modules/syncd");
    mkdirSync(installed, { recursive: true });
    const untar = await exec("tar", ["-xzf", join(work, info.filename), "-C", installed, "--strip-components=1"], { cwd: work });
    expect(untar.code, untar.stderr).toBe(0);
    for (const dep of [...Object.keys(pkg.dependencies), "@types/node"]) {
      link(join(ROOT, "node_modules", dep), join(scratch, "node_modules", dep));
    }
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    copyFileSync(join(ROOT, "examples/embed.ts"), join(scratch, "embed.ts"));
    const compilerOptions = {
      strict: true,
      target: "ES2022",
      module: "nodenext",
      moduleResolution: "nodenext",
      types: ["node"],
      // The package's own declarations are checked too: they must stand on their own.
      skipLibCheck: false,
      outDir: "out",
      rootDir: ".",
    };
    writeFileSync(join(scratch, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["embed.ts"] }));
    writeFileSync(
      join(scratch, "internal.ts"),
      'import { openLibrary } from "syncd/dist/store/library.js";\nexport const open: unknown = openLibrary;\n',
    );
    writeFileSync(join(scratch, "tsconfig.internal.json"), JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true }, files: ["internal.ts"] }));
  }, 120_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("ships the compiled code with its declarations, the bin and the unit, and no tests or sources", () => {
    for (const file of ["package.json", "bin/syncd.js", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js", "systemd/syncd.service"]) {
      expect(packed).toContain(file);
    }
    expect(packed.filter((p) => /^(test|src|bench|fixtures|examples|scripts)\/|\.map$/.test(p))).toEqual([]);
  });

  it("the README shows examples/embed.ts word for word, so what people copy is what is checked here", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const example = readFileSync(join(ROOT, "examples/embed.ts"), "utf8").trimEnd();
    expect(readme).toContain("```ts\n" + example + "\n```");
  });

  it("typechecks the README's example against the declarations (strict, nodenext)", async () => {
    const tsc = await exec(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: scratch });
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.code).toBe(0);
    expect(existsSync(join(scratch, "out/embed.js"))).toBe(true);
  }, 60_000);

  it("keeps the internals out of reach: only the package's entry point resolves", async () => {
    const tsc = await exec(process.execPath, [TSC, "-p", "tsconfig.internal.json"], { cwd: scratch });
    expect(tsc.code).not.toBe(0);
    expect(tsc.stdout).toMatch(/internal\.ts.*syncd\/dist\/store\/library\.js/);
    const node = await exec(process.execPath, ["--input-type=module", "-e", 'await import("syncd/dist/store/library.js")'], { cwd: scratch });
    expect(node.stderr).toContain("ERR_PACKAGE_PATH_NOT_EXPORTED");
  }, 60_000);

  describe("the example, run", () => {
    let server: DavServer | undefined;

    afterAll(async () => {
      await server?.close();
    });

    it("adds an entry and syncs it to a WebDAV server, reporting the upload's progress", async () => {
      server = await startDavServer({ username: "app", password: "secret" });
      const dir = await mkdtemp(join(work, "run-dav-"));
      const env = { SYNCD_WEBDAV_URL: server.url, SYNCD_WEBDAV_USERNAME: "app", SYNCD_WEBDAV_PASSWORD: "secret" };
      const result = await exec(process.execPath, [join(scratch, "out/embed.js")], { cwd: dir, env });
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe("synced notes/hello.txt: 1 uploaded (6 bytes), share version 1\n");
      expect(result.code).toBe(0);
      expect(existsSync(join(dir, "syncd-data/library.db"))).toBe(true);
      expect(server.count({ method: "PUT" })).toBeGreaterThan(0);
      expect(await readdir(server.dir)).not.toEqual([]);
    }, 60_000);

    it("syncs to the embedded share when the configuration names no server", async () => {
      const dir = await mkdtemp(join(work, "run-embedded-"));
      const env = { ...process.env };
      for (const name of ["SYNCD_WEBDAV_URL", "SYNCD_WEBDAV_USERNAME", "SYNCD_WEBDAV_PASSWORD"]) delete env[name];
      const result = await exec(process.execPath, [join(scratch, "out/embed.js")], { cwd: dir, env, replaceEnv: true });
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe("synced notes/hello.txt: 1 uploaded (6 bytes), share version 1\n");
      expect(result.code).toBe(0);
      expect(await readdir(join(dir, "syncd-data/share"))).not.toEqual([]);
    }, 60_000);
  });
});
