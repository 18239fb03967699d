import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, resolveConfigPath, writeInitialConfig } from "../../src/config/load.js";
import { defaultInstanceName } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "syncd-config-"));
  file = join(dir, "syncd.json");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(value: unknown): void {
  writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
}

/** Loads and returns the ConfigError message; fails the test if loading succeeds or throws anything else. */
function failure(env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error("expected loadConfig to fail");
}

describe("loadConfig", () => {
  it("applies every SPEC §4 default to an empty object", () => {
    write({});
    const c = loadConfig(file, {});
    expect(c.configPath).toBe(file);
    expect(c.dataDir).toBe(join(dir, "data"));
    expect(c.instanceName).toBe(defaultInstanceName());
    expect(c.webdav).toEqual({ root: "/syncd", timeoutMs: 30000 });
    expect(c.sync).toEqual({
      intervalSeconds: 60,
      concurrency: 4,
      conflictPolicy: "manual",
      lockTtlSeconds: 60,
      lockWaitSeconds: 30,
      tombstoneRetentionDays: 90,
      maxDeletePercent: 50,
    });
    expect(c.server).toEqual({ host: "127.0.0.1", port: 8384 });
  });

  it("resolves a relative dataDir against the config file's directory, not the cwd", () => {
    write({ dataDir: "../elsewhere/lib" });
    expect(loadConfig(file, {}).dataDir).toBe(resolve(dir, "../elsewhere/lib"));
    write({ dataDir: "/abs/lib" });
    expect(loadConfig(file, {}).dataDir).toBe("/abs/lib");
  });

  it("fills a partial section with its own defaults", () => {
    write({ sync: { concurrency: 8 }, webdav: { url: "https://dav.example/x", root: "/a/b/" } });
    const c = loadConfig(file, {});
    expect(c.sync.concurrency).toBe(8);
    expect(c.sync.lockTtlSeconds).toBe(60);
    expect(c.webdav).toEqual({ url: "https://dav.example/x", root: "/a/b", timeoutMs: 30000 });
  });

  it("rejects an unknown key, naming its full path", () => {
    write({ sync: { intervall: 5 } });
    expect(failure()).toBe(`Unknown key "sync.intervall" in ${file}.`);
    write({ colour: "red" });
    expect(failure()).toBe(`Unknown key "colour" in ${file}.`);
  });

  it("rejects a wrong type with the key and the value it got", () => {
    write({ sync: { concurrency: "four" } });
    expect(failure()).toBe(`Invalid configuration in ${file}: sync.concurrency must be a number (got "four").`);
    write({ webdav: "http://x" });
    expect(failure()).toBe(`Invalid configuration in ${file}: webdav must be an object (got "http://x").`);
    write({ sync: { lockWaitSeconds: 1.5 } });
    expect(failure()).toBe(`Invalid configuration in ${file}: sync.lockWaitSeconds must be an integer (got 1.5).`);
  });

  it("enforces bounds", () => {
    write({ sync: { concurrency: 100 } });
    expect(failure()).toBe(`Invalid configuration in ${file}: sync.concurrency must be at most 64 (got 100).`);
    write({ sync: { lockTtlSeconds: 2 } });
    expect(failure()).toMatch(/sync\.lockTtlSeconds must be at least 5 \(got 2\)\.$/);
    write({ server: { port: 70000 } });
    expect(failure()).toMatch(/server\.port must be at most 65535/);
    write({ server: { host: "" } });
    expect(failure()).toMatch(/server\.host must not be empty\.$/);
    write({ webdav: { url: "ftp://x/y" } });
    expect(failure()).toMatch(/webdav\.url must be an http:\/\/ or https:\/\/ URL \(got "ftp:\/\/x\/y"\)\.$/);
    write({ webdav: { root: "/a/../b" } });
    expect(failure()).toMatch(/webdav\.root must not contain "\." or "\.\." segments/);
    write({ instanceName: "my laptop" });
    expect(failure()).toMatch(/instanceName must be 1 to 64 letters/);
  });

  it("rejects a bad conflictPolicy, listing the allowed ones", () => {
    write({ sync: { conflictPolicy: "mine" } });
    expect(failure()).toBe(
      `Invalid configuration in ${file}: sync.conflictPolicy must be one of "manual", "local_wins", "remote_wins", "keep_both", "newest" (got "mine").`,
    );
  });

  it("never echoes a secret in an error", () => {
    write({ webdav: { password: 12345678 } });
    const msg = failure();
    expect(msg).toBe(`Invalid configuration in ${file}: webdav.password must be a string (got a hidden value).`);
    expect(msg).not.toContain("12345678");
  });

  it("refuses password and passwordFile together, naming both", () => {
    write({ webdav: { password: "a", passwordFile: "/p" } });
    expect(failure()).toBe(
      `Invalid configuration in ${file}: webdav.password and webdav.passwordFile are alternatives; set only one of them.`,
    );
  });

  it("reads passwordFile relative to the config file, without its trailing newline", () => {
    writeFileSync(join(dir, "pw"), "s3cret\n");
    write({ webdav: { passwordFile: "pw" } });
    const c = loadConfig(file, {});
    expect(c.webdav.password).toBe("s3cret");
    expect(c.webdav.passwordFile).toBe(join(dir, "pw"));
  });

  it("fails clearly when passwordFile cannot be read", () => {
    write({ webdav: { passwordFile: "missing-pw" } });
    expect(failure()).toBe(`Cannot read webdav.passwordFile ${join(dir, "missing-pw")} (named in ${file}): ENOENT.`);
  });

  it("lets SYNCD_WEBDAV_PASSWORD override password and passwordFile (which is then not read)", () => {
    write({ webdav: { password: "from-file" } });
    expect(loadConfig(file, { SYNCD_WEBDAV_PASSWORD: "from-env" }).webdav.password).toBe("from-env");
    expect(loadConfig(file, {}).webdav.password).toBe("from-file");
    write({ webdav: { passwordFile: "missing-pw" } });
    expect(loadConfig(file, { SYNCD_WEBDAV_PASSWORD: "from-env" }).webdav.password).toBe("from-env");
  });

  it("says how to fix a missing file", () => {
    expect(failure()).toBe(`No configuration file at ${file}; run "syncd init" first or pass --config.`);
  });

  it("points at the line and column of invalid JSON", () => {
    write('{\n  "sync": { "concurrency": 4, }\n}');
    expect(failure()).toBe(`Invalid JSON in ${file} at line 2, column 31: trailing comma.`);
    write('{"a": }');
    expect(failure()).toBe(`Invalid JSON in ${file} at line 1, column 7: unexpected "}".`);
    write("");
    expect(failure()).toBe(`Invalid JSON in ${file} at line 1, column 1: unexpected end of file.`);
  });

  it("reports a file that exists but cannot be read", () => {
    // A symlink loop: unreadable even for root (CI runs as root, so permission bits would not do).
    symlinkSync(file, file);
    expect(failure()).toBe(`Cannot read the configuration file ${file}: ELOOP.`);
  });

  it("says so when the path is a directory", () => {
    file = dir;
    expect(failure()).toBe(`${dir} is a directory, not a configuration file.`);
  });

  it("requires a JSON object at the top level", () => {
    write("[1]");
    expect(failure()).toBe(`Invalid configuration in ${file}: the top level must be a JSON object (got an array).`);
  });

  it("accepts a UTF-8 byte-order mark", () => {
    write(`\ufeff${JSON.stringify({ instanceName: "bom" })}`);
    expect(loadConfig(file, {}).instanceName).toBe("bom");
  });

  it("loads config.example.json, which sets every key", () => {
    const c = loadConfig(join(repoRoot, "config.example.json"), {});
    expect(c.instanceName).toBe("laptop");
    expect(c.webdav.url).toMatch(/^http/);
    expect(c.server.token).toBeTruthy();
    const raw = JSON.parse(readFileSync(join(repoRoot, "config.example.json"), "utf8"));
    expect(Object.keys(raw.sync)).toHaveLength(7);
    expect(Object.keys(raw.server)).toEqual(["host", "port", "token"]);
  });
});

