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
  # What mostly downloads runs in the background beside the Go builds (which want both
  # cores): helm; and, one after the other (two apt-gets would wait on one lock), Neo4j's
  # jars, the container tools for the image test and Chromium for the browser test.
  background() { # name, then the command
    local name=$1
    shift
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/kube-observer-$name.XXXXXX")
    "$@" >/dev/null 2>"$log" &
    jobs_pid+=("$!")
    jobs_name+=("$name")
    jobs_log+=("$log")
  }
  jobs_pid=()
  jobs_name=()
  jobs_log=()
  background helm scripts/helm/build.sh
  background downloads bash -c 'scripts/neo4j/build.sh && scripts/image/tools.sh && scripts/browser/ensure.sh'
  scripts/controlplane/build.sh >/dev/null
  scripts/promtool/build.sh >/dev/null
  failed=0
  for i in "${!jobs_pid[@]}"; do
    if ! wait "${jobs_pid[$i]}"; then
      failed=1
      say "${jobs_name[$i]} failed:"
    fi
    cat "${jobs_log[$i]}" >&2
    rm -f "${jobs_log[$i]}"
  done
  [ "$failed" = 0 ] || { say "setting up the test servers and tools failed (see above)"; exit 1; }
  # The image itself is built by its test (scripts/image/build.sh, cached by input hash).
  scripts/helm/servicemonitor-crd.sh >/dev/null
fi
