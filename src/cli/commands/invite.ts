/**
 * `syncd invite` (SPEC §5): what a second machine needs to join this instance's embedded share. The
 * secret (server.token, the share's password) never goes into a command line, where `ps` and shell
 * history would show it: the other machine saves it to a file readable by its user only, from the
 * terminal, and `syncd init --password-file` names that file. The token itself is printed on its own,
 * labelled line for the user to carry over (or in `token` with --json).
 */
import { hostname } from "node:os";
import type { Command } from "commander";
import { loadConfig, resolveConfigPath } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import { UsageError } from "../../errors.js";
import { redactUrl } from "../../remote/errors.js";
import { isLoopbackAddress } from "../../server/auth.js";
import type { GlobalOptions } from "../context.js";
import { printJson } from "../output.js";

/** Where the other machine keeps the secret (relative to where it runs the commands). */
const SECRET_FILE = "syncd-share.password";
/** Any user name does (the token is the password); this one says what it is for in the other's config. */
const SHARE_USER = "syncd";

export interface Invite {
  url: string;
  root: string;
  user: string;
  passwordFile: string;
  /** Run on the other machine first: saves the secret, typed or pasted on the terminal, with mode 600. */
  saveSecret: string;
  /** Then this: the other machine's configuration, pointing at this share. */
  init: string;
  /** The secret to carry over: this instance's server.token. */
  token: string;
  /** Why the other machine may not reach this daemon as configured. */
  warnings: string[];
}

export function registerInviteCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("invite")
    .description("print how a second machine joins this instance's embedded share")
    .option("--json", "print the invitation as JSON")
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig(resolveConfigPath(globals().config));
      // Loaded here, not at the top: every other command starts faster without the server modules.
      const { DAV_PATH } = await import("../../server/http-server.js");
      const invite = buildInvite(config, DAV_PATH);
      if (opts.json) return printJson(invite);
      process.stdout.write(
        [
          ...invite.warnings.map((w) => `warning: ${w}\n`),
          "To sync another machine with this one through its embedded share, run there:",
          "",
          `  ${invite.saveSecret}`,
          "    (then paste the token below and press Enter: it goes into the file, readable by you only)",
          `  ${invite.init}`,
          "  syncd sync",
          "",
          "token (secret: whoever has it can read and change the library; server.token in this machine's config):",
          `  ${invite.token}`,
          "",
        ].join("\n"),
      );
    });
}

export function buildInvite(config: Config, davPath: string): Invite {
  if (config.webdav.url !== undefined) {
    throw new UsageError(
      `This instance syncs to ${redactUrl(config.webdav.url)}, not to an embedded share: give the other machine the same webdav settings (syncd init --url … --user … --password-file …).`,
    );
  }
  const { host, port, token } = config.server;
  if (token === undefined) {
    throw new UsageError(
      `${config.configPath} has no server.token: the share would be open to whoever reaches it. Set one (a long random string; "syncd init" writes one) and restart the daemon first.`,
    );
  }
  const warnings: string[] = [];
  const wildcard = host === "0.0.0.0" || host === "::" || host === "[::]";
  if (isLoopbackAddress(host.replace(/^\[|\]$/g, ""))) {
    warnings.push(`the daemon listens on ${host} only (server.host): other machines cannot reach it. Set server.host to an address they can reach (e.g. "0.0.0.0") and restart it.`);
  }
  if (port === 0) warnings.push("server.port is 0, a new port at every start: set a fixed one, or the URL above will not last.");
  // A wildcard address is no address to connect to: the machine's name is.
  const name = wildcard ? hostname() : host;
  const url = `http://${name.includes(":") && !name.startsWith("[") ? `[${name}]` : name}:${port}${davPath}`;
  const root = config.webdav.root;
  return {
    url,
    root,
    user: SHARE_USER,
    passwordFile: SECRET_FILE,
    saveSecret: `(umask 077 && head -n 1 > ${SECRET_FILE})`,
    init: ["syncd", "init", "--url", url, "--root", root, "--user", SHARE_USER, "--password-file", SECRET_FILE].map(shellWord).join(" "),
    token,
    warnings,
  };
}

/** A word for a POSIX shell: as it is when it is plain, else single-quoted. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
