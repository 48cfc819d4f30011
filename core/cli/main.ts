#!/usr/bin/env -S node --max-semi-space-size=2
// kube-observer's command line. Checks the runtime before anything is loaded: on an older
// Node the native SQLite module or the HTTP client would fail with an error that names
// neither kube-observer nor the fix.
const MIN_MAJOR = 26;

const major = Number(process.versions.node.split(".")[0]);
if (!(major >= MIN_MAJOR)) {
  process.stderr.write(
    `kube-observer: Node ${process.versions.node} is too old: it runs on Node ${MIN_MAJOR} (LTS).\n` +
      "In a checkout, `npm run ...` and `bash scripts/node/run.sh node dist/core/cli/main.js ...` use the project's own Node (scripts/node/).\n",
  );
  process.exit(1);
}

await import("./commands.js");

export {};
