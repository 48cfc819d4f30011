#!/usr/bin/env bash
# Runs a command on the project's pinned Node: `bash scripts/node/run.sh vitest run`.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
