# Sourced by the project's scripts: puts the pinned Node first on PATH (npm, npx and every
# `#!/usr/bin/env node` script then run on it) and points native builds at its headers.
# KUBE_OBSERVER_NODE_DIR names another installation (a directory with bin/node and
# include/node) instead, e.g. in an image build that already has it.
if [ -z "${KUBE_OBSERVER_NODE_DIR:-}" ]; then
  KUBE_OBSERVER_NODE_DIR=$("$(dirname "${BASH_SOURCE[0]}")/ensure.sh")
fi
export KUBE_OBSERVER_NODE_DIR
case ":$PATH:" in
  *":$KUBE_OBSERVER_NODE_DIR/bin:"*) ;;
  *) export PATH="$KUBE_OBSERVER_NODE_DIR/bin:$PATH" ;;
esac
# node-gyp (better-sqlite3) compiles against these headers instead of downloading them.
export npm_config_nodedir="$KUBE_OBSERVER_NODE_DIR"
