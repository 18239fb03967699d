#!/usr/bin/env node
// The installed `syncd` command: runs the compiled CLI (npm's `prepare` builds dist/).
import { main } from "../dist/cli/main.js";

// A command whose work stops with nothing left to wait for (a promise that never settles) would end the
// process silently; Node then exits with status 13. Say so, so that it is never mistaken for success.
let finished = false;
process.on("exit", (code) => {
  if (!finished && code === 13) process.stderr.write(`syncd: internal error: the command stopped before it finished; whatever it was doing did not complete.\n`);
});
process.exitCode = await main(process.argv);
finished = true;
