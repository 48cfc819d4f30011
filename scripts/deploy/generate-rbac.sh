#!/usr/bin/env bash
# Regenerates deploy/rbac.yaml from deploy/config/kube-observer.dhall and the plugins:
# run it after changing the deploy config's actors or rbac, or adding a resource plugin.
# test/unit/deploy/rbac-drift.test.ts fails while the committed file differs.
#
#   scripts/deploy/generate-rbac.sh           # build, then write deploy/rbac.yaml
#   scripts/deploy/generate-rbac.sh --check   # exit 1 (with a diff) if it is out of date
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

config=deploy/config/kube-observer.dhall
target=deploy/rbac.yaml

tmp="$(mktemp "${TMPDIR:-/tmp}/kube-observer-rbac.XXXXXX")"
log="$(mktemp "${TMPDIR:-/tmp}/kube-observer-tsc.XXXXXX")"
trap 'rm -f "$tmp" "$log"' EXIT

# The plugins are read from dist/: compile first so that new plugins count.
if ! npx --no-install tsc -p tsconfig.json >"$log" 2>&1; then
  echo "generate-rbac: TypeScript does not compile (continuing with what tsc emitted):" >&2
  tail -n 20 "$log" >&2
fi
node dist/core/cli/main.js rbac --config "$config" >"$tmp"

if [[ "${1:-}" == "--check" ]]; then
  if diff -u "$target" "$tmp"; then
    echo "$target is up to date"
  else
    echo "$target is out of date: run scripts/deploy/generate-rbac.sh" >&2
    exit 1
  fi
else
  cp "$tmp" "$target"
  echo "wrote $target (from $config)"
fi
