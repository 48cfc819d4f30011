#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages when missing, for the browser test of
# `graph view` (test/integration/insight/graph-view.test.ts drives it with playwright-core).
# Debian's build, not a browser download: nothing but the package registries is reached.
# Prints the browser's path. Quick when it is there; needs root (or sudo) otherwise.
#
#   scripts/browser/ensure.sh        # -> /usr/bin/chromium
set -euo pipefail
log() { printf '[browser] %s\n' "$*" >&2; }

found() { command -v chromium 2>/dev/null || true; }
if [ -n "$(found)" ]; then
  found
  exit 0
fi

command -v apt-get >/dev/null || { log "no chromium, and no apt-get to install it: install Chromium yourself"; exit 1; }
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "no chromium: installing it needs root"; exit 1; }
  sudo=(sudo)
fi
# One install at a time (parallel set-ups in several checkouts share the machine's dpkg).
exec 9>/tmp/kube-observer-apt.lock
flock 9
[ -n "$(found)" ] && { found; exit 0; }
log "installing chromium (apt-get, no recommends)"
started=$SECONDS
install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 chromium >&2; }
# Stale package lists on a fresh machine: refresh them once and try again.
install || { "${sudo[@]}" apt-get update -q >&2 && install; }
log "chromium installed in $((SECONDS - started)) s"
[ -n "$(found)" ] || { log "chromium was installed but is not on PATH"; exit 1; }
found
