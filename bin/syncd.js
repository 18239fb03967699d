#!/usr/bin/env -S node --max-semi-space-size=1
// The installed `syncd` command: runs the compiled CLI (npm's `prepare` builds dist/).
// The shebang's 1 MB young generation (V8's default grows it to 16 MB) keeps the peak RSS of a transfer
// low: a streamed 1 GB upload peaks at ~97 MB instead of ~120 MB, and runs faster (bench/, scenario 6).
// bench/run.mjs starts its children with the same flags, read from this line.
import { main } from "../dist/cli/main.js";

// A command whose work stops with nothing left to wait for (a promise that never settles) would end the
// process silently; Node then exits with status 13. Say so, so that it is never mistaken for success.
let finished = false;
process.on("exit", (code) => {
  if (!finished && code === 13) process.stderr.write(`syncd: internal error: the command stopped before it finished; whatever it was doing did not complete.\n`);
});
process.exitCode = await main(process.argv);
finished = true;
