import { hostname } from "node:os";
import { z } from "zod";

/**
 * The configuration file of SPEC §4, as zod schemas. Every object is strict (unknown keys are errors: a
 * typo such as `intervall` must not silently fall back to a default), and every key with a default in
 * SPEC §4 has exactly that default here. `.prefault({})` (not `.default({})`) on sections makes zod run
 * the section's own defaults when the section is absent.
 *
 * Custom messages are written as the tail of a sentence ("must be …") because load.ts prefixes them with
 * the key path: `sync.concurrency must be at most 64 (got 100).`
 */

export const CONFLICT_POLICIES = ["manual", "local_wins", "remote_wins", "keep_both", "newest"] as const;
export type ConflictPolicy = (typeof CONFLICT_POLICIES)[number];

const INSTANCE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * instanceName is optional (SPEC §4 shows no default): absent, it is this machine's host name reduced to
 * the allowed characters, so that `syncd init` on a fresh machine works without questions. It only labels
 * lock claims and messages; identity is the instance id stored in the data directory.
 */
export function defaultInstanceName(host: string = hostname()): string {
  const cleaned = host
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  return cleaned.length > 0 ? cleaned : "syncd";
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** A path string: non-empty and without NUL (which would truncate it at the OS boundary). */
const pathString = z
  .string()
  .min(1)
  .refine((s) => !s.includes("\0"), { message: "must not contain a NUL character" });

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
    } catch {
      return false;
    }
  },
  { message: "must be an http:// or https:// URL" },
);

/**
 * The folder on the share. Normalised to a leading `/` and no trailing `/` so that joining paths is plain
 * concatenation; `..` and `.` segments are refused because the root decides what the daemon may delete.
 */
const remoteRoot = z
  .string()
  .refine((s) => s.startsWith("/"), { message: 'must start with "/"' })
  .refine((s) => !s.includes("\0") && !s.includes("\\"), { message: "must not contain NUL or backslash" })
  .refine((s) => s.split("/").every((seg) => seg !== "." && seg !== ".."), {
    message: 'must not contain "." or ".." segments',
  })
  .transform((s) => {
    const trimmed = s.replace(/\/+$/, "").replace(/\/{2,}/g, "/");
    return trimmed === "" ? "/" : trimmed;
  });

export const webdavSchema = z
  .strictObject({
    url: httpUrl.optional(),
    root: remoteRoot.default("/syncd"),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    passwordFile: pathString.optional(),
    caFile: pathString.optional(),
    timeoutMs: int(100, 3_600_000).default(30_000),
  })
  // Checked here (not in load.ts) so that the message names both keys whatever the environment says.
  .refine((w) => w.password === undefined || w.passwordFile === undefined, {
    message: "webdav.password and webdav.passwordFile are alternatives; set only one of them",
    path: ["password"],
    params: { wholeMessage: true },
  });

export const syncSchema = z.strictObject({
  intervalSeconds: int(1, 7 * 24 * 3600).default(60),
  concurrency: int(1, 64).default(4),
  conflictPolicy: z.enum(CONFLICT_POLICIES).default("manual"),
  // Heartbeats run every TTL/3 (SPEC §3); below 5 s a slow request would lose the lease.
  lockTtlSeconds: int(5, 3600).default(60),
  lockWaitSeconds: int(0, 24 * 3600).default(30),
  tombstoneRetentionDays: int(1, 36_500).default(90),
  maxDeletePercent: z.number().min(0).max(100).default(50),
});

export const serverSchema = z.strictObject({
  host: z.string().min(1).default("127.0.0.1"),
  port: int(0, 65_535).default(8384),
  token: z.string().min(1).optional(),
});

export const configFileSchema = z.strictObject({
  instanceName: z
    .string()
    .regex(INSTANCE_NAME_RE, {
      message: "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    })
    .optional(),
  dataDir: pathString.default("./data"),
  webdav: webdavSchema.prefault({}),
  sync: syncSchema.prefault({}),
  server: serverSchema.prefault({}),
});

/** The file as parsed, defaults applied, before paths and secrets are resolved. */
export type ConfigFile = z.output<typeof configFileSchema>;
/** What a file may contain (every key optional). */
export type ConfigFileInput = z.input<typeof configFileSchema>;

/** The resolved configuration the rest of syncd uses. */
export interface Config {
  /** Absolute path of the file this came from, or load.ts CONFIG_OBJECT_SOURCE when an application gave an object. */
  configPath: string;
  instanceName: string;
  /** Absolute; a relative `dataDir` is resolved against the config file's directory, not the cwd. */
  dataDir: string;
  webdav: {
    /** Absent: sync to the embedded share in `<dataDir>/share` (SPEC §4). */
    url?: string;
    root: string;
    username?: string;
    /** Resolved secret: $SYNCD_WEBDAV_PASSWORD, else `password`, else the contents of `passwordFile`. */
    password?: string;
    /** Absolute path of the password file when one was configured (for messages; already read). */
    passwordFile?: string;
    /** Absolute path of a PEM certificate authority trusted besides the system's (SPEC §4). */
    caFile?: string;
    /** Its certificates, read when the configuration is loaded (a missing or foreign file fails there). */
    ca?: string;
    timeoutMs: number;
  };
  sync: z.output<typeof syncSchema>;
  server: z.output<typeof serverSchema>;
}
