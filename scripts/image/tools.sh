#!/usr/bin/env bash
# Installs the daemonless container tools the image build and its test use, from Debian's
# packages, when missing: buildah (builds the image from scratch), podman (runs it) and
# runc (podman's OCI runtime here: Debian 12's crun 1.8 refuses to start any container
# on a cgroup-v1 "hybrid" host whose cgroup2 mount has a controller, with "cgroups in
# hybrid mode not supported, drop all controllers from cgroupv2"; runc does not).
# Quick when they are there; needs root (or sudo) and Debian's package lists otherwise.
#
#   scripts/image/tools.sh
set -euo pipefail
log() { printf '[image-tools] %s\n' "$*" >&2; }

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null || { log "missing ${missing[*]}, and no apt-get to install them: install them yourself"; exit 1; }
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "missing ${missing[*]}: installing them needs root"; exit 1; }
  sudo=(sudo)
fi
# One install at a time (parallel set-ups in several checkouts share the machine's dpkg).
exec 9>/tmp/kube-observer-image-tools.lock
flock 9
log "installing ${missing[*]} (apt-get, no recommends)"
install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; }
# Stale package lists on a fresh machine: refresh them once and try again.
install "${missing[@]}" || { "${sudo[@]}" apt-get update -q >&2 && install "${missing[@]}"; }
