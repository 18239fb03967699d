#!/usr/bin/env bash
# Installs syncd from this checkout as a global command, without the package being in any registry:
#   sudo scripts/install.sh                     # -> /usr/local/bin/syncd
#   scripts/install.sh --prefix ~/.local        # -> ~/.local/bin/syncd, no root needed
#   sudo scripts/install.sh --service           # also: system user syncd, /etc/syncd, systemd unit enabled
#
# What it does, in a temporary copy of this checkout (its own node_modules stay as they are): installs the
# build tools (npm ci, without compiling anything), builds and packs the package (npm pack), then installs
# that tarball globally (npm install -g). The global package is a copy, not a link into the checkout, so the
# checkout can be deleted afterwards (and a service user that may not read /home or /root still reads
# /usr/local/lib/node_modules/syncd).
#
# The global install downloads the dependencies from the npm registry and compiles better-sqlite3, a native
# module: that needs make, a C++ compiler and Python (Debian: build-essential python3) and takes about 70 s
# of CPU time (measured: 51 s on an idle 2-core machine, 5 to 6 minutes on one busy with other work), with
# little output.
set -euo pipefail

prefix="${PREFIX:-/usr/local}"
service=false

usage() {
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  echo "Options: --prefix DIR (default /usr/local, or \$PREFIX), --service, --help"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder." >&2; exit 2; }; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --service) service=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1; see --help." >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "Node.js is not installed; syncd needs Node 20 or later (Debian: apt-get install nodejs npm)."
command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian: apt-get install npm)."
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  fail "Node.js $(node --version) is too old; syncd needs Node 20 or later."
if [ "$service" = true ] && [ "$(id -u)" -ne 0 ]; then fail "--service creates a system user and writes /etc: run it as root (sudo)."; fi
mkdir -p "$prefix" 2>/dev/null && [ -w "$prefix" ] ||
  fail "Cannot write to $prefix: run as root (sudo), or choose a folder of yours with --prefix (for example --prefix ~/.local)."
prefix="$(cd "$prefix" && pwd)"

checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$checkout"
[ -f package.json ] && grep -q '"name": "syncd"' package.json || fail "$checkout is not a syncd checkout."

# node-gyp builds against the installed Node's headers when they are there (Debian: libnode-dev), instead
# of downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The checkout's files without its node_modules and build output, so that nothing here is changed.
mkdir "$work/src"
tar -C "$checkout" --exclude=./node_modules --exclude=./dist --exclude=./.git -cf - . | tar -C "$work/src" -xf -
cd "$work/src"

# 1. The build tools only: --ignore-scripts skips compiling better-sqlite3 here (the global install below
#    compiles it where it will run) and the `prepare` build (step 2 does it).
say "installing the build tools (npm ci)…"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# 2. Build and pack: the tarball holds exactly what the package's "files" list.
say "building and packing…"
npm run --silent build
tarball="$(npm pack --ignore-scripts --silent --pack-destination "$work" | tail -n 1)"
cd "$work"
[ -f "$work/$tarball" ] || fail "npm pack did not produce a tarball."

# 3. The global install: a copy of the tarball's contents in $prefix/lib/node_modules/syncd, the command in
#    $prefix/bin. better-sqlite3 is compiled now (--allow-scripts: npm may stop running unlisted install scripts).
say "installing $tarball into $prefix; compiling better-sqlite3 takes a few minutes with little output…"
started=$(date +%s)
npm install --global --prefix "$prefix" --allow-scripts=better-sqlite3 --no-audit --no-fund --loglevel=error "$work/$tarball"
say "global install took $(( $(date +%s) - started )) s."

installed="$prefix/lib/node_modules/syncd"
[ -d "$installed" ] && [ ! -L "$installed" ] || fail "$installed is not a copy of the package (a link into the checkout?)."
[ -x "$prefix/bin/syncd" ] || fail "$prefix/bin/syncd was not created."
version="$("$prefix/bin/syncd" --version)" || fail "$prefix/bin/syncd does not run."
say "installed syncd $version as $prefix/bin/syncd; this checkout is no longer needed."
case ":$PATH:" in *":$prefix/bin:"*) ;; *) say "note: $prefix/bin is not on your PATH." ;; esac

[ "$service" = true ] || exit 0

# 4. The service: a system user, its configuration in /etc/syncd, the unit (ExecStart pointing at this
#    install), enabled when systemd runs this machine (in a container it usually does not: the unit is then
#    only installed).
if ! id -u syncd >/dev/null 2>&1; then
  say "creating the system user syncd…"
  useradd --system --user-group --home-dir /var/lib/syncd --no-create-home --shell /usr/sbin/nologin syncd
fi
install -d -m 0750 -o root -g syncd /etc/syncd
if [ ! -e /etc/syncd/syncd.json ]; then
  "$prefix/bin/syncd" --config /etc/syncd/syncd.json init --data-dir /var/lib/syncd/data >/dev/null
  chgrp syncd /etc/syncd/syncd.json
  chmod 0640 /etc/syncd/syncd.json
  # init, run as root here, may have created the data directory: it belongs to the service user.
  if [ -d /var/lib/syncd ]; then chown -R syncd:syncd /var/lib/syncd && chmod 0750 /var/lib/syncd; fi
  say "wrote /etc/syncd/syncd.json (embedded share; edit webdav.url and friends to use your WebDAV server)."
fi
unit=/etc/systemd/system/syncd.service
sed "s|^ExecStart=/usr/local/bin/syncd |ExecStart=$prefix/bin/syncd |" "$installed/systemd/syncd.service" > "$unit"
chmod 0644 "$unit"
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable syncd.service
  say "installed and enabled $unit; start it with: systemctl start syncd (logs: journalctl -u syncd)."
else
  say "installed $unit; systemd is not running on this machine, so the service was not enabled."
fi
