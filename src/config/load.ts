import { randomBytes, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { findJsonSyntaxError } from "./json-syntax.js";
import { type Config, type ConfigFile, type ConfigFileInput, configFileSchema, defaultInstanceName } from "./schema.js";

export type { Config } from "./schema.js";

/** SPEC §4: `--config FILE`, else `$SYNCD_CONFIG`, else `./syncd.json`; always returned absolute. */
export function resolveConfigPath(cliPath?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, cliPath || env.SYNCD_CONFIG || "syncd.json");
}

/**
 * Reads, validates and resolves a configuration file. Every failure is a ConfigError (exit code 2) whose
 * message is one sentence naming the file, the key and the problem, because that is all a user sees.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  const configPath = resolve(path);
  return validateConfig(parseJsonFile(configPath), configPath, dirname(configPath), env);
}

/** Where the configuration came from, in messages, when an application gave it as an object (SPEC §7). */
export const CONFIG_OBJECT_SOURCE = "the configuration object";

/**
 * A configuration given as an object (the TypeScript API, SPEC §7): checked by the same schema, with the
 * same one-sentence errors, as a file. Relative paths (dataDir, passwordFile, caFile) are resolved against
 * `baseDir` (default: the current directory), as a file's are against its folder.
 */
export function parseConfig(input: unknown, opts: { baseDir?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  return validateConfig(input, CONFIG_OBJECT_SOURCE, resolve(opts.baseDir ?? "."), opts.env ?? process.env);
}

function validateConfig(raw: unknown, source: string, baseDir: string, env: NodeJS.ProcessEnv): Config {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(`Invalid configuration in ${source}: the top level must be a JSON object (got ${describeValue(raw)}).`);
  }
  const parsed = configFileSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(issueSentence(parsed.error.issues[0], source, `Invalid configuration in ${source}`));
  }
  return resolveConfig(parsed.data, source, baseDir, env);
}

export interface InitOptions {
  dataDir?: string;
  url?: string;
  root?: string;
  username?: string;
  /** Written as given: a relative path means relative to the file's directory. */
  passwordFile?: string;
  instanceName?: string;
}

/**
 * Writes the file `syncd init` creates and returns it loaded. Only the keys given are written (plus
 * instanceName, pinned now so that renaming the host later does not rename the instance, and a random
 * server.token, SPEC §4): every other key keeps its SPEC default, so a later syncd with better defaults
 * still applies them. A relative `dataDir` is written as given and means relative to the file's directory.
 * It never overwrites: an existing file may hold a password or tuned settings.
 */
export function writeInitialConfig(path: string, opts: InitOptions = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const configPath = resolve(path);
  const webdav = Object.fromEntries(
    Object.entries({ url: opts.url, root: opts.root, username: opts.username, passwordFile: opts.passwordFile }).filter(([, v]) => v !== undefined),
  );
  const file: ConfigFileInput = {
    instanceName: opts.instanceName ?? defaultInstanceName(),
    dataDir: opts.dataDir ?? "./data",
    ...(Object.keys(webdav).length > 0 ? { webdav } : {}),
    // The API, the dashboard and the embedded share need it: nothing on the machine or in a browser
    // reaches the library without it (SPEC §4). 256 bits, hex: safe in a URL fragment, a header, a shell.
    server: { token: randomBytes(32).toString("hex") },
  };
  // Validate before writing so that a bad --url never leaves a broken file behind.
  const check = configFileSchema.safeParse(file, { reportInput: true });
  if (!check.success) throw new ConfigError(issueSentence(check.error.issues[0], configPath, `Cannot write ${configPath}`));
  // Likewise a password file that cannot be read (it is read at every start).
  if (opts.passwordFile !== undefined) resolvePassword(undefined, resolve(dirname(configPath), opts.passwordFile), configPath, env);

  mkdirSync(dirname(configPath), { recursive: true });
  try {
    // 0600: the file holds server.token, and often a password.
    writeFileSync(configPath, `${JSON.stringify(file, null, 2)}\n`, { flag: "wx", mode: 0o600 });
  } catch (err) {
    if (errCode(err) === "EEXIST") {
      throw new ConfigError(
        `A configuration file already exists at ${configPath}; edit it, or remove it before running "syncd init" again.`,
      );
    }
    throw new ConfigError(`Cannot write the configuration file ${configPath}: ${errCode(err) ?? String(err)}.`, {
      cause: err,
    });
  }
  return loadConfig(configPath, env);
}

function parseJsonFile(configPath: string): unknown {
  let text: string;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (err) {
    const code = errCode(err);
    if (code === "ENOENT") {
      throw new ConfigError(`No configuration file at ${configPath}; run "syncd init" first or pass --config.`);
    }
    if (code === "EISDIR") throw new ConfigError(`${configPath} is a directory, not a configuration file.`);
    throw new ConfigError(`Cannot read the configuration file ${configPath}: ${code ?? String(err)}.`, { cause: err });
  }
  // A byte-order mark is what some Windows editors put first; it is not JSON, but it is not an error either.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = findJsonSyntaxError(text);
    if (at) {
      throw new ConfigError(`Invalid JSON in ${configPath} at line ${at.line}, column ${at.column}: ${at.problem}.`);
    }
    throw new ConfigError(`Invalid JSON in ${configPath}: ${(err as Error).message}.`);
  }
}

