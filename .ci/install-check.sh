#!/usr/bin/env bash
# The install path the README gives, run for real (scripts/install.sh into a temporary prefix), so that a
# broken tarball (a file missing from "files", a dependency in devDependencies) fails CI; then the systemd
# unit is verified with its ExecStart pointing at the binary just installed, and the unit the package ships
# must be the checkout's, with ExecStart the only line install.sh ever rewrites.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v systemd-analyze >/dev/null 2>&1 || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
}

prefix="$(mktemp -d)"
units="$(mktemp -d)"
trap 'rm -rf "$prefix" "$units"' EXIT

bash scripts/install.sh --prefix "$prefix"
installed="$prefix/lib/node_modules/syncd"
[ ! -L "$installed" ] || { echo "install-check: $installed is a link, not a copy." >&2; exit 1; }
"$prefix/bin/syncd" --version

cmp systemd/syncd.service "$installed/systemd/syncd.service"
grep -qx 'ExecStart=/usr/local/bin/syncd --config /etc/syncd/syncd.json daemon' systemd/syncd.service ||
  { echo "install-check: the unit's ExecStart is not /usr/local/bin/syncd, where install.sh puts the command." >&2; exit 1; }
sed "s|^ExecStart=/usr/local/bin/syncd |ExecStart=$prefix/bin/syncd |" systemd/syncd.service > "$units/syncd.service"
grep -qx "ExecStart=$prefix/bin/syncd --config /etc/syncd/syncd.json daemon" "$units/syncd.service"
diff <(grep -v '^ExecStart=' systemd/syncd.service) <(grep -v '^ExecStart=' "$units/syncd.service")
systemd-analyze verify "$units/syncd.service"
echo "install-check: installed, ran $prefix/bin/syncd, and the unit verifies."
