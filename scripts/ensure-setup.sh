#!/usr/bin/env bash
# Makes a checkout ready to run: the pinned Node installed (scripts/node/), dependencies
# installed (again when package-lock.json or the Node changed), TypeScript compiled, and
# with --servers the test servers and tools (helm, promtool) built into the cache and the
# container tools (buildah, podman, runc) installed from Debian's packages for the image test,
# and Chromium for the browser test (scripts/browser/ensure.sh).
# Idempotent and quick when nothing changed; `npm test`, the env:* scripts and the demo
# call it first, so a fresh clone needs no other set-up step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '[setup] %s\n' "$*" >&2; }

# The project's own Node (scripts/node/version.env), installed into the cache once; npm
# and the native build below run on it, whatever Node the machine has.
# shellcheck source=node/env.sh
source scripts/node/env.sh

# Keyed by the Node too: better-sqlite3 is compiled for one Node ABI.
lock_hash=$( (sha256sum package-lock.json package.json; node --version) | sha256sum | cut -c1-16)
stamp=node_modules/.kube-observer-installed
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  say "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
  echo "$lock_hash" >"$stamp"
fi

say "compiling TypeScript"
npx --no-install tsc -p tsconfig.json

if [ "${1:-}" = "--servers" ]; then
  # helm (for the chart tests) builds in the background: on a cold cache it overlaps the
  # Neo4j download rather than adding its few minutes after everything else.
  helm_log=$(mktemp "${TMPDIR:-/tmp}/kube-observer-helm-build.XXXXXX")
  scripts/helm/build.sh >/dev/null 2>"$helm_log" &
  helm_pid=$!
  scripts/controlplane/build.sh >/dev/null
  scripts/neo4j/build.sh >/dev/null
  scripts/promtool/build.sh >/dev/null
  # The image itself is built by its test (scripts/image/build.sh, cached by input hash).
  scripts/image/tools.sh
  # Headless Chromium for the browser test of `graph view`.
  scripts/browser/ensure.sh >/dev/null
  scripts/helm/servicemonitor-crd.sh >/dev/null
  if ! wait "$helm_pid"; then
    cat "$helm_log" >&2
    rm -f "$helm_log"
    say "building helm failed (scripts/helm/build.sh)"
    exit 1
  fi
  cat "$helm_log" >&2
  rm -f "$helm_log"
fi
