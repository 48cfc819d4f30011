#!/usr/bin/env bash
# Builds deploy/Dockerfile from the repository root, with buildah (daemonless) when it is
# installed, else docker or podman, then checks the image: it runs as a numeric non-root
# user, has no dev dependencies, and its CLI, dhall-to-json and the config schema work.
#
#   scripts/deploy/build-image.sh [TAG] [-- BUILDER-ARGS...]
#   scripts/deploy/build-image.sh registry.example.com/kube-observer:0.1.0
#   scripts/deploy/build-image.sh kube-observer:dev -- --build-arg NODE_IMAGE=docker.io/library/node:24-bookworm-slim
#
# BUILDER=buildah|docker|podman picks the builder. The base image comes from Docker Hub
# (NODE_IMAGE in the Dockerfile), and the build runs `npm ci` against the npm registry.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

tag="kube-observer:$(node -p 'require("./package.json").version')"
if [[ $# -gt 0 && "$1" != "--" ]]; then
  tag="$1"
  shift
fi
[[ "${1:-}" == "--" ]] && shift
extra=("$@")

builder="${BUILDER:-}"
if [[ -z "$builder" ]]; then
  if command -v buildah >/dev/null; then builder=buildah
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker
  elif command -v podman >/dev/null; then builder=podman
  else
    echo "build-image: no image builder found (buildah, a running docker daemon, or podman)" >&2
    exit 1
  fi
fi

echo "build-image: $builder, deploy/Dockerfile -> $tag" >&2
case "$builder" in
  buildah)
    buildah bud --format docker --layers -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore -t "$tag" "${extra[@]}" .
    run() { buildah run --isolation chroot "$ctr" -- "$@"; }
    ctr="$(buildah from "$tag")"
    trap 'buildah rm "$ctr" >/dev/null' EXIT
    user="$(buildah inspect --format '{{.OCIv1.Config.User}}' "$tag")"
    ;;
  docker | podman)
    DOCKER_BUILDKIT=1 "$builder" build -f deploy/Dockerfile -t "$tag" "${extra[@]}" .
    run() { "$builder" run --rm --read-only --tmpfs /tmp --entrypoint "$1" "$tag" "${@:2}"; }
    user="$("$builder" image inspect --format '{{.Config.User}}' "$tag")"
    ;;
  *)
    echo "build-image: unknown BUILDER=$builder" >&2
    exit 1
    ;;
esac

# The checks the deployment relies on.
[[ "$user" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || { echo "build-image: USER is '$user', not a numeric non-root uid:gid" >&2; exit 1; }
run node /app/dist/core/cli/main.js --version
run dhall-to-json --version
run node /app/dist/core/cli/main.js config check /app/config/example.dhall
if run test -e /app/node_modules/vitest; then echo "build-image: dev dependencies in the image" >&2; exit 1; fi
echo "build-image: $tag ok (user $user)" >&2