describe("resolveConfigPath", () => {
  it("prefers --config, then $SYNCD_CONFIG, then ./syncd.json", () => {
    expect(resolveConfigPath("a.json", { SYNCD_CONFIG: "/b.json" }, "/cwd")).toBe("/cwd/a.json");
    expect(resolveConfigPath(undefined, { SYNCD_CONFIG: "/b.json" }, "/cwd")).toBe("/b.json");
    expect(resolveConfigPath(undefined, {}, "/cwd")).toBe("/cwd/syncd.json");
  });
});

describe("defaultInstanceName", () => {
  it("reduces a host name to the allowed characters", () => {
    expect(defaultInstanceName("My Laptop (2)")).toBe("My-Laptop-2-");
    expect(defaultInstanceName("..")).toBe("syncd");
    expect(defaultInstanceName("x".repeat(100))).toHaveLength(64);
  });
});

describe("writeInitialConfig", () => {
  it("writes only the given keys plus a pinned instanceName and a random server.token, readable by the owner only", () => {
    const c = writeInitialConfig(file, { url: "http://127.0.0.1:8080/dav", username: "me", instanceName: "desk" }, {});
    expect(c.instanceName).toBe("desk");
    expect(c.webdav.url).toBe("http://127.0.0.1:8080/dav");
    expect(c.dataDir).toBe(join(dir, "data"));
    const written = JSON.parse(readFileSync(file, "utf8"));
    expect(written).toEqual({
      instanceName: "desk",
      dataDir: "./data",
      webdav: { url: "http://127.0.0.1:8080/dav", username: "me" },
      server: { token: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(c.server.token).toBe(written.server.token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    rmSync(file);
    expect(writeInitialConfig(file, {}, {}).server.token).not.toBe(written.server.token);
  });

  it("writes a password file's path only when the file can be read", () => {
    expect(() => writeInitialConfig(file, { url: "http://127.0.0.1:8080/dav", passwordFile: "secret" }, {})).toThrow(
      `Cannot read webdav.passwordFile ${join(dir, "secret")} (named in ${file}): ENOENT.`,
    );
    expect(() => statSync(file)).toThrow();
    writeFileSync(join(dir, "secret"), "pw\n");
    expect(writeInitialConfig(file, { url: "http://127.0.0.1:8080/dav", passwordFile: "secret" }, {}).webdav.password).toBe("pw");
  });

  it("refuses to overwrite an existing file", () => {
    write({ instanceName: "keep" });
    expect(() => writeInitialConfig(file, {}, {})).toThrow(/already exists at/);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ instanceName: "keep" });
  });

  it("writes nothing when an option is invalid", () => {
    expect(() => writeInitialConfig(file, { url: "not a url" }, {})).toThrow(
      `Cannot write ${file}: webdav.url must be an http:// or https:// URL (got "not a url").`,
    );
    expect(() => statSync(file)).toThrow();
  });
});
