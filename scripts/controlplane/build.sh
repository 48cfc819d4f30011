#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kubectl)
# from the Go module proxy into the cache, once per pinned version set.
#
#   scripts/controlplane/build.sh          # build if missing, print the bin directory
#
# Cache: $KUBE_OBSERVER_CACHE (default ~/.cache/kube-observer). The bin directory is
# keyed by the pins in versions.env, so changing a pin builds into a new directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"
bin="$cache/controlplane/$key/bin"
src="$cache/controlplane/$key/src"
log() { printf '[build-controlplane] %s\n' "$*" >&2; }

# One build at a time per cache (checkouts and worktrees share it): a second caller waits,
# then finds the binaries.
mkdir -p "$cache"
exec 9>"$cache/controlplane.lock"
flock 9

wanted=(etcd kube-apiserver kube-controller-manager kubectl)
missing=0
for b in "${wanted[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed; it is needed to build the control plane"; exit 1; }
mkdir -p "$bin" "$src"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

# The staging modules k8s.io/kubernetes replaces with ./staging/...; each is published
# as k8s.io/NAME v0.X.Y, so a wrapper module replaces them with those versions.
k8s_minor=${K8S_VERSION#v1.}
staging_version="v0.${k8s_minor}"
log "resolving k8s.io/kubernetes@$K8S_VERSION"
modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
[ -f "$modfile" ] || { log "could not download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
go_line=$(grep -E '^go ' "$modfile")

k8s="$src/k8s"
mkdir -p "$k8s/kube-apiserver" "$k8s/kube-controller-manager" "$k8s/kubectl"
{
  echo "module kube-observer.local/controlplane"
  echo
  echo "$go_line"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  grep -E '=> \./staging/src/' "$modfile" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} >"$k8s/go.mod"

# These mirror upstream cmd/<name>/*.go: the few lines that call the app package.
cat >"$k8s/kube-apiserver/main.go" <<'GO'
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
cat >"$k8s/kube-controller-manager/main.go" <<'GO'
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
GO
cat >"$k8s/kubectl/main.go" <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO

major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

(
  cd "$k8s"
  log "go mod tidy (k8s wrapper module; downloads modules the first time)"
  go mod tidy
  for b in kube-apiserver kube-controller-manager kubectl; do
    if [ ! -x "$bin/$b" ]; then
      log "building $b $K8S_VERSION (several minutes on 2 cores the first time)"
      go build -trimpath -ldflags "$ldflags" -o "$bin/$b.tmp" "./$b"
      mv "$bin/$b.tmp" "$bin/$b"
    fi
  done
)

etcd="$src/etcd"
mkdir -p "$etcd"
if [ ! -x "$bin/etcd" ]; then
  log "resolving go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  emod=$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -f "$emod" ] || { log "could not download go.etcd.io/etcd/server/v3@$ETCD_VERSION"; exit 1; }
  {
    echo "module kube-observer.local/etcd"
    echo
    grep -E '^go ' "$emod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo
    echo "replace ("
    # The server module's own replaces point at sibling directories of the etcd repo;
    # the same modules are published at the same version.
    grep -E '=> \.\./' "$emod" | awk -v v="$ETCD_VERSION" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$etcd/go.mod"
  cat >"$etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$etcd"
    log "building etcd $ETCD_VERSION"
    go mod tidy
    go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" .
    mv "$bin/etcd.tmp" "$bin/etcd"
  )
fi

log "built into $bin"
echo "$bin"
