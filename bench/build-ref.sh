#!/usr/bin/env bash
# Builds syncd at <commit> into a cached folder and prints the path of its dist/ (last line of stdout), for
# the reference column of the "format 2 targets" scenario:
#
#   BENCH_F2_REF_DIST=$(bash bench/build-ref.sh <commit>) node bench/format2.mjs
#   BENCH_F2_REF=<commit> npm run bench            # the same, built on the fly
#
# The commit's tree is exported with `git archive` (no worktree, nothing of this checkout changes), this
# checkout's node_modules is linked into it (so the commit's package-lock must not differ in what dist/
# loads at run time: better-sqlite3, webdav, …; a commit with other dependencies needs its own `npm ci`),
# and it is compiled with this checkout's TypeScript. The folder is kept, keyed by the full commit id, under
# BENCH_REF_CACHE (default: $TMPDIR or /tmp, syncd-bench-ref/): a second call is instant.
set -euo pipefail
commit_arg=${1:?usage: bench/build-ref.sh <commit>}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=$(git -C "$repo" rev-parse --verify "${commit_arg}^{commit}")
cache=${BENCH_REF_CACHE:-${TMPDIR:-/tmp}/syncd-bench-ref}
dir="$cache/$commit"
if [[ -f "$dir/dist/sync/engine.js" && -f "$dir/.built" ]]; then
  echo "$dir/dist"
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
git -C "$repo" archive "$commit" | tar -x -C "$dir"
ln -s "$repo/node_modules" "$dir/node_modules"
echo "building $commit in $dir …" >&2
(cd "$dir" && node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json) >&2
echo "$commit" > "$dir/.built"
echo "$dir/dist"
