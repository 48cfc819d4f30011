#!/usr/bin/env bash
# Fetches the ServiceMonitor CustomResourceDefinition (monitoring.coreos.com/v1) of the
# Prometheus Operator from its Go module (the module proxy), once per pinned version, and
# prints the YAML file's path. The Helm chart test installs it on the local apiserver so
# that the chart's optional ServiceMonitor is validated against the real schema.
#
#   scripts/helm/servicemonitor-crd.sh     # download if missing, print the path
#
# Cache: $KUBE_OBSERVER_CACHE (default ~/.cache/kube-observer)/servicemonitor-crd/<version>.
set -euo pipefail

OPERATOR_VERSION=v0.85.0
module=github.com/prometheus-operator/prometheus-operator
cache=${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}
file="$cache/servicemonitor-crd/$OPERATOR_VERSION/monitoring.coreos.com_servicemonitors.yaml"
log() { printf '[servicemonitor-crd] %s\n' "$*" >&2; }

if [ -s "$file" ]; then
  echo "$file"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed; it is needed to download the CRD"; exit 1; }
mkdir -p "$(dirname "$file")"
exec 9>"$cache/servicemonitor-crd.lock"
flock 9
if [ -s "$file" ]; then
  echo "$file"
  exit 0
fi
log "downloading $module@$OPERATOR_VERSION (once) for its ServiceMonitor CRD"
dir=$(go mod download -json "$module@$OPERATOR_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
src="$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
[ -s "$src" ] || { log "no ServiceMonitor CRD at $src"; exit 1; }
cp "$src" "$file.tmp" && mv "$file.tmp" "$file"
echo "$file"
