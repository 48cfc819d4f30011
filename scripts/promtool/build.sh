#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) from the Go module
# proxy into the cache, once per pinned version, and prints the binary's path.
#
#   scripts/promtool/build.sh          # build if missing, print the path
#
# Cache: $KUBE_OBSERVER_CACHE (default ~/.cache/kube-observer)/promtool/<version>.
set -euo pipefail

PROMETHEUS_VERSION=v0.316.0 # the Go module version of Prometheus 3.16
cache=${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}
dir="$cache/promtool/$PROMETHEUS_VERSION"
log() { printf '[build-promtool] %s\n' "$*" >&2; }

if [ -x "$dir/promtool" ]; then
  echo "$dir/promtool"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed; it is needed to build promtool"; exit 1; }

# One build at a time per cache (checkouts and worktrees share it).
mkdir -p "$cache/promtool"
exec 9>"$cache/promtool.lock"
flock 9
if [ -x "$dir/promtool" ]; then
  echo "$dir/promtool"
  exit 0
fi

log "building promtool $PROMETHEUS_VERSION from the Go module proxy (once; a few minutes)"
tmp=$(mktemp -d "$cache/promtool/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# remove_all_sd: none of the service discovery plugins (clouds, Kubernetes, ...), which
# promtool's rule commands do not use and which would triple the build.
CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -tags remove_all_sd -ldflags="-s -w" "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" >&2
"$tmp/promtool" --version >&2
mkdir -p "$dir"
mv "$tmp/promtool" "$dir/promtool"
echo "$dir/promtool"
