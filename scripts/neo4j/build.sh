#!/usr/bin/env bash
# Resolves Neo4j Community jars from Maven Central into the cache, once per version.
#   scripts/neo4j/build.sh      # prints the directory holding the jars
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../controlplane/versions.env
source "$here/../controlplane/versions.env"
cache=${KUBE_OBSERVER_CACHE:-$HOME/.cache/kube-observer}
lib="$cache/neo4j/$NEO4J_VERSION/lib"
# One resolve at a time per cache (checkouts and worktrees share it).
mkdir -p "$cache"
exec 9>"$cache/neo4j.lock"
flock 9
if [ -f "$lib/.complete" ]; then echo "$lib"; exit 0; fi
command -v mvn >/dev/null || { echo "[build-neo4j] mvn is not installed; it is needed to fetch Neo4j" >&2; exit 1; }
command -v java >/dev/null || { echo "[build-neo4j] java (17+) is not installed" >&2; exit 1; }
echo "[build-neo4j] resolving Neo4j $NEO4J_VERSION jars with Maven" >&2
rm -rf "$lib"; mkdir -p "$lib"
mvn -q -B -f "$here/pom.xml" -Dneo4j.version="$NEO4J_VERSION" \
  dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime >&2
touch "$lib/.complete"
echo "$lib"
