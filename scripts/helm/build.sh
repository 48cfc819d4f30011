#!/usr/bin/env bash
# Builds helm (the chart linter and renderer the chart tests use) from the Go module proxy
# into the cache, once per pinned version, and prints the binary's path.
#
#   scripts/helm/build.sh          # build if missing, print the path
#
# Cache: $KUBE_OBSERVER_CACHE (default ~/.cache/kube-observer)/helm/<version>.
set -euo pipefail

HELM_VERSION=v4.3.2
cache=${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}
dir="$cache/helm/$HELM_VERSION"
log() { printf '[build-helm] %s\n' "$*" >&2; }

if [ -x "$dir/helm" ]; then
  echo "$dir/helm"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed; it is needed to build helm"; exit 1; }

# One build at a time per cache (checkouts and worktrees share it).
mkdir -p "$cache/helm"
exec 9>"$cache/helm.lock"
flock 9
if [ -x "$dir/helm" ]; then
  echo "$dir/helm"
  exit 0
fi

log "building helm $HELM_VERSION from the Go module proxy (once; a few minutes)"
tmp=$(mktemp -d "$cache/helm/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags="-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
"$tmp/helm" version >&2
mkdir -p "$dir"
mv "$tmp/helm" "$dir/helm"
echo "$dir/helm"
