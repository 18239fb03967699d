/**
 * Runs a command with a pseudo-terminal as its stdin and stdout, through script(1): what a person at a
 * terminal sees, and a "\x03" written to the child's stdin is a Ctrl-C (SIGINT to the command).
 *
 * script(1) runs the command through $SHELL -c. The command is `exec`ed so that it is the shell itself:
 * otherwise dash (/bin/sh, the shell when $SHELL is unset, as in CI) stays in between and dies of the
 * SIGINT that the command handles, and script(1) reports 130 whatever the command did.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

export function spawnInTerminal(argv: string[], options: { columns?: number } = {}): ChildProcessWithoutNullStreams {
  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  // A pseudo-terminal has no size until told one.
  const size = options.columns === undefined ? "" : `stty cols ${options.columns}; `;
  return spawn("script", ["-qfec", `${size}exec ${quoted}`, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
}