function resolveConfig(file: ConfigFile, configPath: string, base: string, env: NodeJS.ProcessEnv): Config {
  const { password, passwordFile, caFile, ...webdav } = file.webdav;
  const passwordFilePath = passwordFile === undefined ? undefined : resolve(base, passwordFile);
  const caFilePath = caFile === undefined ? undefined : resolve(base, caFile);
  return {
    configPath,
    instanceName: file.instanceName ?? defaultInstanceName(),
    dataDir: resolve(base, file.dataDir),
    webdav: {
      ...webdav,
      ...optional("password", resolvePassword(password, passwordFilePath, configPath, env)),
      ...optional("passwordFile", passwordFilePath),
      ...optional("caFile", caFilePath),
      ...optional("ca", caFilePath === undefined ? undefined : readCertificateAuthority(caFilePath, configPath)),
    },
    sync: file.sync,
    server: file.server,
  };
}

/**
 * SYNCD_WEBDAV_PASSWORD wins over both keys (SPEC §4), so the password file is not even read when it is set:
 * a systemd unit can pass the secret in the environment while the file stays root-only. An empty variable
 * counts as unset (`Environment=SYNCD_WEBDAV_PASSWORD=` is how units blank a variable).
 */
function resolvePassword(
  password: string | undefined,
  passwordFile: string | undefined,
  configPath: string,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const fromEnv = env.SYNCD_WEBDAV_PASSWORD;
  if (fromEnv) return fromEnv;
  if (password !== undefined) return password;
  if (passwordFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(passwordFile, "utf8");
  } catch (err) {
    throw new ConfigError(
      `Cannot read webdav.passwordFile ${passwordFile} (named in ${configPath}): ${errCode(err) ?? String(err)}.`,
      { cause: err },
    );
  }
  // `echo secret > file` adds a newline that is not part of the password.
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret === "") throw new ConfigError(`webdav.passwordFile ${passwordFile} (named in ${configPath}) is empty.`);
  return secret;
}

/**
 * The PEM text of webdav.caFile, checked now: a path that is wrong, or a file that holds no certificate (a
 * private key, a DER file), would otherwise surface only as "the certificate does not verify" at the first
 * sync, which points at the server instead of the file.
 */
function readCertificateAuthority(caFile: string, configPath: string): string {
  let text: string;
  try {
    text = readFileSync(caFile, "utf8");
  } catch (err) {
    throw new ConfigError(`Cannot read webdav.caFile ${caFile} (named in ${configPath}): ${errCode(err) ?? String(err)}.`, { cause: err });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(`webdav.caFile ${caFile} (named in ${configPath}) holds no PEM certificate (a "-----BEGIN CERTIFICATE-----" block); give the certificate of the authority that signed the server's certificate.`);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new ConfigError(`webdav.caFile ${caFile} (named in ${configPath}) holds a certificate that does not parse: ${(err as Error).message}.`, { cause: err });
    }
  }
  return blocks.join("\n");
}

const SECRET_KEYS = new Set(["password", "token"]);

/** One sentence for a zod issue: `<intro>: <key> <problem> (got <value>).`, or the unknown-key form. */
function issueSentence(issue: z.core.$ZodIssue | undefined, configPath: string, intro: string): string {
  if (!issue) return `${intro}: the file does not match the expected shape.`;
  const key = issue.path.map(String).join(".");
  const subject = key === "" ? "the configuration" : key;
  const secret = SECRET_KEYS.has(String(issue.path[issue.path.length - 1]));
  const got = issue.input === undefined ? "" : ` (got ${secret ? "a hidden value" : describeValue(issue.input)})`;
  switch (issue.code) {
    case "unrecognized_keys": {
      const names = issue.keys.map((k) => JSON.stringify(key === "" ? k : `${key}.${k}`));
      return names.length === 1
        ? `Unknown key ${names[0]} in ${configPath}.`
        : `Unknown keys ${names.join(", ")} in ${configPath}.`;
    }
    case "invalid_type": {
      if (issue.input === undefined) return `${intro}: ${subject} is required.`;
      const expected =
        issue.expected === "int" ? "an integer" : issue.expected === "object" ? "an object" : `a ${issue.expected}`;
      return `${intro}: ${subject} must be ${expected}${got}.`;
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = Number(small ? issue.minimum : issue.maximum);
      if (issue.origin === "string") {
        const tail = small && bound === 1 ? "must not be empty" : `must be ${small ? "at least" : "at most"} ${bound} characters long`;
        return `${intro}: ${subject} ${tail}.`;
      }
      const strict = issue.inclusive === false;
      const words = small ? (strict ? "greater than" : "at least") : strict ? "less than" : "at most";
      return `${intro}: ${subject} must be ${words} ${bound}${got}.`;
    }
    case "invalid_value":
      return `${intro}: ${subject} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}${got}.`;
    case "custom":
      if ((issue.params as { wholeMessage?: boolean } | undefined)?.wholeMessage) return `${intro}: ${issue.message}.`;
      return `${intro}: ${subject} ${issue.message}${got}.`;
    case "invalid_format":
      return `${intro}: ${subject} ${issue.message}${got}.`;
    default:
      return `${intro}: ${subject} is invalid (${issue.message}).`;
  }
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "an object";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function errCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}
