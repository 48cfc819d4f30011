#!/usr/bin/env bash
# Makes a checkout ready to run: dependencies installed (again when package-lock.json
# changed), TypeScript compiled, and with --servers the test servers built into the cache.
# Idempotent and quick when nothing changed; `npm test`, the env:* scripts and the demo
# call it first, so a fresh clone needs no other set-up step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '[setup] %s\n' "$*" >&2; }

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error(`[setup] Node ${process.versions.node} is too old: kube-observer needs Node >= 20.19`); process.exit(1) }'

lock_hash=$(sha256sum package-lock.json package.json | sha256sum | cut -c1-16)
stamp=node_modules/.kube-observer-installed
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  say "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
  echo "$lock_hash" >"$stamp"
fi

say "compiling TypeScript"
npx --no-install tsc -p tsconfig.json

if [ "${1:-}" = "--servers" ]; then
  scripts/controlplane/build.sh >/dev/null
  scripts/neo4j/build.sh >/dev/null
fi
